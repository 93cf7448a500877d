import { assertDevice, deviceLostError, watchDeviceLoss } from './device';
import { configAssert, describeValue, OptimizerConfigError } from './errors';
import { PREPARED_SLOT_BYTES, STEP_FACTORS_WORDS } from './layouts';
import { type ExecutionOptions, FusedOptimizer, type ResolvedGroup, type TrainingOptions } from './optimizer';
import {
  ADAM_KEYS,
  type AdamOptions,
  assertKnownKeys,
  checkExecutionOptions,
  guardedRead,
  RADAM_KEYS,
  type RAdamOptions,
  resolveAdamOptions,
  resolveRAdamOptions,
  resolveSgdOptions,
  SGD_KEYS,
  type SgdOptions,
  snapshotKeys,
} from './options';
import type { ParamSpec } from './params';
import type { GroupHyperParameters } from './step-scalars';

/** A param group, torch style: its tensors plus hyper-parameters that override the optimizer's defaults. */
export type ParamGroup<Options> = Options & { params: readonly ParamSpec[] };

/** Either one list of tensors (one group) or a list of param groups. */
export type ParamsOrGroups<Options> = readonly ParamSpec[] | readonly ParamGroup<Options>[];

const TRAINING_KEYS = ['schedule', 'skipNonFinite', 'maxGradNorm', 'gradScale'] as const;

const SPEC_ONLY_KEYS = ['grad', 'length', 'paramOffset', 'gradOffset', 'name'];

function groupKeyHint(key: string): string | undefined {
  if ((TRAINING_KEYS as readonly string[]).includes(key)) {
    return `${key} applies to the whole optimizer: pass it in the options, not in a param group`;
  }
  if (SPEC_ONLY_KEYS.includes(key)) {
    return (
      `${key} belongs to a parameter spec; an entry with "params" is read as a param group, so if this is a ` +
      'spec, its buffer key is "param"'
    );
  }
  return undefined;
}

/**
 * Reads each known option once, own or inherited (a class with getters works), into the optimizer-wide
 * training options and the per-group defaults; snapshotKeys drops explicit undefined values ("not given").
 */
function splitTraining<Options extends object>(
  options: Options & TrainingOptions,
  optionKeys: readonly string[],
): [TrainingOptions, Options] {
  const training = snapshotKeys(options, TRAINING_KEYS, 'options');
  const rest = snapshotKeys(options, optionKeys, 'options');
  return [training as TrainingOptions, rest as Options];
}

/** A plain copy of a caller's list (holes become undefined, each index read once), at most `max` long. */
function copyList(value: unknown, field: string, max: number, expected: string): unknown[] {
  return guardedRead(field, () => {
    configAssert(
      Array.isArray(value),
      field,
      () => `Invalid ${field}: ${describeValue(value)} (expected ${expected})`,
    );
    const length = value.length;
    configAssert(
      length <= max,
      field,
      () =>
        `Invalid ${field}: ${length} entries; this device can step at most ${max} tensors in one optimizer ` +
        `(${PREPARED_SLOT_BYTES} bytes of per-tensor scalars each, within maxStorageBufferBindingSize)`,
    );
    return Array.from({ length }, (_, i) => value[i]);
  });
}

function isGroup(entry: unknown, field: string): boolean {
  return typeof entry === 'object' && entry !== null && guardedRead(field, () => 'params' in entry);
}

function resolveGroups<Options extends object>(
  paramsOrGroups: ParamsOrGroups<Options>,
  defaults: Options,
  resolve: (options: Options) => GroupHyperParameters,
  optionKeys: readonly string[],
  maxTensors: number,
): ResolvedGroup[] {
  const list = copyList(
    paramsOrGroups,
    'params',
    maxTensors,
    'an array of { param, grad, length } or of param groups { params, ...overrides }',
  );
  if (!list.some((entry, i) => isGroup(entry, `params[${i}]`))) {
    const params = list as ParamSpec[];
    return [{ hp: resolve(defaults), params, fields: params.map((_, i) => `params[${i}]`) }];
  }
  // Validated even where every group overrides them, as torch validates its defaults.
  resolve(defaults);
  let tensorCount = 0;
  return list.map((group, g) => {
    const where = `paramGroups[${g}]`;
    configAssert(
      isGroup(group, where),
      where,
      () =>
        `Invalid ${where}: ${describeValue(group)} (expected a param group { params, ...overrides }, as the ` +
        'other entries of this list are)',
    );
    const groupKeys = ['params', ...optionKeys];
    assertKnownKeys(group, groupKeys, 'param group key', where, groupKeyHint);
    // snapshotKeys drops explicit undefined values, so `{ params, lr: undefined }` inherits the optimizer's lr.
    const { params: rawParams, ...overrides } = snapshotKeys(group as object, groupKeys, where) as {
      params?: unknown;
    };
    const params = copyList(
      rawParams,
      `${where}.params`,
      maxTensors - tensorCount,
      'an array',
    ) as ParamSpec[];
    tensorCount += params.length;
    let hp: GroupHyperParameters;
    try {
      hp = resolve({ ...defaults, ...overrides } as Options);
    } catch (error) {
      if (error instanceof OptimizerConfigError) {
        throw new OptimizerConfigError(`${where}.${error.field}`, `${where}: ${error.message}`);
      }
      throw error;
    }
    return { hp, params, fields: params.map((_, i) => `${where}.params[${i}]`) };
  });
}

