// Stage 1 of the build (see create.ts): the optimizer-wide options. Training options change what a step does
// (schedule, gradient checks, loss scale); execution options change only how it runs (ring size, table lengths,
// binding sizes, batching). Both are resolved here against the device's limits, before anything is allocated, so
// a bad value throws with nothing to undo. Pure: reads `device.limits` values passed in, makes no GPU calls.

import type { AdapterClass } from './adapter-class';
import { STATE_ELEMENT_BYTES, TILE_SHAPES, type TileShape, tileElements } from './contract';
import { configAssert, describeValue } from './errors';
import { flag, oneOf, validateGradScale, validateMaxGradNorm } from './option-checks';
import { assertKnownKeys, snapshotKeys } from './option-keys';
import { computed, defaultOf, type OptionTable, optionNames, resolveTable } from './option-table';
import type { PlanLimits } from './plan';
import type { LrSchedule } from './schedules';

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
   * step whose slot a later recording reuses before its encoder is submitted is rejected on the GPU (it and every
   * later step run as no-ops), and the next readGradStats() or stateDict() throws an OptimizerStateError.
   * @defaultValue 4096, or fewer (at least 256) for slots so large (many tensors) that 4096 of them would take
   * more than 4 MiB; never more than fit in one buffer (maxBufferSize)
   */
  maxPendingSteps?: number | undefined;
  /** Largest byte size of one storage binding; defaults to the device's maxStorageBufferBindingSize. */
  maxBindingBytes?: number | undefined;
  /** Steps whose factors come from the float64 table; later ones are computed on the GPU in f32. @defaultValue 4096 */
  stepTableLength?: number | undefined;
  /**
   * Entries of the schedule-factor table on the GPU: how far the host's step count may run ahead of the GPU's
   * (pending steps plus steps skipped since the last readback) before steps are rejected.
   * @defaultValue maxPendingSteps + max(maxPendingSteps, 4096), capped by maxBufferSize
   */
  scheduleTableLength?: number | undefined;
  /** Use vec4 loads where offsets and lengths allow. @defaultValue true */
  vectorize?: boolean | undefined;
  /**
   * How the batched kernel spreads invocations over a tile: 'narrow' (4 invocations × 32 elements: fewest
   * lookups, for CPU adapters) or 'wide' (64 × 4: coalesced loads, for GPUs).
   * @defaultValue 'narrow' on a CPU adapter (SwiftShader, llvmpipe, WARP or a fallback adapter, from
   * device.adapterInfo), 'wide' otherwise
   */
  tileShape?: TileShape | undefined;
  /**
   * Tensors at least this long (f32 elements) get a dispatch of their own, up to soloDispatches of them;
   * the rest are batched. @defaultValue 65536 on a CPU adapter, 1048576 otherwise (a GPU runs a batch of
   * mid-sized tensors faster than as many dispatches too small to fill it)
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

const RING_SLOTS_DEFAULT = 4096;
const RING_SLOTS_MIN_DEFAULT = 256;
const RING_BYTES_BUDGET = 4 * 2 ** 20;
// The schedule table holds twice the ring, and at least this many entries more than it: the host's step count
// may run that far ahead of the GPU's (steps skipped on the GPU, or never submitted, beyond those pending)
// before a step finds no schedule factor and is rejected.
const SCHEDULE_SLACK = 4096;
const STEP_TABLE_DEFAULT = 4096;
const SOLO_ELEMENTS_CPU = 65_536;
const SOLO_ELEMENTS_GPU = 1 << 20;
const TILE_SHAPE_NAMES = Object.keys(TILE_SHAPES) as TileShape[];

const constantOne: LrSchedule = () => 1;

// The option tables: see option-table.ts for the row format and how to add an option.

/** The optimizer-wide training options, accepted next to every algorithm's own (never in a param group). */
export const TRAINING_OPTIONS: OptionTable<TrainingOptions> = {
  schedule: {
    default: computed('constant 1', () => constantOne),
    check: (value, field) => {
      configAssert(
        typeof value === 'function',
        field,
        () => `Invalid ${field}: expected a function (step) => factor`,
      );
      return value as LrSchedule;
    },
    doc: "A factor of every group's base lr, called with the number of steps completed before this one.",
  },
  skipNonFinite: {
    default: false,
    check: flag,
    doc: 'Skip the whole step, on the GPU, when any gradient is NaN or ±Inf.',
  },
  maxGradNorm: {
    default: 0,
    check: validateMaxGradNorm,
    doc: 'Clip the gradients to this global L2 norm (torch clip_grad_norm_); 0 = off.',
  },
  gradScale: {
    default: 1,
    check: validateGradScale,
    doc: 'The loss scale the gradients arrive multiplied by; settable per step (`optimizer.gradScale`).',
  },
  stateFormat: {
    default: 'f32',
    check: (value, field) => {
      configAssert(
        value === 'f32' || value === 'bf16',
        field,
        () => `Invalid ${field}: ${describeValue(value)} (expected 'f32' or 'bf16')`,
      );
      return value;
    },
    doc: "How the moments are stored: 'f32', or 'bf16' (half the memory, stochastic rounding).",
  },
};

