import { configAssert, describeValue } from './errors';
import type { ExecutionOptions } from './optimizer';
import { assertKnownKeys, snapshotKeys } from './option-keys';
import {
  type AdaptiveHyperParameters,
  type GroupHyperParameters,
  type LookaheadFields,
  MAX_STEP_COUNT,
  type SgdHyperParameters,
} from './step-scalars';

/**
 * Which reference implementation's RAdam semantics to follow. Explicit options override the preset.
 *
 * | preset     | adaptive when | eps added to      | before threshold          | weight decay               | eps  |
 * |------------|---------------|-------------------|---------------------------|----------------------------|------|
 * | `torch`    | rho_t > 5     | sqrt(v)           | SGD-momentum              | L2 (decoupled: opt-in)     | 1e-8 |
 * | `paper`    | rho_t > 4     | sqrt(v)           | SGD-momentum              | L2 (decoupled: opt-in)     | 1e-8 |
 * | `original` | rho_t >= 5    | sqrt(v)           | SGD-momentum (or nothing) | decoupled, on update steps | 1e-8 |
 * | `tfa`      | rho_t >= 5    | sqrt(v / bc2)     | SGD-momentum              | decoupled                  | 1e-7 |
 * | `optax`    | rho_t >= 5    | sqrt(v / bc2)     | SGD-momentum              | decoupled                  | 1e-8 |
 */
export type RAdamPreset = 'torch' | 'paper' | 'original' | 'tfa' | 'optax';

/** Options of `createRAdam`: hyper-parameters, the reference preset and its overrides. */
export interface RAdamOptions {
  /** Which reference to match. @defaultValue 'torch' */
  preset?: RAdamPreset | undefined;
  /** Learning rate, >= 0. Can be changed between steps through `optimizer.lr`. @defaultValue 1e-3 */
  lr?: number | undefined;
  /** [beta1, beta2], each in [0, 1). @defaultValue [0.9, 0.999] */
  betas?: readonly [number, number] | undefined;
  /** Added to the denominator, >= 0. @defaultValue 1e-8 (1e-7 for the `tfa` preset) */
  eps?: number | undefined;
  /** >= 0. @defaultValue 0 */
  weightDecay?: number | undefined;
  /** true: p *= 1 - lr*wd on each updating step (AdamW style); false: g += wd*p (L2). @defaultValue preset's */
  decoupledWeightDecay?: boolean | undefined;
  /** Ascend the objective instead (g = -g before anything else). @defaultValue false */
  maximize?: boolean | undefined;
  /** rho_t must pass this (>= 4) for the adaptive branch. @defaultValue 5 (4 for `paper`) */
  threshold?: number | undefined;
  /** How rho_t is compared with the threshold. @defaultValue '>' (torch, paper), '>=' (original, tfa, optax) */
  thresholdComparison?: '>' | '>=' | undefined;
  /** Where eps goes: 'uncorrected' sqrt(v) + eps, or 'corrected' sqrt(v / bc2) + eps. @defaultValue preset's */
  epsMode?: 'uncorrected' | 'corrected' | undefined;
  /** Before the threshold: SGD-momentum step (true) or no update at all (false). @defaultValue true */
  degeneratedToSgd?: boolean | undefined;
  /** Wrap the step in Lookahead (see {@link LookaheadOptions}). @defaultValue off */
  lookahead?: LookaheadOptions | undefined;
}

/**
 * Lookahead (Zhang et al. 2019, arXiv 1907.08610), fused into the step: slow weights start as the params the
 * tensor's first step sees; after every step whose per-tensor count is a multiple of `k`,
 * slow += alpha * (param - slow) and param = slow. The inner optimizer's moments are never reset. Skipped and
 * inactive steps do not count toward k.
 */
export interface LookaheadOptions {
  /** Sync period, an integer >= 1. */
  k: number;
  /** Slow-weight step size, 0 < alpha <= 1. */
  alpha: number;
}