async function build<Options extends object>(
  device: GPUDevice,
  name: string,
  hasSecondMoment: boolean,
  paramsOrGroups: ParamsOrGroups<Options>,
  options: Options & TrainingOptions,
  resolve: (options: Options) => GroupHyperParameters,
  optionKeys: readonly string[],
  execution: ExecutionOptions | undefined,
): Promise<FusedOptimizer> {
  const caller = `create${name}`;
  assertDevice(device, caller);
  const lostInfo = watchDeviceLoss(device);
  assertKnownKeys(options, [...optionKeys, ...TRAINING_KEYS], `${name} option`);
  const [training, defaults] = splitTraining(options, optionKeys);
  const executionOptions = checkExecutionOptions(execution);
  const maxBindingSize = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const maxTensors = Math.floor(maxBindingSize / PREPARED_SLOT_BYTES);
  const groups = resolveGroups(paramsOrGroups, defaults, resolve, optionKeys, maxTensors);
  // The float64 step table holds stepTableLength rows per group in one storage binding.
  const tableLength = executionOptions.stepTableLength;
  const maxTableLength = Math.floor(maxBindingSize / (Math.max(1, groups.length) * STEP_FACTORS_WORDS * 4));
  configAssert(
    tableLength === undefined || !(tableLength > maxTableLength),
    'stepTableLength',
    () =>
      `Invalid stepTableLength: ${tableLength} (with ${groups.length} param groups, at most ${maxTableLength} ` +
      'rows fit in one storage binding on this device)',
  );
  let optimizer: FusedOptimizer;
  try {
    optimizer = await FusedOptimizer.create(
      device,
      name,
      hasSecondMoment,
      groups,
      training,
      executionOptions,
    );
  } catch (error) {
    const lost = lostInfo();
    if (lost) throw deviceLostError(caller, lost, error);
    throw error;
  }
  const lost = lostInfo();
  if (lost) {
    optimizer.destroy();
    throw deviceLostError(caller, lost);
  }
  return optimizer;
}

/**
 * RAdam (Liu et al. 2019, arXiv 1908.03265): Adam whose adaptive step is multiplied by a rectification term
 * r_t once the variance of the adaptive learning rate is tractable (rho_t above a threshold), and an
 * SGD-with-momentum step before that. Matches torch.optim.RAdam by default; `preset` selects the original
 * repository's, TensorFlow Addons' or optax's semantics (see {@link RAdamPreset}).
 *
 * ```ts
 * const radam = await createRAdam(device, [{ param: weights, grad: weightGrads, length: 4096 }], { lr: 1e-3 });
 * const encoder = device.createCommandEncoder();
 * // ... forward and backward passes that write weightGrads ...
 * radam.step(encoder);
 * device.queue.submit([encoder.finish()]);
 * ```
 */
export function createRAdam(
  device: GPUDevice,
  params: ParamsOrGroups<RAdamOptions>,
  options: RAdamOptions & TrainingOptions = {},
  execution?: ExecutionOptions,
): Promise<FusedOptimizer> {
  return build(device, 'RAdam', true, params, options, resolveRAdamOptions, RADAM_KEYS, execution);
}

/** torch.optim.Adam: L2 weight decay folded into the gradient, eps added to the bias-corrected sqrt(v). */
export function createAdam(
  device: GPUDevice,
  params: ParamsOrGroups<AdamOptions>,
  options: AdamOptions & TrainingOptions = {},
  execution?: ExecutionOptions,
): Promise<FusedOptimizer> {
  return build(
    device,
    'Adam',
    true,
    params,
    options,
    (o) => resolveAdamOptions(o, false),
    ADAM_KEYS,
    execution,
  );
}

/** torch.optim.AdamW: p *= 1 - lr*wd before the Adam step (default weightDecay 1e-2). */
export function createAdamW(
  device: GPUDevice,
  params: ParamsOrGroups<AdamOptions>,
  options: AdamOptions & TrainingOptions = {},
  execution?: ExecutionOptions,
): Promise<FusedOptimizer> {
  return build(
    device,
    'AdamW',
    true,
    params,
    options,
    (o) => resolveAdamOptions(o, true),
    ADAM_KEYS,
    execution,
  );
}

/** torch.optim.SGD with momentum, dampening and Nesterov; keeps one state buffer (momentum_buffer). */
export function createSGD(
  device: GPUDevice,
  params: ParamsOrGroups<SgdOptions>,
  options: SgdOptions & TrainingOptions = {},
  execution?: ExecutionOptions,
): Promise<FusedOptimizer> {
  return build(device, 'SGD', false, params, options, resolveSgdOptions, SGD_KEYS, execution);
}