export const TRAINING_KEYS = optionNames(TRAINING_OPTIONS);

/** What the device-dependent execution defaults are computed from. */
export interface ExecutionContext {
  limits: GPUSupportedLimits;
  adapter: AdapterClass;
  slotStride: number;
  maxRingSlots: number;
  maxScheduleEntries: number;
  /** The resolved ring size. */
  maxPendingSteps: number;
}

function integer(value: unknown, field: string): number {
  configAssert(
    typeof value === 'number',
    field,
    () => `Invalid ${field}: ${describeValue(value)} (expected an integer)`,
  );
  return value;
}

function count(value: unknown, field: string): number {
  configAssert(
    typeof value === 'number' && Number.isInteger(value) && value >= 0,
    field,
    () => `Invalid ${field}: ${describeValue(value)} (expected an integer >= 0)`,
  );
  return value;
}

/**
 * The execution options. Their checks here are the type checks made before anything else; the ranges that depend
 * on the device's limits are checked in `resolveExecution`.
 */
export const EXECUTION_OPTIONS: OptionTable<ExecutionOptions, ExecutionContext> = {
  workgroupSize: { default: 256, check: integer, doc: 'Threads per workgroup: a power of two.' },
  maxPendingSteps: {
    default: computed('4096, or fewer (at least 256) when 4096 slots would take more than 4 MiB', (c) =>
      Math.min(
        RING_SLOTS_DEFAULT,
        c.maxRingSlots,
        Math.max(RING_SLOTS_MIN_DEFAULT, Math.floor(RING_BYTES_BUDGET / c.slotStride)),
      ),
    ),
    check: integer,
    doc: 'Slots of the per-call ring: how many recorded steps may await their submit.',
  },
  maxBindingBytes: {
    default: computed(
      "the device's maxStorageBufferBindingSize",
      (c) => c.limits.maxStorageBufferBindingSize,
    ),
    check: integer,
    doc: 'Largest byte size of one storage binding.',
  },
  stepTableLength: {
    default: STEP_TABLE_DEFAULT,
    check: integer,
    doc: 'Steps whose factors come from the float64 table; later ones are computed in f32.',
  },
  scheduleTableLength: {
    default: computed('maxPendingSteps + max(maxPendingSteps, 4096)', (c) =>
      Math.min(c.maxScheduleEntries, c.maxPendingSteps + Math.max(c.maxPendingSteps, SCHEDULE_SLACK)),
    ),
    check: integer,
    doc: "Entries of the GPU's schedule-factor table: how far the host's step count may run ahead.",
  },
  vectorize: { default: true, check: flag, doc: 'Use vec4 loads where offsets and lengths allow.' },
  tileShape: {
    default: computed("'narrow' on a CPU adapter, 'wide' on a GPU", (c) =>
      c.adapter === 'cpu' ? 'narrow' : 'wide',
    ),
    check: (value, field) => oneOf(value, TILE_SHAPE_NAMES, field),
    doc: "The batched kernel's tiles: 'narrow' (4 invocations × 32 elements) or 'wide' (64 × 4).",
  },
  soloElements: {
    default: computed('65536 on a CPU adapter, 1048576 on a GPU', (c) =>
      c.adapter === 'cpu' ? SOLO_ELEMENTS_CPU : SOLO_ELEMENTS_GPU,
    ),
    check: count,
    doc: 'Tensors at least this long get a dispatch of their own (up to soloDispatches).',
  },
  soloDispatches: { default: 16, check: count, doc: 'At most this many solo dispatches.' },
  roundStateToNearest: {
    default: false,
    check: flag,
    doc: 'bf16 moments round to nearest even, not stochastically (for a test only).',
  },
};