/** Options of `createAdam` and `createAdamW` (torch.optim.Adam / AdamW semantics). */
export interface AdamOptions {
  /** @defaultValue 1e-3 */
  lr?: number | undefined;
  /** @defaultValue [0.9, 0.999] */
  betas?: readonly [number, number] | undefined;
  /** Added to the bias-corrected sqrt(v̂), as torch.optim.Adam does. @defaultValue 1e-8 */
  eps?: number | undefined;
  /** L2 for Adam, decoupled for AdamW. @defaultValue 0 (Adam), 1e-2 (AdamW) */
  weightDecay?: number | undefined;
  /** @defaultValue false */
  maximize?: boolean | undefined;
  /**
   * torch's AMSGrad: the denominator uses max_exp_avg_sq = max(max_exp_avg_sq, v) (uncorrected v, after its
   * update). One more state buffer, read and written in the same pass. The same in every param group.
   * @defaultValue false
   */
  amsgrad?: boolean | undefined;
  /** Wrap the step in Lookahead (see {@link LookaheadOptions}). @defaultValue off */
  lookahead?: LookaheadOptions | undefined;
}

/** Options of `createSGD` (torch.optim.SGD semantics). */
export interface SgdOptions {
  /** @defaultValue 1e-3 */
  lr?: number | undefined;
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
  /** Wrap the step in Lookahead (see {@link LookaheadOptions}). @defaultValue off */
  lookahead?: LookaheadOptions | undefined;
}

/**
 * Options of `createRanger`: lessw2020's Ranger 9.3.19, which is RAdam (torch semantics: rho_t > 5, eps on the
 * uncorrected sqrt(v), an SGD-momentum step below the threshold) with decoupled weight decay, inside Lookahead.
 */
export interface RangerOptions {
  /** @defaultValue 1e-3 */
  lr?: number | undefined;
  /** @defaultValue [0.95, 0.999] */
  betas?: readonly [number, number] | undefined;
  /** Added to the uncorrected sqrt(v). @defaultValue 1e-5 */
  eps?: number | undefined;
  /** Decoupled: p -= lr * wd * p on every step, before the update. @defaultValue 0 */
  weightDecay?: number | undefined;
  /** @defaultValue false */
  maximize?: boolean | undefined;
  /** @defaultValue { k: 6, alpha: 0.5 } */
  lookahead?: LookaheadOptions | undefined;
}

type PresetFields = Pick<
  AdaptiveHyperParameters,
  'threshold' | 'thresholdComparison' | 'epsMode' | 'degeneratedToSgd' | 'decoupledWeightDecay' | 'eps'
>;

/** What each RAdam preset sets (see `RAdamPreset`); explicit options override these. */
export const RADAM_PRESETS: Readonly<Record<RAdamPreset, Readonly<PresetFields>>> = {
  torch: {
    threshold: 5,
    thresholdComparison: '>',
    epsMode: 'uncorrected',
    degeneratedToSgd: true,
    decoupledWeightDecay: false,
    eps: 1e-8,
  },
  paper: {
    threshold: 4,
    thresholdComparison: '>',
    epsMode: 'uncorrected',
    degeneratedToSgd: true,
    decoupledWeightDecay: false,
    eps: 1e-8,
  },
  original: {
    threshold: 5,
    thresholdComparison: '>=',
    epsMode: 'uncorrected',
    degeneratedToSgd: true,
    decoupledWeightDecay: true,
    eps: 1e-8,
  },
  tfa: {
    threshold: 5,
    thresholdComparison: '>=',
    epsMode: 'corrected',
    degeneratedToSgd: true,
    decoupledWeightDecay: true,
    eps: 1e-7,
  },
  optax: {
    threshold: 5,
    thresholdComparison: '>=',
    epsMode: 'corrected',
    degeneratedToSgd: true,
    decoupledWeightDecay: true,
    eps: 1e-8,
  },
};

/** Only `undefined` means "use the default": an explicit null is a wrong value, not a missing one. */
function orDefault<T>(value: T | undefined, fallback: T): T {
  return value === undefined ? fallback : value;
}

const describe = describeValue;

/** Largest finite f32. Every hyper-parameter reaches the GPU as an f32, so a float64 value above it is Infinity there. */
export const F32_MAX = 3.4028234663852886e38;
/** Smallest normal f32 (2^-126); GPUs may flush anything smaller to zero. */
export const F32_MIN_NORMAL = 2 ** -126;
const F32_RANGE = 'at most 3.4028235e38, the largest f32';

/** What the GPU receives is Math.fround(value): finite in float64 is not enough. */
export function isF32Finite(value: number): boolean {
  return Number.isFinite(Math.fround(value));
}

export { assertKnownKeys, guardedRead, nearestName, snapshotKeys } from './option-keys';

