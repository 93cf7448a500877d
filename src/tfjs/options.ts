// tfjs naming (learningRate, beta1, beta2, epsilon) on top of the core's option resolution: presets, defaults and
// ranges come from src/options.ts, so both paths accept exactly the same values and resolve them identically.
import { OptimizerConfigError } from '../errors';
import {
  ADAM_KEYS,
  type AdamOptions,
  assertKnownKeys,
  RADAM_KEYS,
  type RAdamOptions,
  type RAdamPreset,
  resolveAdamOptions,
  resolveRAdamOptions,
  resolveSgdOptions,
  SGD_KEYS,
  type SgdOptions,
  snapshotKeys,
} from '../options';
import type { AdaptiveHyperParameters, SgdHyperParameters } from '../step-scalars';

/** Options of `radam()`, in tfjs naming (`learningRate`, `beta1`, `beta2`, `epsilon`), plus the package's presets. */
export interface TfjsRAdamOptions {
  /**
   * On tfjs's webgpu backend: step with the fused kernel (true) or with tfjs ops like on every other backend
   * (false). @defaultValue true
   */
  fused?: boolean | undefined;
  /** Which reference implementation to match; explicit options override it. @defaultValue 'torch' */
  preset?: RAdamPreset | undefined;
  /** >= 0; can be changed between steps through `optimizer.learningRate`. @defaultValue 1e-3 */
  learningRate?: number | undefined;
  /** In [0, 1). @defaultValue 0.9 */
  beta1?: number | undefined;
  /** In [0, 1). @defaultValue 0.999 */
  beta2?: number | undefined;
  /** >= 0. @defaultValue 1e-8 (1e-7 for the `tfa` preset) */
  epsilon?: number | undefined;
  /** >= 0. @defaultValue 0 */
  weightDecay?: number | undefined;
  /** true: p *= 1 - lr*wd on updating steps (AdamW style); false: g += wd*p (L2). @defaultValue the preset's */
  decoupledWeightDecay?: boolean | undefined;
  /** Ascend the objective (the gradient is negated before anything else). @defaultValue false */
  maximize?: boolean | undefined;
  /** rho_t must pass this (>= 4) for the adaptive branch. @defaultValue 5 (4 for `paper`) */
  threshold?: number | undefined;
  /** @defaultValue '>' (torch, paper), '>=' (original, tfa, optax) */
  thresholdComparison?: '>' | '>=' | undefined;
  /** Where epsilon goes: sqrt(v) + eps ('uncorrected') or sqrt(v / (1 - beta2^t)) + eps. @defaultValue the preset's */
  epsMode?: 'uncorrected' | 'corrected' | undefined;
  /** Before the threshold: an SGD-momentum step (true) or no update (false). @defaultValue true */
  degeneratedToSgd?: boolean | undefined;
}

/** Options of `adam()` and `adamw()`, in tfjs naming; `adamw()` defaults `weightDecay` to 1e-2, decoupled. */
export interface TfjsAdamOptions {
  /**
   * On tfjs's webgpu backend: step with the fused kernel (true) or with tfjs ops like on every other backend
   * (false). @defaultValue true
   */
  fused?: boolean | undefined;
  /** @defaultValue 1e-3 */
  learningRate?: number | undefined;
  /** @defaultValue 0.9 */
  beta1?: number | undefined;
  /** @defaultValue 0.999 */
  beta2?: number | undefined;
  /** Added to the bias-corrected sqrt(v̂), as torch and tf.train.adam do. @defaultValue 1e-8 */
  epsilon?: number | undefined;
  /** L2 for Adam, decoupled for AdamW. @defaultValue 0 (Adam), 1e-2 (AdamW) */
  weightDecay?: number | undefined;
  /** @defaultValue false */
  maximize?: boolean | undefined;
}

/** Options of `sgd()`: torch's SGD with momentum, dampening, Nesterov and weight decay, in tfjs naming. */
export interface TfjsSgdOptions {
  /**
   * On tfjs's webgpu backend: step with the fused kernel (true) or with tfjs ops like on every other backend
   * (false). @defaultValue true
   */
  fused?: boolean | undefined;
  /** @defaultValue 1e-3 */
  learningRate?: number | undefined;
  /** @defaultValue 0 */
  momentum?: number | undefined;
  /** @defaultValue 0 */
  dampening?: number | undefined;
  /** Needs momentum > 0 and dampening 0, as in torch. @defaultValue false */
  nesterov?: boolean | undefined;
  /** L2, folded into the gradient. @defaultValue 0 */
  weightDecay?: number | undefined;
  /** @defaultValue false */
  maximize?: boolean | undefined;
}

// The core's option tables in tfjs naming: `lr`, `betas` and `eps` are renamed, every other option keeps its name
// and order, so an option added to a core table is accepted here too, unless it is listed as core-only below.
const TFJS_NAMES: Readonly<Record<string, readonly string[]>> = {
  lr: ['learningRate'],
  betas: ['beta1', 'beta2'],
  eps: ['epsilon'],
};

