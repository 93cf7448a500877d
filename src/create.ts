import { OptimizerConfigError } from './errors';
import { type ExecutionOptions, FusedOptimizer, type ResolvedGroup, type TrainingOptions } from './optimizer';
import {
  type AdamOptions,
  type RAdamOptions,
  resolveAdamOptions,
  resolveRAdamOptions,
  resolveSgdOptions,
  type SgdOptions,
} from './options';
import type { ParamSpec } from './params';
import type { GroupHyperParameters } from './step-scalars';

/** A param group, torch style: its tensors plus hyper-parameters that override the optimizer's defaults. */
export type ParamGroup<Options> = Options & { params: readonly ParamSpec[] };

/** Either one list of tensors (one group) or a list of param groups. */
export type ParamsOrGroups<Options> = readonly ParamSpec[] | readonly ParamGroup<Options>[];

const TRAINING_KEYS = ['schedule', 'skipNonFinite', 'maxGradNorm', 'gradScale'] as const;

function isGroupList<Options>(list: ParamsOrGroups<Options>): list is readonly ParamGroup<Options>[] {
  return (
    list.length > 0 && list.every((entry) => typeof entry === 'object' && entry !== null && 'params' in entry)
  );
}

function splitTraining<Options extends object>(
  options: Options & TrainingOptions,
): [TrainingOptions, Options] {
  if (typeof options !== 'object' || options === null) {
    throw new OptimizerConfigError('options', `Invalid options: ${String(options)} (expected an object)`);
  }
  const training: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if ((TRAINING_KEYS as readonly string[]).includes(key)) training[key] = value;
    else rest[key] = value;
  }
  return [training as TrainingOptions, rest as Options];
}

function resolveGroups<Options extends object>(
  paramsOrGroups: ParamsOrGroups<Options>,
  defaults: Options,
  resolve: (options: Options) => GroupHyperParameters,
): ResolvedGroup[] {
  if (!Array.isArray(paramsOrGroups)) {
    throw new OptimizerConfigError(
      'params',
      `Invalid params: ${String(paramsOrGroups)} (expected an array of { param, grad, length } or of param groups)`,
    );
  }
  if (!isGroupList(paramsOrGroups)) {
    const params = paramsOrGroups as readonly ParamSpec[];
    return [{ hp: resolve(defaults), params, fields: params.map((_, i) => `params[${i}]`) }];
  }
  return paramsOrGroups.map((group, g) => {
    const { params, ...overrides } = group;
    if (!Array.isArray(params)) {
      throw new OptimizerConfigError(
        `paramGroups[${g}].params`,
        `Invalid paramGroups[${g}].params: expected an array`,
      );
    }
    let hp: GroupHyperParameters;
    try {
      hp = resolve({ ...defaults, ...overrides } as Options);
    } catch (error) {
      if (error instanceof OptimizerConfigError) {
        throw new OptimizerConfigError(
          `paramGroups[${g}].${error.field}`,
          `paramGroups[${g}]: ${error.message}`,
        );
      }
      throw error;
    }
    return { hp, params, fields: params.map((_, i) => `paramGroups[${g}].params[${i}]`) };
  });
}

async function build<Options extends object>(
  device: GPUDevice,
  name: string,
  hasSecondMoment: boolean,
  paramsOrGroups: ParamsOrGroups<Options>,
  options: Options & TrainingOptions,
  resolve: (options: Options) => GroupHyperParameters,
  execution: ExecutionOptions | undefined,
): Promise<FusedOptimizer> {
  const [training, defaults] = splitTraining(options);
  const groups = resolveGroups(paramsOrGroups, defaults, resolve);
  return FusedOptimizer.create(device, name, hasSecondMoment, groups, training, execution);
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
  return build(device, 'RAdam', true, params, options, resolveRAdamOptions, execution);
}

/** torch.optim.Adam: L2 weight decay folded into the gradient, eps added to the bias-corrected sqrt(v). */
export function createAdam(
  device: GPUDevice,
  params: ParamsOrGroups<AdamOptions>,
  options: AdamOptions & TrainingOptions = {},
  execution?: ExecutionOptions,
): Promise<FusedOptimizer> {
  return build(device, 'Adam', true, params, options, (o) => resolveAdamOptions(o, false), execution);
}

/** torch.optim.AdamW: p *= 1 - lr*wd before the Adam step (default weightDecay 1e-2). */
export function createAdamW(
  device: GPUDevice,
  params: ParamsOrGroups<AdamOptions>,
  options: AdamOptions & TrainingOptions = {},
  execution?: ExecutionOptions,
): Promise<FusedOptimizer> {
  return build(device, 'AdamW', true, params, options, (o) => resolveAdamOptions(o, true), execution);
}

/** torch.optim.SGD with momentum, dampening and Nesterov; keeps one state buffer (momentum_buffer). */
export function createSGD(
  device: GPUDevice,
  params: ParamsOrGroups<SgdOptions>,
  options: SgdOptions & TrainingOptions = {},
  execution?: ExecutionOptions,
): Promise<FusedOptimizer> {
  return build(device, 'SGD', false, params, options, resolveSgdOptions, execution);
}