/**
 * The learning rate as the GPU sees it: a finite f32 >= 0. With decoupled weight decay the GPU also forms
 * lr * weightDecay (per step), so that product must be a finite f32 too.
 */
export function validateLearningRate(lr: unknown, field = 'lr', hp?: GroupHyperParameters): number {
  configAssert(
    typeof lr === 'number' && lr >= 0 && isF32Finite(lr),
    field,
    () => `Invalid ${field}: ${describe(lr)} (expected a finite number >= 0, ${F32_RANGE})`,
  );
  if (hp !== undefined && hp.kind !== 'sgd' && hp.decoupledWeightDecay) {
    const product = Math.fround(lr) * Math.fround(hp.weightDecay);
    configAssert(
      isF32Finite(product),
      field,
      () =>
        `Invalid ${field}: ${describe(lr)} (lr * weightDecay = ${product} must be ${F32_RANGE}, ` +
        `as the GPU computes 1 - lr * weightDecay in f32; weightDecay is ${hp.weightDecay})`,
    );
  }
  return lr === 0 ? 0 : lr;
}

function nonNegative(value: unknown, field: string): number {
  configAssert(
    typeof value === 'number' && value >= 0 && isF32Finite(value),
    field,
    () => `Invalid ${field}: ${describe(value)} (expected a finite number >= 0, ${F32_RANGE})`,
  );
  return value === 0 ? 0 : value;
}

/**
 * The loss scale reaches the GPU as the f32 1 / gradScale; a reciprocal that is Infinity, zero or subnormal
 * (which GPUs may flush to zero) would corrupt every gradient, so both must be normal f32 numbers.
 */
export function validateGradScale(value: unknown, field = 'gradScale'): number {
  configAssert(
    typeof value === 'number' && value >= F32_MIN_NORMAL && value <= 2 ** 126,
    field,
    () =>
      `Invalid ${field}: ${describe(value)} (expected a number in [2^-126, 2^126], about [1.2e-38, 8.5e37], ` +
      'so that it and 1 / gradScale are normal f32 numbers)',
  );
  return value;
}

/** 0 turns clipping off; anything else reaches the GPU as an f32 that must stay normal and finite. */
export function validateMaxGradNorm(value: unknown, field = 'maxGradNorm'): number {
  configAssert(
    typeof value === 'number' && (value === 0 || (value >= F32_MIN_NORMAL && isF32Finite(value))),
    field,
    () =>
      `Invalid ${field}: ${describe(value)} (expected 0, which turns clipping off, or a number in ` +
      `[2^-126, 3.4028235e38], the normal f32 range)`,
  );
  return value === 0 ? 0 : value;
}

function unitInterval(value: unknown, field: string): number {
  configAssert(
    typeof value === 'number' && value >= 0 && value < 1,
    field,
    () => `Invalid ${field}: ${describe(value)} (expected 0 <= ${field} < 1)`,
  );
  return value === 0 ? 0 : value;
}

function flag(value: unknown, field: string): boolean {
  configAssert(
    typeof value === 'boolean',
    field,
    () => `Invalid ${field}: ${describe(value)} (expected true or false)`,
  );
  return value;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  configAssert(
    allowed.includes(value as T),
    field,
    () => `Invalid ${field}: ${describe(value)} (expected one of ${allowed.map(describe).join(', ')})`,
  );
  return value as T;
}

function betasFrom(value: unknown): [number, number] {
  configAssert(
    Array.isArray(value) && value.length === 2,
    'betas',
    () => `Invalid betas: ${describe(value)} (expected [beta1, beta2], each in [0, 1))`,
  );
  return [unitInterval(value[0], 'betas[0]'), unitInterval(value[1], 'betas[1]')];
}

export const RADAM_KEYS = [
  'preset',
  'lr',
  'betas',
  'eps',
  'weightDecay',
  'decoupledWeightDecay',
  'maximize',
  'threshold',
  'thresholdComparison',
  'epsMode',
  'degeneratedToSgd',
  'lookahead',
] as const;

