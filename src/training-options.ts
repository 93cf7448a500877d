// Stage 1 of the build (see create.ts): the optimizer-wide options. Training options change what a step does
// (schedule, gradient checks, loss scale); execution options change only how it runs (ring size, table lengths,
// binding sizes, batching). Both are resolved here against the device's limits, before anything is allocated, so
// a bad value throws with nothing to undo. Pure: reads `device.limits` values passed in, makes no GPU calls.

import { STATE_ELEMENT_BYTES, TILE_ELEMENTS_PER_INVOCATION, TILE_LANES } from './contract';
import { configAssert, describeValue, OptimizerConfigError } from './errors';
import { F32_MAX, validateGradScale, validateMaxGradNorm } from './options';
import type { PlanLimits } from './plan';
import type { LrSchedule } from './schedules';
import { type GroupHyperParameters, largestStepFactor } from './step-scalars';

/** Optimizer-wide options shared by every algorithm. */
export interface TrainingOptions {
  /**
   * Multiplies every group's base lr at each step: called with the number of steps completed before it (0 on the
   * first step), as torch's LambdaLR and optax call theirs; see `schedules`. @defaultValue constant 1
   */
  schedule?: LrSchedule | undefined;
  /**
   * Check the gradients on the GPU before each step and skip the whole step (params, moments, step counts and
   * schedule untouched) when any is NaN or ±Inf, as torch's GradScaler does. Costs one extra read of the grads.
   * @defaultValue false
   */
  skipNonFinite?: boolean | undefined;
  /**
   * Clip gradients to this global L2 norm (torch clip_grad_norm_), computed on the GPU; 0 = off. A non-finite
   * gradient makes the norm non-finite, and then the whole step is skipped as with skipNonFinite (even when that
   * is false): torch's clip_grad_norm_ would scale every gradient by NaN, turning every parameter into NaN, or
   * raise with error_if_nonfinite=True; torch's AMP recipe (GradScaler.unscale_, clip, scaler.step) skips.
   * @defaultValue 0
   */
  maxGradNorm?: number | undefined;
  /** Gradients arrive multiplied by this loss scale; they are divided by it inside the step. @defaultValue 1 */
  gradScale?: number | undefined;
  /**
   * How the moments (exp_avg, exp_avg_sq; SGD's momentum buffer) are stored. 'bf16' keeps the upper 16 bits of
   * each f32 (f32's range, 8 significant bits) and halves their memory; the update is still computed in f32, and
   * each stored moment is rounded stochastically (unbiased, deterministic: see the README). @defaultValue 'f32'
   */
  stateFormat?: StateFormat | undefined;
}

/** How the optimizer stores its moments. */
export type StateFormat = 'f32' | 'bf16';

/** Internal knobs; tests use them to exercise chunking, the f32 step path and ring wrap-around cheaply. */
export interface ExecutionOptions {
  /** Threads per workgroup. @defaultValue 256 */
  workgroupSize?: number | undefined;
  /**
   * Slots of the per-call ring: how many steps may be recorded while their command encoders are not yet
   * submitted (in one encoder or spread over many) and stay exact. Recording more into one encoder throws; a
   * step whose slot a later recording reuses before its encoder is submitted is rejected on the GPU, and the
   * optimizer then throws an OptimizerStateError. @defaultValue 4096, or fewer (at least 256) for slots so large
   * (many tensors) that 4096 of them would take more than 4 MiB
   */
  maxPendingSteps?: number | undefined;
  /** Largest byte size of one storage binding; defaults to the device's maxStorageBufferBindingSize. */
  maxBindingBytes?: number | undefined;
  /** Steps whose factors come from the float64 table; later ones are computed on the GPU in f32. @defaultValue 4096 */
  stepTableLength?: number | undefined;
  /**
   * Entries of the schedule-factor table on the GPU: how far the host's step count may run ahead of the GPU's
   * (pending steps plus steps skipped since the last readback) before steps are rejected.
   * @defaultValue maxPendingSteps + max(maxPendingSteps, 4096)
   */
  scheduleTableLength?: number | undefined;
  /** Use vec4 loads where offsets and lengths allow. @defaultValue true */
  vectorize?: boolean | undefined;
  /**
   * Tensors at least this long (f32 elements) get a dispatch of their own, up to soloDispatches of them;
   * the rest are batched. @defaultValue 65536
   */
  soloElements?: number | undefined;
  /** @defaultValue 16 */
  soloDispatches?: number | undefined;
  /**
   * bf16 moments round to nearest even instead of stochastically. Only for the test that shows the stagnation
   * stochastic rounding avoids. @defaultValue false
   */
  roundStateToNearest?: boolean | undefined;
}

