// The build, as one sequence of stages, each its own module:
//   options (training-options.ts, param-groups.ts) → params (params.ts) → plan (plan.ts)
//   → resources (resources.ts) → kernels (kernels.ts) → the live optimizer (optimizer.ts).
// Every stage before resources only checks and computes, so bad input throws with nothing to undo; from resources
// on, a Creation records what was made, and any failure gives it all back. Plus the public create* functions.

import { deviceAdapterClass } from './adapter-class';
import { CallRing } from './call-ring';
import {
  callWords,
  GRAD_CONTROL,
  momentElementBytes,
  PREPARED_SLOT_BYTES,
  SCHEDULE_ENTRY,
  STATE_ELEMENT_BYTES,
  WORD_BYTES,
} from './contract';
import { assertDevice, deviceLostError, watchDeviceLoss } from './device';
import { BufferBindingError, configAssert, OptimizerStateError, WebGPURadamError } from './errors';
import { BINDING_STAGE, buildKernels } from './kernels';
import { FusedOptimizer } from './optimizer';
import {
  ADAM_KEYS,
  type AdamOptions,
  assertKnownKeys,
  RADAM_KEYS,
  type RAdamOptions,
  RANGER_KEYS,
  type RangerOptions,
  resolveAdamOptions,
  resolveRAdamOptions,
  resolveRangerOptions,
  resolveSgdOptions,
  SGD_KEYS,
  type SgdOptions,
} from './options';
import {
  checkAmsgrad,
  checkStepTableLength,
  type ParamsOrGroups,
  type ResolvedGroup,
  resolveGroups,
  splitTraining,
} from './param-groups';
import { type CheckedParam, checkParams } from './params';
import { extraStateRatio, limitsForExtraState, placeState, planUnits } from './plan';
import { allocateResources, Creation } from './resources';
import type { GroupHyperParameters } from './step-scalars';
import {
  checkExecutionOptions,
  type ExecutionOptions,
  type ResolvedExecution,
  type ResolvedTraining,
  resolveExecution,
  resolveTraining,
  TRAINING_KEYS,
  type TrainingOptions,
} from './training-options';

export type { ParamGroup, ParamsOrGroups } from './param-groups';

/** How one algorithm is built: its name, whether it keeps exp_avg_sq, and its option table. */
interface Algorithm<Options> {
  name: string;
  hasSecondMoment: boolean;
  optionKeys: readonly string[];
  resolve: (options: Options) => GroupHyperParameters;
}

