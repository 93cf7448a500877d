import { configAssert } from './errors';
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
  preset?: RAdamPreset;
  /** Learning rate, >= 0. Can be changed between steps through `optimizer.lr`. @defaultValue 1e-3 */
  lr?: number;
  /** [beta1, beta2], each in [0, 1). @defaultValue [0.9, 0.999] */
  betas?: readonly [number, number];
  /** Added to the denominator, >= 0. @defaultValue 1e-8 (1e-7 for the `tfa` preset) */
  eps?: number;
  /** >= 0. @defaultValue 0 */
  weightDecay?: number;
  /** true: p *= 1 - lr*wd on each updating step (AdamW style); false: g += wd*p (L2). @defaultValue preset's */
  decoupledWeightDecay?: boolean;
  /** Ascend the objective instead (g = -g before anything else). @defaultValue false */
  maximize?: boolean;
  /** rho_t must pass this (>= 4) for the adaptive branch. @defaultValue 5 (4 for `paper`) */
  threshold?: number;
  /** How rho_t is compared with the threshold. @defaultValue '>' (torch, paper), '>=' (original, tfa, optax) */
  thresholdComparison?: '>' | '>=';
  /** Where eps goes: 'uncorrected' sqrt(v) + eps, or 'corrected' sqrt(v / bc2) + eps. @defaultValue preset's */
  epsMode?: 'uncorrected' | 'corrected';
  /** Before the threshold: SGD-momentum step (true) or no update at all (false). @defaultValue true */
  degeneratedToSgd?: boolean;
}

/** Options of `createAdam` and `createAdamW` (torch.optim.Adam / AdamW semantics). */
export interface AdamOptions {
  /** @defaultValue 1e-3 */
  lr?: number;
  /** @defaultValue [0.9, 0.999] */
  betas?: readonly [number, number];
  /** Added to the bias-corrected sqrt(v̂), as torch.optim.Adam does. @defaultValue 1e-8 */
  eps?: number;
  /** L2 for Adam, decoupled for AdamW. @defaultValue 0 (Adam), 1e-2 (AdamW) */
  weightDecay?: number;
  /** @defaultValue false */
  maximize?: boolean;
}

/** Options of `createSGD` (torch.optim.SGD semantics). */
export interface SgdOptions {
  /** @defaultValue 1e-3 */
  lr?: number;
  /** @defaultValue 0 */
  momentum?: number;
  /** @defaultValue 0 */
  dampening?: number;
  /** Needs momentum > 0 and dampening 0, as in torch. @defaultValue false */
  nesterov?: boolean;
  /** L2, folded into the gradient. @defaultValue 0 */
  weightDecay?: number;
  /** @defaultValue false */
  maximize?: boolean;
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

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(describe).join(', ')}]`;
  return String(value);
}

/** Rejects option names the optimizer does not know: most are typos (`weight_decay`, `beta1`, `lR`). */
function assertKnownKeys(options: object, known: readonly string[], what: string): void {
  configAssert(
    typeof options === 'object' && options !== null && !Array.isArray(options),
    'options',
    () => `Invalid ${what} options: ${describe(options)} (expected an object)`,
  );
  for (const key of Object.keys(options)) {
    configAssert(
      known.includes(key),
      key,
      () => `Unknown ${what} option "${key}" (known options: ${known.join(', ')})`,
    );
  }
}

export function validateLearningRate(lr: unknown, field = 'lr'): number {
  configAssert(
    typeof lr === 'number' && Number.isFinite(lr) && lr >= 0,
    field,
    () => `Invalid ${field}: ${describe(lr)} (expected a finite number >= 0)`,
  );
  return lr;
}

function nonNegative(value: unknown, field: string): number {
  configAssert(
    typeof value === 'number' && Number.isFinite(value) && value >= 0,
    field,
    () => `Invalid ${field}: ${describe(value)} (expected a finite number >= 0)`,
  );
  return value;
}

function unitInterval(value: unknown, field: string): number {
  configAssert(
    typeof value === 'number' && value >= 0 && value < 1,
    field,
    () => `Invalid ${field}: ${describe(value)} (expected 0 <= ${field} < 1)`,
  );
  return value;
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

const RADAM_KEYS = [
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
] as const;

export function resolveRAdamOptions(options: RAdamOptions = {}): AdaptiveHyperParameters {
  assertKnownKeys(options, RADAM_KEYS, 'RAdam');
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
  return {
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
    kind: 'rectified',
  };
}

const ADAM_KEYS = ['lr', 'betas', 'eps', 'weightDecay', 'maximize'] as const;

export function resolveAdamOptions(options: AdamOptions = {}, decoupled: boolean): AdaptiveHyperParameters {
  assertKnownKeys(options, ADAM_KEYS, decoupled ? 'AdamW' : 'Adam');
  const [beta1, beta2] = betasFrom(orDefault(options.betas, [0.9, 0.999]));
  return {
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
    kind: 'adaptive',
  };
}

const SGD_KEYS = ['lr', 'momentum', 'dampening', 'nesterov', 'weightDecay', 'maximize'] as const;

export function resolveSgdOptions(options: SgdOptions = {}): SgdHyperParameters {
  assertKnownKeys(options, SGD_KEYS, 'SGD');
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
  };
}
