// tfjs naming (learningRate, beta1, beta2, epsilon) on top of the core's option resolution: presets, defaults and
// ranges come from src/options.ts, so both paths accept exactly the same values and resolve them identically.
import { OptimizerConfigError } from '../errors';
import {
  assertKnownKeys,
  type RAdamPreset,
  resolveAdamOptions,
  resolveRAdamOptions,
  resolveSgdOptions,
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

export const TFJS_RADAM_KEYS = [
  'fused',
  'preset',
  'learningRate',
  'beta1',
  'beta2',
  'epsilon',
  'weightDecay',
  'decoupledWeightDecay',
  'maximize',
  'threshold',
  'thresholdComparison',
  'epsMode',
  'degeneratedToSgd',
] as const;
export const TFJS_ADAM_KEYS = [
  'fused',
  'learningRate',
  'beta1',
  'beta2',
  'epsilon',
  'weightDecay',
  'maximize',
] as const;
export const TFJS_SGD_KEYS = [
  'fused',
  'learningRate',
  'momentum',
  'dampening',
  'nesterov',
  'weightDecay',
  'maximize',
] as const;

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

function readOptions<K extends string>(
  options: unknown,
  keys: readonly K[],
  what: string,
): Partial<Record<K, unknown>> {
  const given = options === undefined ? {} : options;
  assertKnownKeys(given, keys, what, '', tfjsNameHint);
  return snapshotKeys(given as Record<K, unknown>, keys, 'options');
}

/** The first moment's and second moment's decay rates, each falling back to the core's default. */
function betasFrom(
  beta1: unknown,
  beta2: unknown,
  defaults: { beta1: number; beta2: number },
): [number, number] {
  // Only undefined means "not given": null is a wrong value and must reach the core's range check.
  return [
    (beta1 === undefined ? defaults.beta1 : beta1) as number,
    (beta2 === undefined ? defaults.beta2 : beta2) as number,
  ];
}

export function resolveTfjsRAdam(options: unknown): { hp: AdaptiveHyperParameters; preset: RAdamPreset } {
  const o = readOptions(options, TFJS_RADAM_KEYS, 'RAdam option');
  return inTfjsNames(() => {
    const preset = o.preset as RAdamPreset | undefined;
    const defaults = resolveRAdamOptions(preset === undefined ? {} : { preset });
    const hp = resolveRAdamOptions({
      preset,
      lr: o.learningRate as number | undefined,
      betas: betasFrom(o.beta1, o.beta2, defaults),
      eps: o.epsilon as number | undefined,
      weightDecay: o.weightDecay as number | undefined,
      decoupledWeightDecay: o.decoupledWeightDecay as boolean | undefined,
      maximize: o.maximize as boolean | undefined,
      threshold: o.threshold as number | undefined,
      thresholdComparison: o.thresholdComparison as '>' | '>=' | undefined,
      epsMode: o.epsMode as 'uncorrected' | 'corrected' | undefined,
      degeneratedToSgd: o.degeneratedToSgd as boolean | undefined,
    });
    return { hp, preset: preset ?? 'torch' };
  });
}

export function resolveTfjsAdam(options: unknown, decoupled: boolean): AdaptiveHyperParameters {
  const o = readOptions(options, TFJS_ADAM_KEYS, decoupled ? 'AdamW option' : 'Adam option');
  return inTfjsNames(() => {
    const defaults = resolveAdamOptions({}, decoupled);
    return resolveAdamOptions(
      {
        lr: o.learningRate as number | undefined,
        betas: betasFrom(o.beta1, o.beta2, defaults),
        eps: o.epsilon as number | undefined,
        weightDecay: o.weightDecay as number | undefined,
        maximize: o.maximize as boolean | undefined,
      },
      decoupled,
    );
  });
}

export function resolveTfjsSgd(options: unknown): SgdHyperParameters {
  const o = readOptions(options, TFJS_SGD_KEYS, 'SGD option');
  return inTfjsNames(() =>
    resolveSgdOptions({
      lr: o.learningRate as number | undefined,
      momentum: o.momentum as number | undefined,
      dampening: o.dampening as number | undefined,
      nesterov: o.nesterov as boolean | undefined,
      weightDecay: o.weightDecay as number | undefined,
      maximize: o.maximize as boolean | undefined,
    }),
  );
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