/** Core options the tfjs optimizers do not implement (their unfused path steps with tfjs ops). */
export const CORE_ONLY_KEYS: readonly string[] = ['amsgrad', 'lookahead'];

/** The core options a tfjs optimizer takes, in the core table's order. */
function sharedKeys(coreKeys: readonly string[]): string[] {
  return coreKeys.filter((key) => !CORE_ONLY_KEYS.includes(key));
}

function tfjsKeys(coreKeys: readonly string[]): string[] {
  return sharedKeys(coreKeys).flatMap((key) => TFJS_NAMES[key] ?? [key]);
}

// `fused` is tfjs-only: coreOptions copies only core keys, so it never reaches the core.
export const TFJS_RADAM_KEYS = ['fused', ...tfjsKeys(RADAM_KEYS)];
export const TFJS_ADAM_KEYS = ['fused', ...tfjsKeys(ADAM_KEYS)];
export const TFJS_SGD_KEYS = ['fused', ...tfjsKeys(SGD_KEYS)];

// The core's names, which torch users type out of habit, and what this API calls them.
const CORE_TO_TFJS: Readonly<Record<string, string>> = {
  lr: 'learningRate',
  'betas[0]': 'beta1',
  'betas[1]': 'beta2',
  betas: 'beta1 and beta2',
  eps: 'epsilon',
};

function tfjsNameHint(key: string): string | undefined {
  const tfjsName = CORE_TO_TFJS[key];
  return tfjsName === undefined ? undefined : `this is the tfjs API: use ${tfjsName}`;
}

/** The core validates under its own names; say the tfjs names the caller actually used. */
function inTfjsNames<T>(resolve: () => T): T {
  try {
    return resolve();
  } catch (error) {
    if (!(error instanceof OptimizerConfigError)) throw error;
    const field = CORE_TO_TFJS[error.field] ?? error.field;
    const message = error.message
      .replace(/betas\[0\]/g, 'beta1')
      .replace(/betas\[1\]/g, 'beta2')
      .replace(/\blr\b/g, 'learningRate')
      .replace(/\beps\b/g, 'epsilon');
    throw new OptimizerConfigError(field, message, { cause: error });
  }
}

function readOptions(options: unknown, keys: readonly string[], what: string): Record<string, unknown> {
  const given = options === undefined ? {} : options;
  assertKnownKeys(given, keys, what, '', tfjsNameHint);
  return snapshotKeys(given as Record<string, unknown>, keys, 'options');
}

/**
 * The core's options from tfjs-named ones. beta1 and beta2 are given one at a time, so each that is missing falls
 * back to `defaults` (the core's, for the preset in use). Only undefined means "not given": null is a wrong value
 * and must reach the core's range check.
 */
function coreOptions(
  o: Record<string, unknown>,
  coreKeys: readonly string[],
  defaults: { beta1: number; beta2: number },
): Record<string, unknown> {
  const core: Record<string, unknown> = {};
  for (const key of sharedKeys(coreKeys)) {
    core[key] =
      key === 'betas'
        ? [o.beta1 === undefined ? defaults.beta1 : o.beta1, o.beta2 === undefined ? defaults.beta2 : o.beta2]
        : o[TFJS_NAMES[key]?.[0] ?? key];
  }
  return core;
}

export function resolveTfjsRAdam(options: unknown): { hp: AdaptiveHyperParameters; preset: RAdamPreset } {
  const o = readOptions(options, TFJS_RADAM_KEYS, 'RAdam option');
  return inTfjsNames(() => {
    const preset = o.preset as RAdamPreset | undefined;
    const defaults = resolveRAdamOptions(preset === undefined ? {} : { preset });
    const hp = resolveRAdamOptions(coreOptions(o, RADAM_KEYS, defaults) as RAdamOptions);
    return { hp, preset: preset ?? 'torch' };
  });
}

export function resolveTfjsAdam(options: unknown, decoupled: boolean): AdaptiveHyperParameters {
  const o = readOptions(options, TFJS_ADAM_KEYS, decoupled ? 'AdamW option' : 'Adam option');
  return inTfjsNames(() => {
    const defaults = resolveAdamOptions({}, decoupled);
    return resolveAdamOptions(coreOptions(o, ADAM_KEYS, defaults) as AdamOptions, decoupled);
  });
}

export function resolveTfjsSgd(options: unknown): SgdHyperParameters {
  const o = readOptions(options, TFJS_SGD_KEYS, 'SGD option');
  // SGD has no betas: the defaults are never read.
  return inTfjsNames(() => resolveSgdOptions(coreOptions(o, SGD_KEYS, { beta1: 0, beta2: 0 }) as SgdOptions));
}

/** The `fused` option: true unless given as false; anything but a boolean or undefined is an error. */
export function resolveFused(options: unknown): boolean {
  const value =
    typeof options === 'object' && options !== null ? (options as { fused?: unknown }).fused : undefined;
  if (value !== undefined && typeof value !== 'boolean') {
    throw new OptimizerConfigError('fused', `Invalid fused: ${String(value)} (expected true or false)`);
  }
  return value !== false;
}