/** The training options with defaults applied and every value checked. */
export interface ResolvedTraining {
  schedule: LrSchedule;
  /** Whether a schedule was given: without one every factor is 1 and the GPU needs no table entry. */
  scheduled: boolean;
  skipNonFinite: boolean;
  maxGradNorm: number;
  gradScale: number;
  /** Whether a gradient-statistics pass runs before each step. */
  gradStats: boolean;
  stateFormat: StateFormat;
}

/** The execution options resolved against the device: sizes of the ring and the tables, and the plan's limits. */
export interface ResolvedExecution {
  workgroupSize: number;
  ringSlots: number;
  /** Bytes between call slots (one slot's words, rounded up to the storage offset alignment). */
  slotStride: number;
  /** Bytes between the entries of the constant epoch buffer (the uniform offset alignment). */
  epochStride: number;
  scheduleTableLength: number;
  stepTableLength: number;
  plan: PlanLimits;
  roundStateToNearest: boolean;
}

const RING_SLOTS_DEFAULT = 4096;
const RING_SLOTS_MIN_DEFAULT = 256;
const RING_BYTES_BUDGET = 4 * 2 ** 20;
// The schedule table holds twice the ring, and at least this many entries more than it: the host's step count
// may run that far ahead of the GPU's (steps skipped on the GPU, or never submitted, beyond those pending)
// before a step finds no schedule factor and is rejected.
const SCHEDULE_SLACK = 4096;
const STEP_TABLE_DEFAULT = 4096;

/** Bytes of GradControl's scalars and of one schedule entry: see contract.ts. */
export interface ControlSizes {
  controlBytes: number;
  scheduleEntryBytes: number;
}

export function resolveExecution(
  execution: ExecutionOptions,
  limits: GPUSupportedLimits,
  callBytes: number,
  control: ControlSizes,
): ResolvedExecution {
  const workgroupSize = execution.workgroupSize ?? 256;
  configAssert(
    Number.isInteger(workgroupSize) &&
      workgroupSize >= 2 &&
      (workgroupSize & (workgroupSize - 1)) === 0 &&
      workgroupSize <= limits.maxComputeInvocationsPerWorkgroup,
    'workgroupSize',
    () =>
      `Invalid workgroupSize: ${workgroupSize} (expected a power of two in 2..${limits.maxComputeInvocationsPerWorkgroup})`,
  );
  const storageAlignment = limits.minStorageBufferOffsetAlignment;
  const slotStride = Math.ceil(callBytes / storageAlignment) * storageAlignment;
  const maxRingSlots = Math.floor(limits.maxBufferSize / slotStride);
  const ringSlots =
    execution.maxPendingSteps ??
    Math.min(
      RING_SLOTS_DEFAULT,
      maxRingSlots,
      Math.max(RING_SLOTS_MIN_DEFAULT, Math.floor(RING_BYTES_BUDGET / slotStride)),
    );
  configAssert(
    Number.isInteger(ringSlots) && ringSlots >= 1 && ringSlots <= maxRingSlots,
    'maxPendingSteps',
    () =>
      `Invalid maxPendingSteps: ${ringSlots} (expected an integer in 1..${maxRingSlots}, ` +
      `the slots of ${slotStride} bytes that fit in one buffer)`,
  );
  const maxBindingBytes = execution.maxBindingBytes ?? limits.maxStorageBufferBindingSize;
  configAssert(
    Number.isInteger(maxBindingBytes) &&
      maxBindingBytes >= 2 * storageAlignment &&
      maxBindingBytes <= limits.maxStorageBufferBindingSize,
    'maxBindingBytes',
    () =>
      `Invalid maxBindingBytes: ${maxBindingBytes} (expected ${2 * storageAlignment}..${limits.maxStorageBufferBindingSize})`,
  );
  const maxScheduleEntries = Math.floor(
    (limits.maxBufferSize - control.controlBytes) / control.scheduleEntryBytes,
  );
  const scheduleTableLength =
    execution.scheduleTableLength ??
    Math.min(maxScheduleEntries, ringSlots + Math.max(ringSlots, SCHEDULE_SLACK));
  configAssert(
    Number.isInteger(scheduleTableLength) &&
      scheduleTableLength >= 1 &&
      scheduleTableLength <= maxScheduleEntries,
    'scheduleTableLength',
    () =>
      `Invalid scheduleTableLength: ${scheduleTableLength} (expected an integer in 1..${maxScheduleEntries})`,
  );
  const stepTableLength = execution.stepTableLength ?? STEP_TABLE_DEFAULT;
  configAssert(
    Number.isInteger(stepTableLength) && stepTableLength >= 0,
    'stepTableLength',
    () => `Invalid stepTableLength: ${stepTableLength} (expected an integer >= 0)`,
  );
  return {
    workgroupSize,
    ringSlots,
    slotStride,
    epochStride: limits.minUniformBufferOffsetAlignment,
    scheduleTableLength,
    stepTableLength,
    roundStateToNearest: execution.roundStateToNearest ?? false,
    plan: {
      storageAlignment,
      maxBindingBytes,
      maxPageBytes: Math.min(limits.maxBufferSize, maxBindingBytes),
      stateElementBytes: STATE_ELEMENT_BYTES,
      workgroupSize,
      tileElements: TILE_LANES * TILE_ELEMENTS_PER_INVOCATION,
      vectorize: execution.vectorize ?? true,
      soloElements: execution.soloElements ?? 65_536,
      soloDispatches: execution.soloDispatches ?? 16,
    },
  };
}