/**
 * A plain copy of the execution options with unknown names and wrong types rejected; the ranges that depend on
 * the device's limits are checked at creation.
 */
export function checkExecutionOptions(execution: unknown): ExecutionOptions {
  if (execution === undefined) return {};
  const keys = optionNames(EXECUTION_OPTIONS);
  assertKnownKeys(execution, keys, 'option', 'execution');
  const copy = snapshotKeys(execution as ExecutionOptions, keys, 'execution');
  for (const key of keys) {
    if (copy[key] !== undefined) EXECUTION_OPTIONS[key].check(copy[key], key);
  }
  return copy;
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
  tileShape: TileShape;
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

/** Bytes of GradControl's scalars and of one schedule entry: see contract.ts. */
export interface ControlSizes {
  controlBytes: number;
  scheduleEntryBytes: number;
}

export function resolveExecution(
  execution: ExecutionOptions,
  device: { limits: GPUSupportedLimits; adapter: AdapterClass },
  callBytes: number,
  control: ControlSizes,
): ResolvedExecution {
  const rows = EXECUTION_OPTIONS;
  const { limits, adapter } = device;
  const context: ExecutionContext = {
    limits,
    adapter,
    slotStride: 0,
    maxRingSlots: 0,
    maxScheduleEntries: 0,
    maxPendingSteps: 0,
  };
  const workgroupSize = execution.workgroupSize ?? defaultOf(rows.workgroupSize, context);
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
  context.slotStride = slotStride;
  context.maxRingSlots = maxRingSlots;
  const ringSlots = execution.maxPendingSteps ?? defaultOf(rows.maxPendingSteps, context);
  configAssert(
    Number.isInteger(ringSlots) && ringSlots >= 1 && ringSlots <= maxRingSlots,
    'maxPendingSteps',
    () =>
      `Invalid maxPendingSteps: ${ringSlots} (expected an integer in 1..${maxRingSlots}, ` +
      `the slots of ${slotStride} bytes that fit in one buffer)`,
  );
  const maxBindingBytes = execution.maxBindingBytes ?? defaultOf(rows.maxBindingBytes, context);
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
  context.maxScheduleEntries = maxScheduleEntries;
  context.maxPendingSteps = ringSlots;
  const scheduleTableLength = execution.scheduleTableLength ?? defaultOf(rows.scheduleTableLength, context);
  configAssert(
    Number.isInteger(scheduleTableLength) &&
      scheduleTableLength >= 1 &&
      scheduleTableLength <= maxScheduleEntries,
    'scheduleTableLength',
    () =>
      `Invalid scheduleTableLength: ${scheduleTableLength} (expected an integer in 1..${maxScheduleEntries})`,
  );
  const stepTableLength = execution.stepTableLength ?? defaultOf(rows.stepTableLength, context);
  configAssert(
    Number.isInteger(stepTableLength) && stepTableLength >= 0,
    'stepTableLength',
    () => `Invalid stepTableLength: ${stepTableLength} (expected an integer >= 0)`,
  );
  const tileShape = execution.tileShape ?? defaultOf(rows.tileShape, context);
  return {
    workgroupSize,
    tileShape,
    ringSlots,
    slotStride,
    epochStride: limits.minUniformBufferOffsetAlignment,
    scheduleTableLength,
    stepTableLength,
    roundStateToNearest: execution.roundStateToNearest ?? defaultOf(rows.roundStateToNearest, context),
    plan: {
      storageAlignment,
      maxBindingBytes,
      maxPageBytes: Math.min(limits.maxBufferSize, maxBindingBytes),
      stateElementBytes: STATE_ELEMENT_BYTES,
      workgroupSize,
      tileElements: tileElements(tileShape),
      vectorize: execution.vectorize ?? defaultOf(rows.vectorize, context),
      soloElements: execution.soloElements ?? defaultOf(rows.soloElements, context),
      soloDispatches: execution.soloDispatches ?? defaultOf(rows.soloDispatches, context),
    },
  };
}

/** The largest stepTableLength whose rows for every group fit in one storage binding. */
export function maxStepTableLength(maxBindingSize: number, groups: number, rowBytes: number): number {
  return Math.floor(maxBindingSize / (Math.max(1, groups) * rowBytes));
}

export function resolveTraining(training: TrainingOptions): ResolvedTraining {
  const { schedule, skipNonFinite, maxGradNorm, gradScale, stateFormat } = resolveTable(
    TRAINING_OPTIONS,
    training,
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
