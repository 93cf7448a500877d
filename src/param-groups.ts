// Stage 2 of the build (see create.ts): the caller's params or param groups, each group's hyper-parameters
// resolved over the optimizer's defaults, with every key read once and every value checked. Pure: no GPU calls.
import { PREPARED_SLOT_BYTES, STEP_FACTORS } from './contract';
import { configAssert, describeValue, OptimizerConfigError } from './errors';
import { assertKnownKeys, guardedRead, snapshotKeys } from './options';
import type { ParamSpec } from './params';
import type { GroupHyperParameters } from './step-scalars';
import { maxStepTableLength, TRAINING_KEYS, type TrainingOptions } from './training-options';

/** One param group after validation: its resolved hyper-parameters and the tensors (global indices) it holds. */
export interface ResolvedGroup {
  hp: GroupHyperParameters;
  params: readonly ParamSpec[];
  /** Field name of each param for messages, e.g. `paramGroups[1].params[0]`. */
  fields: readonly string[];
}

/** A param group, torch style: its tensors plus hyper-parameters that override the optimizer's defaults. */
export type ParamGroup<Options> = Options & { params: readonly ParamSpec[] };

/** Either one list of tensors (one group) or a list of param groups. */
export type ParamsOrGroups<Options> = readonly ParamSpec[] | readonly ParamGroup<Options>[];

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
export function splitTraining<Options extends object>(
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

export function resolveGroups<Options extends object>(
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

/** The float64 step table holds stepTableLength rows per group in one storage binding. */
export function checkStepTableLength(
  tableLength: number | undefined,
  groups: readonly ResolvedGroup[],
  maxBindingSize: number,
): void {
  const maxTableLength = maxStepTableLength(maxBindingSize, groups.length, STEP_FACTORS.bytes);
  configAssert(
    tableLength === undefined || !(tableLength > maxTableLength),
    'stepTableLength',
    () =>
      `Invalid stepTableLength: ${tableLength} (with ${groups.length} param groups, at most ${maxTableLength} ` +
      'rows fit in one storage binding on this device)',
  );
}

/**
 * AMSGrad is a pipeline variant (with it off, the kernel binds no max_exp_avg_sq and moves no extra bytes), so
 * every param group must agree on it.
 */
export function checkAmsgrad(groups: readonly ResolvedGroup[]): boolean {
  const amsgrad = (group: ResolvedGroup) => group.hp.kind !== 'sgd' && group.hp.amsgrad;
  const first = groups[0] !== undefined && amsgrad(groups[0]);
  const other = groups.findIndex((group) => amsgrad(group) !== first);
  configAssert(
    other < 0,
    `paramGroups[${other}].amsgrad`,
    () =>
      `Invalid paramGroups[${other}].amsgrad: ${!first} (expected ${first}, as in paramGroups[0]: amsgrad is ` +
      'the same in every param group)',
  );
  return first;
}