/** The largest stepTableLength whose rows for every group fit in one storage binding. */
export function maxStepTableLength(maxBindingSize: number, groups: number, rowBytes: number): number {
  return Math.floor(maxBindingSize / (Math.max(1, groups) * rowBytes));
}

export function resolveTraining(training: TrainingOptions): ResolvedTraining {
  const schedule = training.schedule === undefined ? () => 1 : training.schedule;
  configAssert(
    typeof schedule === 'function',
    'schedule',
    () => 'Invalid schedule: expected a function (step) => factor',
  );
  const skipNonFinite = training.skipNonFinite === undefined ? false : training.skipNonFinite;
  configAssert(
    typeof skipNonFinite === 'boolean',
    'skipNonFinite',
    () => `Invalid skipNonFinite: ${String(skipNonFinite)} (expected true or false)`,
  );
  const maxGradNorm = validateMaxGradNorm(training.maxGradNorm === undefined ? 0 : training.maxGradNorm);
  const gradScale = validateGradScale(training.gradScale === undefined ? 1 : training.gradScale);
  const stateFormat = training.stateFormat === undefined ? 'f32' : training.stateFormat;
  configAssert(
    stateFormat === 'f32' || stateFormat === 'bf16',
    'stateFormat',
    () => `Invalid stateFormat: ${describeValue(stateFormat)} (expected 'f32' or 'bf16')`,
  );
  return {
    stateFormat,
    schedule,
    scheduled: training.schedule !== undefined,
    skipNonFinite,
    maxGradNorm,
    gradScale,
    gradStats: skipNonFinite || maxGradNorm > 0,
  };
}

/**
 * The schedule's factor after `count` completed steps, checked as the GPU will use it: a number that is finite
 * and >= 0 in f32, whose f32 product with every group's lr (and, with decoupled decay, with its weight decay) is
 * finite too. Throws an OptimizerConfigError naming the schedule or the lr that overflows.
 */
export function checkedScheduleFactor(
  schedule: LrSchedule,
  count: number,
  groups: readonly { readonly hp: GroupHyperParameters }[],
): number {
  let factor: unknown;
  try {
    factor = schedule(count);
  } catch (error) {
    const failure = new OptimizerConfigError(
      'schedule',
      `Invalid schedule: it threw at count ${count}: ${error instanceof Error ? error.message : String(error)}`,
    );
    failure.cause = error;
    throw failure;
  }
  configAssert(
    typeof factor === 'number' && factor >= 0 && Number.isFinite(Math.fround(factor)),
    'schedule',
    () =>
      `Invalid schedule factor ${describeValue(factor)} at count ${count} (expected a number >= 0 and finite ` +
      `in f32, <= ${F32_MAX})`,
  );
  for (let g = 0; g < groups.length; g++) {
    const hp = groups[g]!.hp;
    // The products the GPU forms in f32 from this lr: lr·factor, times 1/bc1 (largest at step 1), times the
    // decoupled weight decay. Any that overflows would turn parameters into ±Infinity.
    const lr = Math.fround(Math.fround(hp.lr) * Math.fround(factor));
    const decay = hp.kind !== 'sgd' && hp.decoupledWeightDecay ? Math.fround(hp.weightDecay) : 0;
    const bound = Math.fround(largestStepFactor(hp));
    if (fitsF32(lr, bound, decay)) continue;
    const lrAlone = fitsF32(Math.fround(hp.lr), bound, decay);
    throw new OptimizerConfigError(
      lrAlone ? 'schedule' : groups.length > 1 ? `paramGroups[${g}].lr` : 'lr',
      `Invalid ${lrAlone ? `schedule factor ${factor} at count ${count}` : `lr ${hp.lr}`}: ` +
        `paramGroups[${g}]'s lr ${hp.lr} × schedule factor ${factor}` +
        `${bound !== 1 ? ` × 1/(1 - beta1) ${bound}` : ''}${decay > 0 ? ` (or × weightDecay ${hp.weightDecay})` : ''} ` +
        `overflows f32 (max ${F32_MAX})`,
    );
  }
  return factor;
}

// A plain function, not a closure per group: the schedule is checked on every step.
function fitsF32(scaled: number, bound: number, decay: number): boolean {
  return Number.isFinite(Math.fround(scaled * bound)) && Number.isFinite(Math.fround(scaled * decay));
}