async function build<Options extends object>(
  device: GPUDevice,
  algorithm: Algorithm<Options>,
  paramsOrGroups: ParamsOrGroups<Options>,
  options: Options & TrainingOptions,
  execution: ExecutionOptions | undefined,
): Promise<FusedOptimizer> {
  const caller = `create${algorithm.name}`;
  assertDevice(device, caller);
  const lostInfo = watchDeviceLoss(device);
  let optimizer: FusedOptimizer;
  try {
    optimizer = await assemble(device, algorithm, paramsOrGroups, options, execution);
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

/** The build sequence. Either returns a working optimizer or throws with everything it made given back. */
async function assemble<Options extends object>(
  device: GPUDevice,
  algorithm: Algorithm<Options>,
  paramsOrGroups: ParamsOrGroups<Options>,
  options: Options & TrainingOptions,
  execution: ExecutionOptions | undefined,
): Promise<FusedOptimizer> {
  const creation = new Creation(device);
  try {
    const settings = resolveSettings(device, algorithm, paramsOrGroups, options, execution); // 1. options, 2. params
    const layout = planLayout(settings); // 3. plan
    const resources = allocateResources(creation, resourceInput(settings, layout)); // 4. resources
    const kernels = await buildKernels(creation, kernelInput(settings, layout, resources)); // 5. kernels
    return liveOptimizer(device, settings, layout, kernels, resources); // 6. the optimizer
  } catch (error) {
    creation.release();
    throw creationError(error, algorithm.name, creation.stage);
  }
}

/** Everything the caller asked for, checked and resolved; nothing on the GPU yet. */
interface Settings {
  name: string;
  hasSecondMoment: boolean;
  groups: ResolvedGroup[];
  params: CheckedParam[];
  run: ResolvedExecution;
  training: ResolvedTraining;
  amsgrad: boolean;
  lookahead: boolean;
  uniformAlignment: number;
}

/** Stages 1 and 2: options (known keys, groups, execution and training options) and the parameter specs. */
function resolveSettings<Options extends object>(
  device: GPUDevice,
  { name, hasSecondMoment, optionKeys, resolve }: Algorithm<Options>,
  paramsOrGroups: ParamsOrGroups<Options>,
  options: Options & TrainingOptions,
  execution: ExecutionOptions | undefined,
): Settings {
  assertKnownKeys(options, [...optionKeys, ...TRAINING_KEYS], `${name} option`);
  const [trainingOptions, defaults] = splitTraining(options, optionKeys);
  const executionOptions = checkExecutionOptions(execution);
  const limits = device.limits;
  const maxBindingSize = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  const groups = resolveGroups(
    paramsOrGroups,
    defaults,
    resolve,
    optionKeys,
    Math.floor(maxBindingSize / PREPARED_SLOT_BYTES),
  );
  checkStepTableLength(executionOptions.stepTableLength, groups, maxBindingSize);
  const amsgrad = checkAmsgrad(groups);
  const lookahead = groups.some((group) => group.hp.lookaheadK > 0);
  const params = checkParams(
    groups.flatMap((group) => group.params),
    groups.flatMap((group) => group.fields),
  );
  const callBytes = callWords(groups.length, params.length) * WORD_BYTES;
  const controlSizes = { controlBytes: GRAD_CONTROL.bytes, scheduleEntryBytes: SCHEDULE_ENTRY.bytes };
  const adapter = deviceAdapterClass(device);
  const run = resolveExecution(executionOptions, { limits, adapter }, callBytes, controlSizes);
  const training = resolveTraining(trainingOptions);
  const uniformAlignment = limits.minUniformBufferOffsetAlignment;
  return { name, hasSecondMoment, groups, params, run, training, amsgrad, lookahead, uniformAlignment };
}

/** Stage 3: where every tensor's state lives and which dispatches cover it (pure, plan.ts). */
function planLayout(settings: Settings) {
  const { run, training, amsgrad, lookahead, params, groups } = settings;
  const extraBytesPerElement = ((amsgrad ? 1 : 0) + (lookahead ? 1 : 0)) * STATE_ELEMENT_BYTES;
  const base = { ...run.plan, stateElementBytes: momentElementBytes(training.stateFormat) };
  const plan = limitsForExtraState(base, extraBytesPerElement);
  const ratio = extraStateRatio(base, extraBytesPerElement);
  configAssert(
    plan.maxBindingBytes >= 2 * plan.storageAlignment,
    'maxBindingBytes',
    () =>
      `Invalid maxBindingBytes: ${base.maxBindingBytes} (expected at least ${2 * plan.storageAlignment * ratio} ` +
      `with ${training.stateFormat} moments and ${[amsgrad && 'amsgrad', lookahead && 'lookahead'].filter(Boolean).join(' and ')}, ` +
      `whose f32 state takes ${ratio}× a moment's bytes in one binding)`,
  );
  const { placements, pageElements } = placeState(params, plan);
  const units = planUnits(params, placements, plan);
  const groupOf = groups.flatMap((group, index) => group.params.map(() => index));
  return { plan, placements, pageElements, units, groupOf };
}

type Layout = ReturnType<typeof planLayout>;

function resourceInput(settings: Settings, layout: Layout): Parameters<typeof allocateResources>[1] {
  const { name, hasSecondMoment, amsgrad, lookahead, groups, run, training, uniformAlignment } = settings;
  return {
    label: `webgpu-radam ${name}`,
    hasSecondMoment,
    amsgrad,
    lookahead,
    groups,
    groupOf: layout.groupOf,
    pageElements: layout.pageElements,
    stateElementBytes: layout.plan.stateElementBytes,
    units: layout.units,
    execution: run,
    gradStats: training.gradStats,
    uniformAlignment,
  };
}

function kernelInput(
  settings: Settings,
  layout: Layout,
  resources: ReturnType<typeof allocateResources>,
): Parameters<typeof buildKernels>[1] {
  const { name, hasSecondMoment, amsgrad, lookahead, training, run, groups, params } = settings;
  const { units } = layout;
  return {
    label: `webgpu-radam ${name}`,
    hasSecondMoment,
    amsgrad,
    lookahead,
    gradStats: training.gradStats,
    stateFormat: training.stateFormat,
    roundStateToNearest: run.roundStateToNearest,
    workgroupSize: run.workgroupSize,
    tileShape: run.tileShape,
    groupCount: groups.length,
    tensorCount: params.length,
    units,
    resources,
    unitNames: (unit) =>
      [...new Set(units[unit]!.segments.map((segment) => params[segment.tensor]!.name))]
        .slice(0, 3)
        .join(', '),
  };
}

/** Stage 6: the live optimizer over what the earlier stages made. */
function liveOptimizer(
  device: GPUDevice,
  settings: Settings,
  layout: Layout,
  kernels: Awaited<ReturnType<typeof buildKernels>>,
  resources: ReturnType<typeof allocateResources>,
): FusedOptimizer {
  const { name, groups, params, run, training } = settings;
  const ring = new CallRing(
    run.ringSlots,
    run.slotStride,
    run.epochStride,
    run.scheduleTableLength,
    groups.length,
    params.length,
  );
  return new FusedOptimizer({
    device,
    name,
    groups: groups.map((group, index) => ({
      hp: group.hp,
      tensors: layout.groupOf.flatMap((g, tensor) => (g === index ? [tensor] : [])),
    })),
    tensors: params.map((p, i) => ({ name: p.name, length: p.length, ...layout.placements[i]! })),
    kernels,
    buffers: resources,
    ring,
    training,
  });
}

/** A typed error for anything the build threw: platform errors name the stage they interrupted. */
function creationError(error: unknown, name: string, stage: string): unknown {
  if (error instanceof WebGPURadamError) return error;
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  if (stage === BINDING_STAGE) {
    return new BufferBindingError(
      'params',
      `${name}: WebGPU could not bind the parameter and gradient buffers (${reason}); is every param and grad a GPUBuffer of this device?`,
      { cause: error },
    );
  }
  return new OptimizerStateError(`${name}: WebGPU failed while ${stage} (${reason})`, { cause: error });
}

const RADAM: Algorithm<RAdamOptions> = {
  name: 'RAdam',
  hasSecondMoment: true,
  optionKeys: RADAM_KEYS,
  resolve: resolveRAdamOptions,
};
const ADAM: Algorithm<AdamOptions> = {
  name: 'Adam',
  hasSecondMoment: true,
  optionKeys: ADAM_KEYS,
  resolve: (o) => resolveAdamOptions(o, false),
};
const ADAMW: Algorithm<AdamOptions> = {
  name: 'AdamW',
  hasSecondMoment: true,
  optionKeys: ADAM_KEYS,
  resolve: (o) => resolveAdamOptions(o, true),
};
const RANGER: Algorithm<RangerOptions> = {
  name: 'Ranger',
  hasSecondMoment: true,
  optionKeys: RANGER_KEYS,
  resolve: resolveRangerOptions,
};
const SGD: Algorithm<SgdOptions> = {
  name: 'SGD',
  hasSecondMoment: false,
  optionKeys: SGD_KEYS,
  resolve: resolveSgdOptions,
};

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
  return build(device, RADAM, params, options, execution);
}

/** torch.optim.Adam: L2 weight decay folded into the gradient, eps added to the bias-corrected sqrt(v). */
export function createAdam(
  device: GPUDevice,
  params: ParamsOrGroups<AdamOptions>,
  options: AdamOptions & TrainingOptions = {},
  execution?: ExecutionOptions,
): Promise<FusedOptimizer> {
  return build(device, ADAM, params, options, execution);
}

/** torch.optim.AdamW: p *= 1 - lr*wd before the Adam step (default weightDecay 1e-2). */
export function createAdamW(
  device: GPUDevice,
  params: ParamsOrGroups<AdamOptions>,
  options: AdamOptions & TrainingOptions = {},
  execution?: ExecutionOptions,
): Promise<FusedOptimizer> {
  return build(device, ADAMW, params, options, execution);
}

/** torch.optim.SGD with momentum, dampening and Nesterov; keeps one state buffer (momentum_buffer). */
export function createSGD(
  device: GPUDevice,
  params: ParamsOrGroups<SgdOptions>,
  options: SgdOptions & TrainingOptions = {},
  execution?: ExecutionOptions,
): Promise<FusedOptimizer> {
  return build(device, SGD, params, options, execution);
}

/**
 * Ranger (lessw2020's Ranger 9.3.19): RAdam with torch's semantics (rho_t > 5, eps on the uncorrected sqrt(v),
 * an SGD-momentum step below the threshold) and decoupled weight decay, inside Lookahead, all in the one fused
 * pass. Defaults: lr 1e-3, betas [0.95, 0.999], eps 1e-5, weightDecay 0, lookahead { k: 6, alpha: 0.5 }.
 */
export function createRanger(
  device: GPUDevice,
  params: ParamsOrGroups<RangerOptions>,
  options: RangerOptions & TrainingOptions = {},
  execution?: ExecutionOptions,
): Promise<FusedOptimizer> {
  return build(device, RANGER, params, options, execution);
}