export function resolveRAdamOptions(options: RAdamOptions = {}): AdaptiveHyperParameters {
  assertKnownKeys(options, RADAM_KEYS, 'RAdam option');
  const presetName = oneOf(
    orDefault(options.preset, 'torch'),
    Object.keys(RADAM_PRESETS) as RAdamPreset[],
    'preset',
  );
  const preset = RADAM_PRESETS[presetName];
  const [beta1, beta2] = betasFrom(orDefault(options.betas, [0.9, 0.999]));
  const threshold = orDefault(options.threshold, preset.threshold);
  configAssert(
    typeof threshold === 'number' && Number.isFinite(threshold) && threshold >= 4,
    'threshold',
    () =>
      `Invalid threshold: ${describe(threshold)} (expected a finite number >= 4: the rectification term is undefined for rho_t < 4)`,
  );
  const hp: AdaptiveHyperParameters = {
    lr: validateLearningRate(orDefault(options.lr, 1e-3)),
    beta1,
    beta2,
    eps: nonNegative(orDefault(options.eps, preset.eps), 'eps'),
    weightDecay: nonNegative(orDefault(options.weightDecay, 0), 'weightDecay'),
    decoupledWeightDecay: flag(
      orDefault(options.decoupledWeightDecay, preset.decoupledWeightDecay),
      'decoupledWeightDecay',
    ),
    maximize: flag(orDefault(options.maximize, false), 'maximize'),
    threshold,
    thresholdComparison: oneOf(
      orDefault(options.thresholdComparison, preset.thresholdComparison),
      ['>', '>='] as const,
      'thresholdComparison',
    ),
    epsMode: oneOf(
      orDefault(options.epsMode, preset.epsMode),
      ['uncorrected', 'corrected'] as const,
      'epsMode',
    ),
    degeneratedToSgd: flag(orDefault(options.degeneratedToSgd, preset.degeneratedToSgd), 'degeneratedToSgd'),
    amsgrad: false,
    ...resolveLookahead(options.lookahead),
    kind: 'rectified',
  };
  validateLearningRate(hp.lr, 'lr', hp);
  return hp;
}

export const ADAM_KEYS = ['lr', 'betas', 'eps', 'weightDecay', 'maximize', 'amsgrad', 'lookahead'] as const;

export function resolveAdamOptions(options: AdamOptions = {}, decoupled: boolean): AdaptiveHyperParameters {
  assertKnownKeys(options, ADAM_KEYS, decoupled ? 'AdamW option' : 'Adam option');
  const [beta1, beta2] = betasFrom(orDefault(options.betas, [0.9, 0.999]));
  const hp: AdaptiveHyperParameters = {
    lr: validateLearningRate(orDefault(options.lr, 1e-3)),
    beta1,
    beta2,
    eps: nonNegative(orDefault(options.eps, 1e-8), 'eps'),
    weightDecay: nonNegative(orDefault(options.weightDecay, decoupled ? 1e-2 : 0), 'weightDecay'),
    decoupledWeightDecay: decoupled,
    maximize: flag(orDefault(options.maximize, false), 'maximize'),
    threshold: 5,
    thresholdComparison: '>',
    epsMode: 'corrected',
    degeneratedToSgd: true,
    amsgrad: flag(orDefault(options.amsgrad, false), 'amsgrad'),
    ...resolveLookahead(options.lookahead),
    kind: 'adaptive',
  };
  validateLearningRate(hp.lr, 'lr', hp);
  return hp;
}

export const SGD_KEYS = [
  'lr',
  'momentum',
  'dampening',
  'nesterov',
  'weightDecay',
  'maximize',
  'lookahead',
] as const;

export function resolveSgdOptions(options: SgdOptions = {}): SgdHyperParameters {
  assertKnownKeys(options, SGD_KEYS, 'SGD option');
  const momentum = nonNegative(orDefault(options.momentum, 0), 'momentum');
  const dampening = nonNegative(orDefault(options.dampening, 0), 'dampening');
  const nesterov = flag(orDefault(options.nesterov, false), 'nesterov');
  configAssert(
    !nesterov || (momentum > 0 && dampening === 0),
    'nesterov',
    () =>
      `Invalid nesterov: true with momentum ${momentum} and dampening ${dampening} (needs momentum > 0 and dampening 0)`,
  );
  return {
    kind: 'sgd',
    lr: validateLearningRate(orDefault(options.lr, 1e-3)),
    momentum,
    dampening,
    nesterov,
    weightDecay: nonNegative(orDefault(options.weightDecay, 0), 'weightDecay'),
    maximize: flag(orDefault(options.maximize, false), 'maximize'),
    ...resolveLookahead(options.lookahead),
  };
}

