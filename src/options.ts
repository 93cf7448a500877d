import { configAssert } from './errors';
import {
  betasFrom,
  flag,
  lookaheadFrom,
  nonNegative,
  oneOf,
  threshold,
  validateLearningRate,
} from './option-checks';
import { assertKnownKeys } from './option-keys';
import {
  type Computed,
  computed,
  type OptionRow,
  type OptionTable,
  optionNames,
  resolveTable,
} from './option-table';
import type { AdaptiveHyperParameters, SgdHyperParameters } from './step-scalars';

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

export {
  F32_MAX,
  F32_MIN_NORMAL,
  flag,
  isF32Finite,
  validateGradScale,
  validateLearningRate,
  validateMaxGradNorm,
} from './option-checks';
export { assertKnownKeys, guardedRead, nearestName, snapshotKeys } from './option-keys';

// The resolved "no Lookahead": k 0 never syncs. Only the row's default is this object; a caller's { k: 0 } is
// still an error.
const LOOKAHEAD_OFF: LookaheadOptions = Object.freeze({ k: 0, alpha: 0 });

// The option tables: see option-table.ts for the row format and how to add an option.

const learningRate: OptionRow<number> = {
  default: 1e-3,
  check: (value, field) => validateLearningRate(value, field),
  doc: 'Learning rate, >= 0; settable between steps (`optimizer.lr`, `paramGroups[i].lr`).',
};
const betas: OptionRow<readonly [number, number]> = {
  default: [0.9, 0.999],
  check: betasFrom,
  doc: 'Decay rates of the first and second moment, each in [0, 1).',
};
const maximize: OptionRow<boolean> = {
  default: false,
  check: flag,
  doc: 'Ascend the objective: the gradient is negated before anything else.',
};
const lookahead: OptionRow<LookaheadOptions> = {
  default: computed('off', () => LOOKAHEAD_OFF),
  check: (value, field) => (value === LOOKAHEAD_OFF ? LOOKAHEAD_OFF : lookaheadFrom(value, field)),
  doc: 'Lookahead `{ k, alpha }`: every k steps, slow += alpha * (param - slow), param = slow.',
};

function fromPreset<K extends keyof PresetFields>(
  name: K,
): Computed<PresetFields[K], { preset: RAdamPreset }> {
  return computed("the preset's", ({ preset }) => RADAM_PRESETS[preset][name]);
}

/** createRAdam's options. `preset` comes first: the defaults below it read the resolved preset. */
export const RADAM_OPTIONS: OptionTable<RAdamOptions, { preset: RAdamPreset }> = {
  preset: {
    default: 'torch',
    check: (value, field) => oneOf(value, Object.keys(RADAM_PRESETS) as RAdamPreset[], field),
    doc: 'Which reference implementation to match; explicit options override it.',
  },
  lr: learningRate,
  betas,
  eps: { default: fromPreset('eps'), check: nonNegative, doc: 'Added to the denominator, >= 0.' },
  weightDecay: { default: 0, check: nonNegative, doc: 'Weight decay, >= 0: L2 or decoupled.' },
  decoupledWeightDecay: {
    default: fromPreset('decoupledWeightDecay'),
    check: flag,
    doc: 'true: p *= 1 - lr*wd on updating steps (AdamW style); false: g += wd*p (L2).',
  },
  maximize,
  threshold: {
    default: fromPreset('threshold'),
    check: threshold,
    doc: 'rho_t must pass this (>= 4) to go adaptive.',
  },
  thresholdComparison: {
    default: fromPreset('thresholdComparison'),
    check: (value, field) => oneOf(value, ['>', '>='] as const, field),
    doc: "How rho_t is compared with the threshold: '>' or '>='.",
  },
  epsMode: {
    default: fromPreset('epsMode'),
    check: (value, field) => oneOf(value, ['uncorrected', 'corrected'] as const, field),
    doc: "Where eps goes: sqrt(v) + eps ('uncorrected') or sqrt(v / bc2) + eps ('corrected').",
  },
  degeneratedToSgd: {
    default: fromPreset('degeneratedToSgd'),
    check: flag,
    doc: 'Before the threshold: an SGD-momentum step (true) or no update (false).',
  },
  lookahead,
};

/** createAdam's options (torch.optim.Adam). */
export const ADAM_OPTIONS: OptionTable<AdamOptions> = {
  lr: learningRate,
  betas,
  eps: { default: 1e-8, check: nonNegative, doc: 'Added to the bias-corrected sqrt(v), >= 0.' },
  weightDecay: { default: 0, check: nonNegative, doc: 'L2 weight decay, >= 0, folded into the gradient.' },
  maximize,
  amsgrad: {
    default: false,
    check: flag,
    doc: "torch's AMSGrad: divide by the running max of v; the same in every param group.",
  },
  lookahead,
};

/** createAdamW's options (torch.optim.AdamW): Adam's, with decoupled weight decay defaulting to 1e-2. */
export const ADAMW_OPTIONS: OptionTable<AdamOptions> = {
  ...ADAM_OPTIONS,
  weightDecay: { default: 1e-2, check: nonNegative, doc: 'Decoupled weight decay, >= 0: p *= 1 - lr*wd.' },
};

/** createSGD's options (torch.optim.SGD). */
export const SGD_OPTIONS: OptionTable<SgdOptions> = {
  lr: learningRate,
  momentum: { default: 0, check: nonNegative, doc: 'Momentum factor, >= 0.' },
  dampening: { default: 0, check: nonNegative, doc: 'Dampening for momentum, >= 0.' },
  nesterov: { default: false, check: flag, doc: 'Nesterov momentum; needs momentum > 0 and dampening 0.' },
  weightDecay: { default: 0, check: nonNegative, doc: 'L2 weight decay, >= 0, folded into the gradient.' },
  maximize,
  lookahead,
};

/** Ranger 9.3.19's defaults, and RAdam's torch preset with decoupled decay underneath. */
export const RANGER_DEFAULTS = {
  lr: 1e-3,
  betas: [0.95, 0.999],
  eps: 1e-5,
  weightDecay: 0,
  lookahead: { k: 6, alpha: 0.5 },
} as const;

/** createRanger's options: RAdam's torch preset with decoupled weight decay, inside Lookahead. */
export const RANGER_OPTIONS: OptionTable<RangerOptions> = {
  lr: learningRate,
  betas: { ...betas, default: RANGER_DEFAULTS.betas },
  eps: { default: RANGER_DEFAULTS.eps, check: nonNegative, doc: 'Added to the uncorrected sqrt(v), >= 0.' },
  weightDecay: {
    default: RANGER_DEFAULTS.weightDecay,
    check: nonNegative,
    doc: 'Decoupled weight decay, >= 0: p *= 1 - lr*wd on every step, before the update.',
  },
  maximize,
  lookahead: { ...lookahead, default: RANGER_DEFAULTS.lookahead },
};

export const RADAM_KEYS = optionNames(RADAM_OPTIONS);
export const ADAM_KEYS = optionNames(ADAM_OPTIONS);
export const SGD_KEYS = optionNames(SGD_OPTIONS);
export const RANGER_KEYS = optionNames(RANGER_OPTIONS);

export function resolveRAdamOptions(options: RAdamOptions = {}): AdaptiveHyperParameters {
  assertKnownKeys(options, RADAM_KEYS, 'RAdam option');
  const {
    preset: _preset,
    lr,
    betas: [beta1, beta2],
    lookahead: { k, alpha },
    ...rest
  } = resolveTable(RADAM_OPTIONS, options);
  const hp: AdaptiveHyperParameters = {
    lr,
    beta1,
    beta2,
    ...rest,
    amsgrad: false,
    lookaheadK: k,
    lookaheadAlpha: alpha,
    kind: 'rectified',
  };
  validateLearningRate(hp.lr, 'lr', hp);
  return hp;
}

export function resolveAdamOptions(options: AdamOptions = {}, decoupled: boolean): AdaptiveHyperParameters {
  assertKnownKeys(options, ADAM_KEYS, decoupled ? 'AdamW option' : 'Adam option');
  const o = resolveTable(decoupled ? ADAMW_OPTIONS : ADAM_OPTIONS, options);
  const hp: AdaptiveHyperParameters = {
    lr: o.lr,
    beta1: o.betas[0],
    beta2: o.betas[1],
    eps: o.eps,
    weightDecay: o.weightDecay,
    decoupledWeightDecay: decoupled,
    maximize: o.maximize,
    // Adam has no rectification: these only keep the shared struct whole (the 'adaptive' kind ignores them).
    threshold: 5,
    thresholdComparison: '>',
    epsMode: 'corrected',
    degeneratedToSgd: true,
    amsgrad: o.amsgrad,
    lookaheadK: o.lookahead.k,
    lookaheadAlpha: o.lookahead.alpha,
    kind: 'adaptive',
  };
  validateLearningRate(hp.lr, 'lr', hp);
  return hp;
}

export function resolveSgdOptions(options: SgdOptions = {}): SgdHyperParameters {
  assertKnownKeys(options, SGD_KEYS, 'SGD option');
  const {
    lookahead: { k, alpha },
    ...hp
  } = resolveTable(SGD_OPTIONS, options);
  configAssert(
    !hp.nesterov || (hp.momentum > 0 && hp.dampening === 0),
    'nesterov',
    () =>
      `Invalid nesterov: true with momentum ${hp.momentum} and dampening ${hp.dampening} (needs momentum > 0 and dampening 0)`,
  );
  return { kind: 'sgd', ...hp, lookaheadK: k, lookaheadAlpha: alpha };
}

export function resolveRangerOptions(options: RangerOptions = {}): AdaptiveHyperParameters {
  assertKnownKeys(options, RANGER_KEYS, 'Ranger option');
  return resolveRAdamOptions({
    preset: 'torch',
    ...resolveTable(RANGER_OPTIONS, options),
    decoupledWeightDecay: true,
  });
}