const LOOKAHEAD_KEYS = ['k', 'alpha'] as const;

/**
 * `lookahead: { k, alpha }` as the GPU takes it: k an integer in 1..MAX_STEP_COUNT (the per-tensor count is a
 * u32), alpha in (0, 1] and a normal f32 (the kernel reads alpha 0 as "no sync this step").
 */
export function resolveLookahead(value: unknown): Pick<LookaheadFields, 'lookaheadK' | 'lookaheadAlpha'> {
  if (value === undefined) return { lookaheadK: 0, lookaheadAlpha: 0 };
  assertKnownKeys(value, LOOKAHEAD_KEYS, 'lookahead option', 'lookahead');
  const { k, alpha } = snapshotKeys(value as LookaheadOptions, LOOKAHEAD_KEYS, 'lookahead');
  configAssert(
    typeof k === 'number' && Number.isInteger(k) && k >= 1 && k <= MAX_STEP_COUNT,
    'lookahead.k',
    () => `Invalid lookahead.k: ${describe(k)} (expected an integer in 1..${MAX_STEP_COUNT})`,
  );
  configAssert(
    typeof alpha === 'number' && alpha >= F32_MIN_NORMAL && alpha <= 1,
    'lookahead.alpha',
    () =>
      `Invalid lookahead.alpha: ${describe(alpha)} (expected 0 < alpha <= 1, at least 2^-126 so it stays a normal f32)`,
  );
  return { lookaheadK: k, lookaheadAlpha: alpha };
}

export const RANGER_KEYS = ['lr', 'betas', 'eps', 'weightDecay', 'maximize', 'lookahead'] as const;

/** Ranger 9.3.19's defaults, and RAdam's torch preset with decoupled decay underneath. */
export const RANGER_DEFAULTS = {
  lr: 1e-3,
  betas: [0.95, 0.999],
  eps: 1e-5,
  weightDecay: 0,
  lookahead: { k: 6, alpha: 0.5 },
} as const;

export function resolveRangerOptions(options: RangerOptions = {}): AdaptiveHyperParameters {
  assertKnownKeys(options, RANGER_KEYS, 'Ranger option');
  return resolveRAdamOptions({
    preset: 'torch',
    lr: orDefault(options.lr, RANGER_DEFAULTS.lr),
    betas: orDefault(options.betas, RANGER_DEFAULTS.betas),
    eps: orDefault(options.eps, RANGER_DEFAULTS.eps),
    weightDecay: orDefault(options.weightDecay, RANGER_DEFAULTS.weightDecay),
    decoupledWeightDecay: true,
    maximize: orDefault(options.maximize, false),
    lookahead: orDefault(options.lookahead, RANGER_DEFAULTS.lookahead),
  });
}

const EXECUTION_KEYS = [
  'workgroupSize',
  'maxPendingSteps',
  'maxBindingBytes',
  'stepTableLength',
  'scheduleTableLength',
  'vectorize',
  'soloElements',
  'soloDispatches',
  'roundStateToNearest',
] as const;

/**
 * A plain copy of the execution options with unknown names and wrong types rejected; the ranges that depend on
 * the device's limits are checked at creation.
 */
export function checkExecutionOptions(execution: unknown): ExecutionOptions {
  if (execution === undefined) return {};
  assertKnownKeys(execution, EXECUTION_KEYS, 'option', 'execution');
  const copy = snapshotKeys(execution as ExecutionOptions, EXECUTION_KEYS, 'execution');
  for (const key of [
    'workgroupSize',
    'maxPendingSteps',
    'maxBindingBytes',
    'stepTableLength',
    'scheduleTableLength',
  ] as const) {
    const value = copy[key];
    configAssert(
      value === undefined || typeof value === 'number',
      key,
      () => `Invalid ${key}: ${describe(value)} (expected an integer)`,
    );
  }
  if (copy.vectorize !== undefined) flag(copy.vectorize, 'vectorize');
  if (copy.roundStateToNearest !== undefined) flag(copy.roundStateToNearest, 'roundStateToNearest');
  for (const key of ['soloElements', 'soloDispatches'] as const) {
    const value = copy[key];
    configAssert(
      value === undefined || (typeof value === 'number' && Number.isInteger(value) && value >= 0),
      key,
      () => `Invalid ${key}: ${describe(value)} (expected an integer >= 0)`,
    );
  }
  return copy;
}
