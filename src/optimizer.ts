import {
  BufferBindingError,
  configAssert,
  describeValue,
  OptimizerConfigError,
  OptimizerStateError,
  WebGPURadamError,
} from './errors';
import { foldWorkgroups } from './grid';
import {
  CALL,
  callWords,
  GRAD_CONTROL,
  GROUP_CONFIG_WORDS,
  PREPARED_SLOT_BYTES,
  packGroupConfig,
  packStepTable,
  SCHEDULE_ENTRY_BYTES,
  SEGMENT_WORDS,
  STEP_FACTORS_WORDS,
  STEP_SCALARS_BYTES,
  TILE_WORDS,
} from './layouts';
import { validateGradScale, validateLearningRate, validateMaxGradNorm } from './options';
import { type CheckedParam, checkParams, type ParamSpec } from './params';
import { checkedComputePipeline, getBindGroupLayout } from './pipeline-cache';
import { type PlannedUnit, placeState, planUnits } from './plan';
import type { LrSchedule } from './schedules';
import { type ElementWidth, optimizerShaderSource } from './shaders';
import {
  type OptimizerState,
  STATE_FORMAT,
  STATE_FORMAT_VERSION,
  type StateHeader,
  stateHeaderProblem,
  type TensorStateHeader,
} from './state';
import {
  type GroupHyperParameters,
  largestStepFactor,
  MAX_STEP_COUNT,
  newStepInfo,
  type StepInfo,
  stepFactors,
} from './step-scalars';
import { lockReadOnlyFields, readOnlyView } from './views';

const F32_MAX = 3.4028234663852886e38;

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
}

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
}

/** One param group after validation: its resolved hyper-parameters and the tensors (global indices) it holds. */
export interface ResolvedGroup {
  hp: GroupHyperParameters;
  params: readonly ParamSpec[];
  /** Field name of each param for messages, e.g. `paramGroups[1].params[0]`. */
  fields: readonly string[];
}

/**
 * A param group of a live optimizer, as a read-only view of its live values. Assigning `lr` here or in
 * `hyperParameters` is validated like `optimizer.lr`; every other write, delete, redefinition or freeze of the
 * handle, `tensors` or `hyperParameters` throws an OptimizerConfigError and changes nothing. Spread them to get
 * a plain copy (`{ ...group.hyperParameters }`, `[...group.tensors]`); structuredClone() cannot copy views.
 */
export interface ParamGroupHandle {
  /** Base learning rate (before the schedule): a finite f32 >= 0. Changing it rebuilds nothing. */
  lr: number;
  /** Global indices of this group's tensors (the order of state dicts). */
  readonly tensors: readonly number[];
  readonly hyperParameters: Readonly<GroupHyperParameters>;
}

/** What a stats readback found: see FusedOptimizer.readGradStats(). */
export interface GradStats {
  /** Whether the last step saw a non-finite gradient (and was skipped). Only with skipNonFinite or maxGradNorm. */
  nonFinite: boolean;
  /** Global L2 norm of the unscaled gradients of the last step (NaN/Inf when non-finite). Needs skipNonFinite or maxGradNorm. */
  gradNorm: number;
  /** Optimizer steps taken, skipped ones excluded. */
  completedSteps: number;
  /** Per tensor: steps taken (torch's state['step']). */
  stepCounts: Uint32Array;
}

interface Unit {
  width: ElementWidth;
  workgroups: [number, number];
  /** `stepSegment` for a unit of one segment (uniform offsets and scalars), else the tiled `step`. */
  stepPipeline: GPUComputePipeline;
  stepBindGroup: GPUBindGroup;
  stepWorkgroups: [number, number];
  reduceBindGroup: GPUBindGroup | undefined;
}

/** What a half-built optimizer holds on the device, so that a failed creation can give it all back. */
interface Creation {
  buffers: GPUBuffer[];
  openScopes: number;
  /** What creation was doing, for the message of an unexpected platform error. */
  stage: string;
}

const BINDING_STAGE = 'binding the parameter and gradient buffers';

interface Pipelines {
  prepare: GPUComputePipeline;
  step: Record<ElementWidth, GPUComputePipeline | undefined>;
  stepSegment: Record<ElementWidth, GPUComputePipeline | undefined>;
  reduce: Record<ElementWidth, GPUComputePipeline | undefined>;
  finalize: GPUComputePipeline | undefined;
}

interface TensorState {
  name: string;
  length: number;
  page: number;
  /** In f32 elements from the start of the page. */
  offset: number;
}

const RING_SLOTS_DEFAULT = 4096;
const RING_SLOTS_MIN_DEFAULT = 256;
const RING_BYTES_BUDGET = 4 * 2 ** 20;
// Epochs the command stream can name (entries of the constant epoch buffer): an overwritten slot goes unnoticed
// only if it was overwritten exactly a multiple of 256 ring turns later, i.e. with ~10^6 steps pending.
const CALL_EPOCHS = 256;
// The schedule table holds twice the ring, and at least this many entries more than it: the host's step count
// may run that far ahead of the GPU's (steps skipped on the GPU, or never submitted, beyond those pending)
// before a step finds no schedule factor and is rejected.
const SCHEDULE_SLACK = 4096;
// Error scopes around recordings still waiting for their result; a loop that never yields stops adding more, so
// memory stays bounded (those steps are then recorded without the check).
const MAX_WATCHED_RECORDINGS = 256;
const STEP_TABLE_DEFAULT = 4096;

function storage(readOnly = false, dynamic = false, binding = 0): GPUBindGroupLayoutEntry {
  return {
    binding,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type: readOnly ? 'read-only-storage' : 'storage', hasDynamicOffset: dynamic },
  };
}

function layoutEntries(
  spec: [binding: number, readOnly: boolean, dynamic?: boolean][],
): GPUBindGroupLayoutEntry[] {
  return spec.map(([binding, readOnly, dynamic]) => storage(readOnly, dynamic ?? false, binding));
}

/**
 * The fused optimizer. Each step is one compute pass: (with gradient checks) a reduction over the gradients and a
 * one-workgroup finalize, a one-workgroup prepare dispatch for all tensors, and one step dispatch per batch of
 * tensors that share a param buffer, a grad buffer and a moment page (two when some tensors need a scalar tail).
 * Created through createRAdam / createAdam / createAdamW / createSGD.
 */
export class FusedOptimizer {
  /**
   * Optimizer steps recorded so far, minus those known to have been skipped or rejected: the last readback's GPU
   * count plus every step recorded since that the GPU had not yet run (see readGradStats()).
   */
  get stepCount(): number {
    return this.#completed;
  }

  /** What the last recorded step does for the first param group, as the host sees it (skips are found later). */
  get lastStep(): Readonly<StepInfo> {
    return this.#info;
  }

  /** Base learning rate of the first group; setting it sets every group's. Changing it rebuilds nothing. */
  get lr(): number {
    return this.#groups[0]?.hp.lr ?? 0;
  }
  set lr(value: number) {
    // Every group is checked before any changes: a value one group cannot take leaves all of them as they were.
    for (const group of this.#groups) validateLearningRate(value, 'lr', group.hp);
    const lr = validateLearningRate(value);
    for (const group of this.#groups) group.hp.lr = lr;
  }

  /** Loss scale the incoming gradients carry (divided out inside the step), in [2^-126, 2^126]. */
  get gradScale(): number {
    return this.#gradScale;
  }
  set gradScale(value: number) {
    this.#gradScale = validateGradScale(value);
  }

  /**
   * One read-only view per param group. `paramGroups[i].lr` (or `.hyperParameters.lr`) can be assigned and is
   * validated like `optimizer.lr`; any other write, delete or redefinition throws an OptimizerConfigError.
   */
  readonly paramGroups: readonly ParamGroupHandle[];
  /** Resolves when the optimizer's GPUDevice is lost; every later call throws an OptimizerStateError. */
  readonly deviceLost: Promise<GPUDeviceLostInfo>;
  /** Bytes of GPU memory this optimizer allocated (moments, tables, uniforms). */
  readonly byteSize: number;
  /** Dispatches recorded per step; independent of the number of tensors that share buffers. */
  readonly dispatchesPerStep: number;
  readonly name: string;
  readonly tensorCount: number;

  readonly #device: GPUDevice;
  readonly #groups: { hp: GroupHyperParameters }[];
  readonly #tensors: TensorState[];
  readonly #units: Unit[];
  readonly #pipelines: Pipelines;
  readonly #prepareBindGroup: GPUBindGroup;
  readonly #finalizeBindGroup: GPUBindGroup | undefined;
  readonly #expAvgPages: GPUBuffer[];
  readonly #expAvgSqPages: GPUBuffer[];
  readonly #stepCounts: GPUBuffer;
  readonly #control: GPUBuffer;
  readonly #ownedBuffers: GPUBuffer[];
  readonly #callRing: GPUBuffer;
  readonly #ringSlots: number;
  readonly #slotStride: number;
  readonly #epochStride: number;
  readonly #scheduleTableLength: number;
  readonly #callBytes: ArrayBuffer;
  readonly #callView: DataView;
  readonly #activeMask: Uint32Array;
  readonly #schedule: LrSchedule;
  /** Whether a schedule was given: without one every factor is 1 and the GPU needs no table entry. */
  readonly #scheduled: boolean;
  readonly #gradStats: boolean;
  readonly #maxGradNorm: number;
  readonly #info = newStepInfo();
  /** [call slot, expected epoch]: reduce and finalize bind only the first. */
  readonly #dynamicOffsets = new Uint32Array(2);
  readonly #scheduleEntry = new DataView(new ArrayBuffer(SCHEDULE_ENTRY_BYTES));
  readonly #stepsPerEncoder = new WeakMap<GPUCommandEncoder, number>();
  readonly #passLabel: string;
  readonly #passDescriptor: GPUComputePassDescriptor;
  #gradScale: number;
  /** Calls recorded so far, each owning ring slot serial % ringSlots. */
  #serial = 0;
  /** Calls recorded that run a prepare dispatch, minus those known to have failed to record. */
  #recordedCalls = 0;
  /** Bumped by loadStateDict(): steps recorded before it and submitted after it are dropped on the GPU. */
  #generation = 0;
  /** Recording checks still outstanding at the last loadStateDict(). */
  #checksBeforeLoad = 0;
  #completed = 0;
  #destroyed = false;
  #lost: GPUDeviceLostInfo | undefined;
  /** Why the GPU rejected steps (lost call data, no schedule entry); every step and readback then throws. */
  #halted: string | undefined;
  /** A recording that WebGPU rejected after step() returned; the next step or readback reports it once. */
  #recordingFailure: string | undefined;
  #watchedRecordings = 0;
  #lastWatch: Promise<void> = Promise.resolve();

  private constructor(init: {
    device: GPUDevice;
    name: string;
    groups: { hp: GroupHyperParameters; tensors: number[] }[];
    tensors: TensorState[];
    units: Unit[];
    pipelines: Pipelines;
    prepareBindGroup: GPUBindGroup;
    finalizeBindGroup: GPUBindGroup | undefined;
    expAvgPages: GPUBuffer[];
    expAvgSqPages: GPUBuffer[];
    stepCounts: GPUBuffer;
    control: GPUBuffer;
    ownedBuffers: GPUBuffer[];
    callRing: GPUBuffer;
    ringSlots: number;
    slotStride: number;
    epochStride: number;
    scheduleTableLength: number;
    scheduled: boolean;
    training: { schedule: LrSchedule; skipNonFinite: boolean; maxGradNorm: number; gradScale: number };
  }) {
    this.#device = init.device;
    this.name = init.name;
    this.#passLabel = `webgpu-radam ${init.name} step`;
    this.#passDescriptor = { label: this.#passLabel };
    this.#groups = init.groups;
    this.#tensors = init.tensors;
    this.#units = init.units;
    this.#pipelines = init.pipelines;
    this.#prepareBindGroup = init.prepareBindGroup;
    this.#finalizeBindGroup = init.finalizeBindGroup;
    this.#expAvgPages = init.expAvgPages;
    this.#expAvgSqPages = init.expAvgSqPages;
    this.#stepCounts = init.stepCounts;
    this.#control = init.control;
    this.#ownedBuffers = init.ownedBuffers;
    this.#callRing = init.callRing;
    this.#ringSlots = init.ringSlots;
    this.#slotStride = init.slotStride;
    this.#epochStride = init.epochStride;
    this.#scheduleTableLength = init.scheduleTableLength;
    this.#schedule = init.training.schedule;
    this.#scheduled = init.scheduled;
    this.#gradStats = init.training.skipNonFinite || init.training.maxGradNorm > 0;
    this.#maxGradNorm = init.training.maxGradNorm;
    this.#gradScale = init.training.gradScale;
    this.tensorCount = init.tensors.length;
    this.#activeMask = new Uint32Array(Math.ceil(init.tensors.length / 32)).fill(0xffffffff);
    this.#callBytes = new ArrayBuffer(callWords(init.groups.length, init.tensors.length) * 4);
    this.#callView = new DataView(this.#callBytes);
    this.dispatchesPerStep =
      (init.tensors.length > 0 ? 1 : 0) + init.units.length + (this.#gradStats ? init.units.length + 1 : 0);
    this.byteSize = init.ownedBuffers.reduce((sum, buffer) => sum + buffer.size, 0);
    this.paramGroups = readOnlyView(
      init.groups.map((group, index): ParamGroupHandle => {
        const where = `paramGroups[${index}]`;
        const hp = group.hp;
        const lrSetter = (field: string) => (value: unknown) => {
          hp.lr = validateLearningRate(value, field, hp);
        };
        const handle = {
          get lr() {
            return hp.lr;
          },
          tensors: readOnlyView([...group.tensors], `${where}.tensors`),
          hyperParameters: readOnlyView(hp, `${where}.hyperParameters`, {
            lr: lrSetter(`${where}.hyperParameters.lr`),
          }),
        };
        return readOnlyView(handle, where, { lr: lrSetter(`${where}.lr`) });
      }),
      'paramGroups',
    );
    this.deviceLost = init.device.lost.then((info) => {
      this.#lost = info;
      return info;
    });
    lockReadOnlyFields(this, [
      'paramGroups',
      'deviceLost',
      'byteSize',
      'dispatchesPerStep',
      'name',
      'tensorCount',
    ]);
  }

  /**
   * Validates everything, allocates zeroed moments, and builds every pipeline and bind group up front. Either
   * returns a working optimizer or throws a WebGPURadamError with every error scope it pushed popped and every
   * buffer it allocated destroyed, so a failure leaves the caller's device as it found it.
   */
  static async create(
    device: GPUDevice,
    name: string,
    hasSecondMoment: boolean,
    resolvedGroups: readonly ResolvedGroup[],
    training: TrainingOptions,
    execution: ExecutionOptions = {},
  ): Promise<FusedOptimizer> {
    const creation: Creation = { buffers: [], openScopes: 0, stage: 'validating its arguments' };
    try {
      return await FusedOptimizer.#build(
        device,
        name,
        hasSecondMoment,
        resolvedGroups,
        training,
        execution,
        creation,
      );
    } catch (error) {
      for (; creation.openScopes > 0; creation.openScopes--) {
        device.popErrorScope().catch(() => null);
      }
      for (const buffer of creation.buffers) buffer.destroy();
      if (error instanceof WebGPURadamError) throw error;
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      if (creation.stage === BINDING_STAGE) {
        throw new BufferBindingError(
          'params',
          `${name}: WebGPU could not bind the parameter and gradient buffers (${reason}); is every param and grad a GPUBuffer of this device?`,
          { cause: error },
        );
      }
      throw new OptimizerStateError(`${name}: WebGPU failed while ${creation.stage} (${reason})`, {
        cause: error,
      });
    }
  }

  static async #build(
    device: GPUDevice,
    name: string,
    hasSecondMoment: boolean,
    resolvedGroups: readonly ResolvedGroup[],
    training: TrainingOptions,
    execution: ExecutionOptions,
    creation: Creation,
  ): Promise<FusedOptimizer> {
    // create.ts's assertDevice has checked the device before anything else.
    const params = resolvedGroups.flatMap((group) => group.params);
    const checked: CheckedParam[] = checkParams(
      params,
      resolvedGroups.flatMap((group) => group.fields),
    );
    const limits = device.limits;
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
    const slotStride =
      Math.ceil((callWords(resolvedGroups.length, params.length) * 4) / storageAlignment) * storageAlignment;
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
    const maxScheduleEntries = Math.floor((limits.maxBufferSize - GRAD_CONTROL.bytes) / SCHEDULE_ENTRY_BYTES);
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
    const tableLength = execution.stepTableLength ?? STEP_TABLE_DEFAULT;
    configAssert(
      Number.isInteger(tableLength) && tableLength >= 0,
      'stepTableLength',
      () => `Invalid stepTableLength: ${tableLength} (expected an integer >= 0)`,
    );
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
    const gradStats = skipNonFinite || maxGradNorm > 0;

    const planLimits = {
      storageAlignment,
      maxBindingBytes,
      maxPageBytes: Math.min(limits.maxBufferSize, maxBindingBytes),
      workgroupSize,
      vectorize: execution.vectorize ?? true,
      soloElements: execution.soloElements ?? 65_536,
      soloDispatches: execution.soloDispatches ?? 16,
    };
    const { placements, pageElements } = placeState(checked, planLimits);
    const planned: PlannedUnit[] = planUnits(checked, placements, planLimits);

    const label = `webgpu-radam ${name}`;
    const ownedBuffers = creation.buffers;
    const pushScope = () => {
      device.pushErrorScope('validation');
      creation.openScopes++;
    };
    const popScope = () => {
      creation.openScopes--;
      return device.popErrorScope();
    };
    creation.stage = 'allocating its buffers';
    const allocate = (suffix: string, size: number, usage: number, data?: ArrayBuffer): GPUBuffer => {
      const buffer = device.createBuffer({
        label: `${label} ${suffix}`,
        size: Math.max(16, Math.ceil(size / 4) * 4),
        usage,
        mappedAtCreation: data !== undefined,
      });
      if (data) {
        new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data));
        buffer.unmap();
      }
      ownedBuffers.push(buffer);
      return buffer;
    };
    const STORAGE = GPUBufferUsage.STORAGE;
    const stateUsage = STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

    // createBuffer zero-fills, which is the moments' initial state.
    const expAvgPages = pageElements.map((elements, page) =>
      allocate(`exp_avg page ${page}`, elements * 4, stateUsage),
    );
    const expAvgSqPages = hasSecondMoment
      ? pageElements.map((elements, page) => allocate(`exp_avg_sq page ${page}`, elements * 4, stateUsage))
      : [];
    const placeholder = hasSecondMoment ? undefined : allocate('unused exp_avg_sq', 16, STORAGE);

    const tensorCount = checked.length;
    const groupOf: number[] = [];
    resolvedGroups.forEach((group, index) => {
      for (let i = 0; i < group.params.length; i++) groupOf.push(index);
    });
    const tensorGroups = allocate(
      'tensor groups',
      tensorCount * 4,
      STORAGE,
      Uint32Array.from(groupOf).buffer,
    );
    const configBytes = new ArrayBuffer(resolvedGroups.length * GROUP_CONFIG_WORDS * 4);
    const tableBytes = new ArrayBuffer(
      Math.max(16, resolvedGroups.length * tableLength * STEP_FACTORS_WORDS * 4),
    );
    resolvedGroups.forEach((group, index) => {
      const tableStart = index * tableLength;
      packGroupConfig(
        group.hp,
        tableStart,
        tableLength,
        new DataView(configBytes),
        index * GROUP_CONFIG_WORDS * 4,
      );
      packStepTable(group.hp, tableLength, new DataView(tableBytes), tableStart * STEP_FACTORS_WORDS * 4);
    });
    const groupConfigs = allocate('group configs', configBytes.byteLength, STORAGE, configBytes);
    const stepTable = allocate('step table', tableBytes.byteLength, STORAGE, tableBytes);
    const stepCounts = allocate('step counts', tensorCount * 4, stateUsage);
    const prepared = allocate(
      'prepared scalars',
      tensorCount * PREPARED_SLOT_BYTES,
      STORAGE | GPUBufferUsage.UNIFORM,
    );
    const callRing = allocate('call slots', slotStride * ringSlots, STORAGE | GPUBufferUsage.COPY_DST);
    // Entry k, k uniform offset alignments in, holds k: a dynamic offset into it tells prepare which epoch to expect.
    const epochStride = limits.minUniformBufferOffsetAlignment;
    const epochWords = new Uint32Array((CALL_EPOCHS * epochStride) / 4);
    for (let epoch = 0; epoch < CALL_EPOCHS; epoch++) epochWords[(epoch * epochStride) / 4] = epoch;
    const callEpochs = allocate(
      'call epochs',
      epochWords.byteLength,
      GPUBufferUsage.UNIFORM,
      epochWords.buffer,
    );
    const control = allocate(
      'control',
      GRAD_CONTROL.bytes + scheduleTableLength * SCHEDULE_ENTRY_BYTES,
      stateUsage,
    );

    // Every unit's segments, tiles and partial sums live in one buffer each, runs starting on alignment boundaries.
    const segmentTable = packRuns(
      planned.map((unit) =>
        unit.segments.map((g) => [g.start, g.paramOffset, g.gradOffset, g.stateOffset, g.count, g.tensor]),
      ),
      SEGMENT_WORDS,
      // Single-segment units bind their segment as a uniform.
      Math.max(storageAlignment, limits.minUniformBufferOffsetAlignment),
    );
    const tileTable = packRuns(
      planned.map((unit) => unit.tiles.map((t) => [t.start, t.count, t.firstSegment, t.segmentCount])),
      TILE_WORDS,
      storageAlignment,
    );
    const partialRuns = packRuns(
      planned.map((unit) => unit.tiles.map(() => [0])),
      1,
      storageAlignment,
    );
    const segments = allocate(
      'segments',
      segmentTable.words.byteLength,
      STORAGE | GPUBufferUsage.UNIFORM,
      segmentTable.words.buffer,
    );
    const tiles = allocate('tiles', tileTable.words.byteLength, STORAGE, tileTable.words.buffer);
    const partials = gradStats ? allocate('partial sums', partialRuns.words.byteLength, STORAGE) : undefined;
    const run = (table: PackedRuns, index: number, words: number, count: number, buffer: GPUBuffer) => ({
      buffer,
      offset: table.starts[index]! * words * 4,
      size: count * words * 4,
    });

    creation.stage = 'compiling its pipelines';
    const prepareLayout = getBindGroupLayout(device, 'optimizer-prepare', [
      ...layoutEntries([
        [0, true],
        [1, true],
        [2, true],
        [3, false],
        [4, false],
        [5, true, true],
        [6, false],
      ]),
      {
        binding: 16,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: 'uniform', hasDynamicOffset: true },
      },
    ]);
    const stepLayout = getBindGroupLayout(
      device,
      'optimizer-step',
      layoutEntries([
        [8, false],
        [9, true],
        [10, false],
        [11, false],
        [12, true],
        [13, true],
        [14, true],
      ]),
    );
    const stepSegmentLayout = getBindGroupLayout(device, 'optimizer-step-segment', [
      ...layoutEntries([
        [8, false],
        [9, true],
        [10, false],
        [11, false],
      ]),
      { binding: 7, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      { binding: 15, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
    ]);
    const reduceLayout = getBindGroupLayout(
      device,
      'optimizer-reduce',
      layoutEntries([
        [5, true, true],
        [6, false],
        [9, true],
        [12, true],
        [14, true],
        [18, false],
      ]),
    );
    const finalizeLayout = getBindGroupLayout(
      device,
      'optimizer-finalize',
      layoutEntries([
        [5, true, true],
        [6, false],
        [18, false],
      ]),
    );
    const constants = {
      WORKGROUP_SIZE: workgroupSize,
      HAS_SECOND_MOMENT: hasSecondMoment ? 1 : 0,
      GRAD_STATS: gradStats ? 1 : 0,
    };
    const keySuffix = `wg=${workgroupSize}|m2=${hasSecondMoment}|stats=${gradStats}`;
    const pipeline = (entryPoint: string, width: ElementWidth, layout: GPUBindGroupLayout) =>
      checkedComputePipeline(device, {
        key: `optimizer|${entryPoint}|width=${width}|${keySuffix}`,
        code: optimizerShaderSource(width),
        entryPoint,
        layout,
        constants,
      });
    const single = (unit: PlannedUnit) => unit.segments.length === 1;
    const widthsOf = (units: PlannedUnit[]) => new Set(units.map((unit) => unit.width));
    const widths = widthsOf(planned);
    const tiledWidths = widthsOf(planned.filter((unit) => !single(unit)));
    const segmentWidths = widthsOf(planned.filter(single));
    const optional = (
      width: ElementWidth,
      entry: string,
      layout: GPUBindGroupLayout,
      needed: boolean,
      among = widths,
    ) => (needed && among.has(width) ? pipeline(entry, width, layout) : undefined);
    const pipelines: Pipelines = {
      prepare: await pipeline('prepare', 1, prepareLayout),
      step: {
        1: await optional(1, 'step', stepLayout, true, tiledWidths),
        4: await optional(4, 'step', stepLayout, true, tiledWidths),
      },
      stepSegment: {
        1: await optional(1, 'stepSegment', stepSegmentLayout, true, segmentWidths),
        4: await optional(4, 'stepSegment', stepSegmentLayout, true, segmentWidths),
      },
      reduce: {
        1: await optional(1, 'reduceGrads', reduceLayout, gradStats),
        4: await optional(4, 'reduceGrads', reduceLayout, gradStats),
      },
      finalize: gradStats ? await pipeline('finalizeGradStats', 1, finalizeLayout) : undefined,
    };

    creation.stage = BINDING_STAGE;
    pushScope();
    const callBinding = {
      buffer: callRing,
      offset: 0,
      size: callWords(resolvedGroups.length, tensorCount) * 4,
    };
    const prepareBindGroup = device.createBindGroup({
      label: `${label} prepare`,
      layout: prepareLayout,
      entries: [
        { binding: 0, resource: { buffer: tensorGroups, size: Math.max(4, tensorCount * 4) } },
        { binding: 1, resource: { buffer: groupConfigs, size: configBytes.byteLength } },
        { binding: 2, resource: { buffer: stepTable } },
        { binding: 3, resource: { buffer: stepCounts } },
        { binding: 4, resource: { buffer: prepared } },
        { binding: 5, resource: callBinding },
        { binding: 6, resource: { buffer: control } },
        { binding: 16, resource: { buffer: callEpochs, offset: 0, size: 16 } },
      ],
    });
    const finalizeBindGroup =
      partials &&
      device.createBindGroup({
        label: `${label} finalize`,
        layout: finalizeLayout,
        entries: [
          { binding: 5, resource: callBinding },
          { binding: 6, resource: { buffer: control } },
          { binding: 18, resource: { buffer: partials, size: Math.max(4, partialRuns.total * 4) } },
        ],
      });
    const preparedBinding = { buffer: prepared, size: Math.max(1, tensorCount) * PREPARED_SLOT_BYTES };
    const units: Unit[] = planned.map((unit, index) => {
      const tileBinding = run(tileTable, index, TILE_WORDS, unit.tiles.length, tiles);
      const segmentBinding = run(segmentTable, index, SEGMENT_WORDS, unit.segments.length, segments);
      const stateEntry = (page: GPUBuffer) => ({
        buffer: page,
        offset: unit.stateWindow.offset,
        size: unit.stateWindow.size,
      });
      const gradEntry = { buffer: unit.grad, offset: unit.gradWindow.offset, size: unit.gradWindow.size };
      const paramEntry = { buffer: unit.param, offset: unit.paramWindow.offset, size: unit.paramWindow.size };
      const momentEntries = [
        { binding: 10, resource: stateEntry(expAvgPages[unit.page]!) },
        {
          binding: 11,
          resource: placeholder ? { buffer: placeholder } : stateEntry(expAvgSqPages[unit.page]!),
        },
      ];
      const onlySegment = single(unit) ? unit.segments[0]! : undefined;
      const stepBindGroup = onlySegment
        ? device.createBindGroup({
            label: `${label} step unit ${index} (one segment, x${unit.width})`,
            layout: stepSegmentLayout,
            entries: [
              { binding: 8, resource: paramEntry },
              { binding: 9, resource: gradEntry },
              ...momentEntries,
              {
                binding: 7,
                resource: {
                  buffer: prepared,
                  offset: onlySegment.tensor * PREPARED_SLOT_BYTES,
                  size: STEP_SCALARS_BYTES,
                },
              },
              { binding: 15, resource: { ...segmentBinding, size: SEGMENT_WORDS * 4 } },
            ],
          })
        : device.createBindGroup({
            label: `${label} step unit ${index} (${unit.segments.length} segments, x${unit.width})`,
            layout: stepLayout,
            entries: [
              { binding: 8, resource: paramEntry },
              { binding: 9, resource: gradEntry },
              ...momentEntries,
              { binding: 12, resource: tileBinding },
              { binding: 13, resource: preparedBinding },
              { binding: 14, resource: segmentBinding },
            ],
          });
      const reduceBindGroup =
        partials &&
        device.createBindGroup({
          label: `${label} grad stats unit ${index}`,
          layout: reduceLayout,
          entries: [
            { binding: 5, resource: callBinding },
            { binding: 6, resource: { buffer: control } },
            { binding: 9, resource: gradEntry },
            { binding: 12, resource: tileBinding },
            { binding: 14, resource: segmentBinding },
            { binding: 18, resource: run(partialRuns, index, 1, unit.tiles.length, partials) },
          ],
        });
      const maxPerDimension = limits.maxComputeWorkgroupsPerDimension;
      return {
        width: unit.width,
        workgroups: foldWorkgroups(unit.tiles.length, maxPerDimension),
        stepPipeline: (onlySegment ? pipelines.stepSegment : pipelines.step)[unit.width]!,
        stepBindGroup,
        stepWorkgroups: onlySegment
          ? foldWorkgroups(Math.ceil(onlySegment.count / workgroupSize), maxPerDimension)
          : foldWorkgroups(unit.tiles.length, maxPerDimension),
        reduceBindGroup,
      };
    });
    // Without gradient checks nothing else writes the clip factor: start with "no skip, clip factor 1".
    const initialControl = new DataView(new ArrayBuffer(GRAD_CONTROL.bytes));
    initialControl.setFloat32(GRAD_CONTROL.clipFactor, 1, true);
    device.queue.writeBuffer(control, 0, initialControl.buffer);
    const creationError = await popScope();
    if (creationError) {
      throw new BufferBindingError(
        'params',
        `WebGPU rejected the optimizer's bindings: ${creationError.message}`,
      );
    }
    // Bind groups may reference destroyed buffers or buffers of another device without complaint; a submit that
    // uses them does not. Binding each unit in an empty pass surfaces that now, naming a tensor.
    const probe = await probeBindGroups(
      device,
      units.map((unit) => unit.stepBindGroup),
      units.map((unit) => unit.stepPipeline),
      pushScope,
      popScope,
    );
    if (probe) {
      const unitSegments = planned[probe.index]!.segments;
      const names = [...new Set(unitSegments.map((segment) => checked[segment.tensor]!.name))]
        .slice(0, 3)
        .join(', ');
      throw new BufferBindingError(
        'params',
        `${names}: a param or grad buffer cannot be used (destroyed, or from another device?): ${probe.message}`,
      );
    }
    const groups = resolvedGroups.map((group, index) => ({
      hp: group.hp,
      tensors: groupOf.flatMap((g, tensor) => (g === index ? [tensor] : [])),
    }));
    return new FusedOptimizer({
      device,
      name,
      groups,
      tensors: checked.map((p, i) => ({
        name: p.name,
        length: p.length,
        page: placements[i]!.page,
        offset: placements[i]!.offset,
      })),
      units,
      pipelines,
      prepareBindGroup,
      finalizeBindGroup,
      expAvgPages,
      expAvgSqPages,
      stepCounts,
      control,
      ownedBuffers,
      callRing,
      ringSlots,
      slotStride,
      epochStride,
      scheduleTableLength,
      scheduled: training.schedule !== undefined,
      training: { schedule, skipNonFinite, maxGradNorm, gradScale },
    });
  }

  #assertUsable(): void {
    if (this.#destroyed) throw new OptimizerStateError(`${this.name}: used after destroy()`);
    if (this.#lost) {
      throw new OptimizerStateError(
        `${this.name}: its GPUDevice was lost (${this.#lost.reason}: ${this.#lost.message}); ` +
          'create a new optimizer on a new device and loadStateDict() the last saved state',
      );
    }
  }

  /** Marks a tensor as having (or not having) a gradient: inactive tensors are left untouched by step(). */
  setActive(tensor: number, active: boolean): void {
    this.#assertUsable();
    this.#assertTensorIndex(tensor);
    // Truthiness would read 'no' or 'false' as true.
    configAssert(
      typeof active === 'boolean',
      'active',
      () => `Invalid active: ${describeValue(active)} (expected true or false)`,
    );
    const bit = 1 << (tensor % 32);
    const word = tensor >> 5;
    this.#activeMask[word] = active ? this.#activeMask[word]! | bit : this.#activeMask[word]! & ~bit;
  }

  /** Whether tensor `tensor` takes part in the next step (see `setActive`). */
  isActive(tensor: number): boolean {
    this.#assertTensorIndex(tensor);
    return ((this.#activeMask[tensor >> 5]! >>> (tensor % 32)) & 1) === 1;
  }

  #assertTensorIndex(tensor: unknown): asserts tensor is number {
    configAssert(
      typeof tensor === 'number' && Number.isInteger(tensor) && tensor >= 0 && tensor < this.tensorCount,
      'tensor',
      () =>
        `Invalid tensor index: ${describeValue(tensor)} (expected an integer in 0..${this.tensorCount - 1})`,
    );
  }

  /**
   * The schedule's factor after `count` completed steps, checked as the GPU will use it: a number that is finite
   * and >= 0 in f32, whose f32 product with every group's lr (and, with decoupled decay, with its weight decay) is
   * finite too.
   */
  #scheduleFactor(count: number): number {
    let factor: unknown;
    try {
      factor = this.#schedule(count);
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
    for (let g = 0; g < this.#groups.length; g++) {
      const hp = this.#groups[g]!.hp;
      // The products the GPU forms in f32 from this lr: lr·factor, times 1/bc1 (largest at step 1), times the
      // decoupled weight decay. Any that overflows would turn parameters into ±Infinity.
      const lr = Math.fround(Math.fround(hp.lr) * Math.fround(factor));
      const decay = hp.kind !== 'sgd' && hp.decoupledWeightDecay ? Math.fround(hp.weightDecay) : 0;
      const bound = Math.fround(largestStepFactor(hp));
      const fits = (scaled: number) =>
        Number.isFinite(Math.fround(scaled * bound)) && Number.isFinite(Math.fround(scaled * decay));
      if (fits(lr)) continue;
      const lrAlone = fits(Math.fround(hp.lr));
      throw new OptimizerConfigError(
        lrAlone ? 'schedule' : this.#groups.length > 1 ? `paramGroups[${g}].lr` : 'lr',
        `Invalid ${lrAlone ? `schedule factor ${factor} at count ${count}` : `lr ${hp.lr}`}: ` +
          `paramGroups[${g}]'s lr ${hp.lr} × schedule factor ${factor}` +
          `${bound !== 1 ? ` × 1/(1 - beta1) ${bound}` : ''}${decay > 0 ? ` (or × weightDecay ${hp.weightDecay})` : ''} ` +
          `overflows f32 (max ${F32_MAX})`,
      );
    }
    return factor;
  }

  /**
   * Records one optimizer step into `encoder`; nothing runs until the caller submits it. Writes this step's
   * per-call data into its own ring slot, so steps recorded before their submits (into one encoder or several,
   * submitted in any order) each see their own values; see ExecutionOptions.maxPendingSteps for the limit.
   * `timestampWrites` (device with 'timestamp-query') brackets the step's single compute pass, for profiling.
   * Bad arguments throw before anything changes; the host's step count moves only once the step is recorded.
   */
  step(encoder: GPUCommandEncoder, timestampWrites?: GPUComputePassTimestampWrites): void {
    this.#record(encoder, timestampWrites, true);
  }

  /** `watch`: check for validation errors the encoder raises (a caller's encoder may already be finished). */
  #record(
    encoder: GPUCommandEncoder,
    timestampWrites: GPUComputePassTimestampWrites | undefined,
    watch: boolean,
  ): void {
    this.#assertUsable();
    this.#assertRunning();
    configAssert(
      isCommandEncoder(encoder),
      'encoder',
      () => `${this.name}.step: expected a GPUCommandEncoder, got ${describeValue(encoder)}`,
    );
    checkTimestampWrites(timestampWrites, this.name);
    const recorded = this.#stepsPerEncoder.get(encoder) ?? 0;
    if (recorded >= this.#ringSlots) {
      throw new OptimizerStateError(
        `${this.name}: ${recorded} steps are already recorded into this command encoder; submit it first ` +
          `(or raise maxPendingSteps, now ${this.#ringSlots})`,
      );
    }
    const step = this.#completed + 1;
    if (step > MAX_STEP_COUNT) {
      throw new OptimizerStateError(
        `${this.name}: step ${step} would pass the largest step count, ${MAX_STEP_COUNT}`,
      );
    }
    // A schedule that throws or returns garbage must leave everything unchanged: evaluate it first. It sees the
    // count of steps completed before this one (torch LambdaLR, optax); the GPU takes the entry tagged with the
    // step it actually runs as, so skipped steps do not advance the schedule.
    const scheduleFactor = this.#scheduleFactor(step - 1);
    if (this.tensorCount > 0) {
      const serial = this.#serial;
      const slotOffset = (serial % this.#ringSlots) * this.#slotStride;
      const epoch = Math.floor(serial / this.#ringSlots) % CALL_EPOCHS;
      this.#packCall(epoch);
      this.#dynamicOffsets[0] = slotOffset;
      this.#dynamicOffsets[1] = epoch * this.#epochStride;
      this.#encode(encoder, timestampWrites, watch);
      // Queue writes take effect before any later submit, so before this encoder's.
      const queue = this.#device.queue;
      queue.writeBuffer(this.#callRing, slotOffset, this.#callBytes);
      if (this.#scheduled) {
        this.#scheduleEntry.setUint32(0, step, true);
        this.#scheduleEntry.setFloat32(4, scheduleFactor, true);
        const entryOffset = GRAD_CONTROL.bytes + (step % this.#scheduleTableLength) * SCHEDULE_ENTRY_BYTES;
        queue.writeBuffer(this.#control, entryOffset, this.#scheduleEntry.buffer);
      }
      this.#serial = serial + 1;
      this.#recordedCalls++;
    }
    this.#stepsPerEncoder.set(encoder, recorded + 1);
    this.#completed = step;
    this.#describe(step, scheduleFactor);
  }

  #packCall(epoch: number): void {
    const view = this.#callView;
    view.setFloat32(CALL.invScale * 4, 1 / this.#gradScale, true);
    view.setFloat32(CALL.maxNorm * 4, this.#maxGradNorm, true);
    view.setUint32(CALL.maskStart * 4, CALL.groupLr + this.#groups.length, true);
    view.setUint32(CALL.epoch * 4, epoch, true);
    view.setUint32(CALL.scheduled * 4, this.#scheduled ? 1 : 0, true);
    view.setUint32(CALL.generation * 4, this.#generation, true);
    // Plain loops: step() is the hot path and allocates nothing, not even callbacks.
    for (let g = 0; g < this.#groups.length; g++) {
      view.setFloat32((CALL.groupLr + g) * 4, this.#groups[g]!.hp.lr, true);
    }
    const maskStart = (CALL.groupLr + this.#groups.length) * 4;
    for (let w = 0; w < this.#activeMask.length; w++) {
      view.setUint32(maskStart + w * 4, this.#activeMask[w]!, true);
    }
  }

  #encode(
    encoder: GPUCommandEncoder,
    timestampWrites: GPUComputePassTimestampWrites | undefined,
    watch: boolean,
  ): void {
    const device = this.#device;
    // Recording into a finished encoder raises a device error, not an exception: an error scope catches it and
    // #onRecordingChecked takes the step back. A loop that never yields stops watching at the cap.
    const watched = watch && this.#watchedRecordings < MAX_WATCHED_RECORDINGS;
    if (watched) device.pushErrorScope('validation');
    let pass: GPUComputePassEncoder | undefined;
    let open = false;
    try {
      if (this.#gradStats) encoder.clearBuffer(this.#control, GRAD_CONTROL.nonFinite, 4);
      // The optimizer's whole step is this one pass, so a caller's timestamps bracket exactly the step.
      pass = encoder.beginComputePass(
        timestampWrites ? { label: this.#passLabel, timestampWrites } : this.#passDescriptor,
      );
      open = true;
      if (this.#gradStats) {
        for (const unit of this.#units) {
          pass.setPipeline(this.#pipelines.reduce[unit.width]!);
          pass.setBindGroup(0, unit.reduceBindGroup!, this.#dynamicOffsets, 0, 1);
          pass.dispatchWorkgroups(unit.workgroups[0], unit.workgroups[1]);
        }
        pass.setPipeline(this.#pipelines.finalize!);
        pass.setBindGroup(0, this.#finalizeBindGroup!, this.#dynamicOffsets, 0, 1);
        pass.dispatchWorkgroups(1);
      }
      pass.setPipeline(this.#pipelines.prepare);
      pass.setBindGroup(0, this.#prepareBindGroup, this.#dynamicOffsets, 0, 2);
      pass.dispatchWorkgroups(1);
      let current: GPUComputePipeline | undefined;
      for (const unit of this.#units) {
        const pipeline = unit.stepPipeline;
        if (pipeline !== current) {
          pass.setPipeline(pipeline);
          current = pipeline;
        }
        pass.setBindGroup(0, unit.stepBindGroup);
        pass.dispatchWorkgroups(unit.stepWorkgroups[0], unit.stepWorkgroups[1]);
      }
      open = false;
      pass.end();
    } catch (error) {
      if (watched) device.popErrorScope().catch(() => null);
      // Leave the caller's encoder usable for their own work.
      if (open) pass?.end();
      throw new OptimizerConfigError(
        'encoder',
        `${this.name}.step: the command encoder refused the step (${describeError(error)}); it was not counted`,
        { cause: error },
      );
    }
    if (watched) {
      this.#watchedRecordings++;
      this.#lastWatch = device.popErrorScope().then(this.#onRecordingChecked, this.#onRecordingUnchecked);
    }
  }

  // Bound once: watching a recording allocates no closure.
  readonly #onRecordingChecked = (error: GPUError | null): void => {
    this.#watchedRecordings--;
    // Checks resolve in recording order; those of steps recorded before a loadStateDict() concern a count that
    // the load has already replaced.
    if (this.#checksBeforeLoad > 0) {
      this.#checksBeforeLoad--;
      return;
    }
    if (error === null || this.#destroyed) return;
    // That step never runs: take it back as if it had never been recorded.
    this.#recordedCalls--;
    this.#completed--;
    this.#recordingFailure ??=
      `${this.name}.step: a step was recorded into a command encoder that WebGPU refused ` +
      `(${error.message.split('\n')[0]}); that step never runs and is no longer counted`;
    this.#redescribe();
  };

  readonly #onRecordingUnchecked = (): void => {
    this.#watchedRecordings--;
    if (this.#checksBeforeLoad > 0) this.#checksBeforeLoad--;
  };

  /** Refuses to go on after the GPU rejected steps, and reports (once) a recording WebGPU refused. */
  #assertRunning(): void {
    if (this.#halted !== undefined) throw new OptimizerStateError(this.#halted);
    const failure = this.#recordingFailure;
    if (failure !== undefined) {
      this.#recordingFailure = undefined;
      throw new OptimizerStateError(failure);
    }
  }

  #redescribe(): void {
    if (this.#completed <= 0) {
      Object.assign(this.#info, newStepInfo());
      return;
    }
    try {
      this.#describe(this.#completed, this.#scheduleFactor(this.#completed - 1));
    } catch {
      // A schedule that fails here failed (and threw) for this step when it was recorded: keep what is there.
    }
  }

  /** `scheduleFactor` is this step's, already evaluated for the GPU: the schedule runs once per step. */
  #describe(step: number, scheduleFactor: number): void {
    const group = this.#groups[0];
    const info = this.#info;
    info.step = step;
    if (!group) return;
    const factors = stepFactors(group.hp, step);
    info.lr = group.hp.lr * scheduleFactor;
    info.branch = factors.branch;
    info.bc1 = factors.bc1;
    info.bc2 = factors.bc2;
    info.rhoT = factors.rhoT;
    info.rect = factors.rect;
  }

  /** Records one step into a fresh encoder and submits it. */
  stepAndSubmit(): void {
    this.#assertUsable();
    const encoder = this.#device.createCommandEncoder({ label: `webgpu-radam ${this.name} step` });
    this.#record(encoder, undefined, false);
    this.#device.queue.submit([encoder.finish()]);
  }

  /**
   * Reads the gradient statistics of the last step the GPU ran and every tensor's step count back (one copy,
   * asynchronously; nothing waits on the GPU meanwhile). It also resynchronises stepCount: the GPU's count plus
   * the steps recorded that the GPU had not run yet (encoders not yet submitted), so it may be called at any
   * time. Do so at least every 4096 skipped steps when skipNonFinite is on. Rejects with an OptimizerStateError
   * when the GPU had to reject steps (see ExecutionOptions.maxPendingSteps) or the device is lost meanwhile.
   */
  async readGradStats(): Promise<GradStats> {
    const [controlBytes, counts] = await this.#readBack('readGradStats', [
      { buffer: this.#control, size: GRAD_CONTROL.bytes },
      { buffer: this.#stepCounts, size: Math.max(4, this.tensorCount * 4) },
    ]);
    const view = new DataView(controlBytes!);
    const completed = this.#settle(view);
    return {
      nonFinite: view.getUint32(GRAD_CONTROL.nonFinite, true) !== 0,
      gradNorm: this.#gradStats ? view.getFloat32(GRAD_CONTROL.gradNorm, true) : Number.NaN,
      completedSteps: completed,
      stepCounts: new Uint32Array(counts!, 0, this.tensorCount),
    };
  }

  /**
   * Reads every tensor's moments and step count back (asynchronously, one consistent snapshot of the steps
   * submitted so far) into a state whose header uses torch's names (exp_avg, exp_avg_sq, step).
   * serializeState() turns it into bytes; loadStateDict() restores it. Resynchronises stepCount and rejects like
   * readGradStats().
   */
  async stateDict(): Promise<OptimizerState> {
    const pageCount = this.#expAvgPages.length;
    const [countBytes, controlBytes, ...pageBytes] = await this.#readBack('stateDict', [
      { buffer: this.#stepCounts, size: Math.max(4, this.tensorCount * 4) },
      { buffer: this.#control, size: GRAD_CONTROL.bytes },
      ...[...this.#expAvgPages, ...this.#expAvgSqPages].map((page) => ({ buffer: page, size: page.size })),
    ]);
    const completed = this.#settle(new DataView(controlBytes!));
    const counts = new Uint32Array(countBytes!);
    const expAvg = pageBytes.slice(0, pageCount).map((bytes) => new Float32Array(bytes));
    const expAvgSq = pageBytes.slice(pageCount).map((bytes) => new Float32Array(bytes));
    const total = this.#tensors.reduce((sum, t) => sum + t.length, 0);
    const payload = new Float32Array(total * (expAvgSq.length > 0 ? 2 : 1));
    let offset = 0;
    const take = (pageData: Float32Array, tensor: TensorState) => {
      payload.set(pageData.subarray(tensor.offset, tensor.offset + tensor.length), offset);
      offset += tensor.length;
      return offset - tensor.length;
    };
    const tensors: TensorStateHeader[] = this.#tensors.map((tensor, i) => {
      const entry: TensorStateHeader = {
        name: tensor.name,
        length: tensor.length,
        step: counts[i]!,
        exp_avg: take(expAvg[tensor.page]!, tensor),
      };
      if (expAvgSq.length > 0) entry.exp_avg_sq = take(expAvgSq[tensor.page]!, tensor);
      return entry;
    });
    const header: StateHeader = {
      format: STATE_FORMAT,
      version: STATE_FORMAT_VERSION,
      optimizer: this.name,
      step: completed,
      paramGroups: this.paramGroups.map((group) => ({ lr: group.lr, params: [...group.tensors] })),
      tensors,
    };
    return { header, payload };
  }

  /** Copies `regions` in one submit, so they are one snapshot, and wraps any failure into a typed error. */
  async #readBack(method: string, regions: readonly ReadRegion[]): Promise<ArrayBuffer[]> {
    this.#assertUsable();
    this.#assertRunning();
    let data: ArrayBuffer[];
    try {
      data = await readBackRegions(this.#device, regions);
    } catch (error) {
      throw new OptimizerStateError(
        `${this.name}.${method}: the readback failed (${describeError(error)}), usually because the GPUDevice ` +
          'was lost or destroyed meanwhile (see deviceLost)',
        { cause: error },
      );
    }
    // Every step recorded before this readback has had its recording checked by now.
    await this.#lastWatch;
    this.#assertRunning();
    return data;
  }

  /**
   * Brings the host's step count up to date with a readback of the control words and returns the GPU's count of
   * completed steps; throws once the GPU has rejected steps.
   */
  #settle(control: DataView): number {
    // Without tensors nothing runs on the GPU: the host's count is the only one.
    if (this.tensorCount === 0) return this.#completed;
    const completed = control.getUint32(GRAD_CONTROL.completedSteps, true);
    const executed = control.getUint32(GRAD_CONTROL.executedCalls, true);
    // Steps recorded but not run by the time of the copy (their encoders submitted later, or not yet) still
    // count: forgetting them would hand later steps the wrong schedule factor and step number.
    const pending = (((this.#recordedCalls - executed) % 2 ** 32) + 2 ** 32) % 2 ** 32;
    this.#completed = completed + pending;
    const lost = control.getUint32(GRAD_CONTROL.lostCalls, true);
    const unscheduled = control.getUint32(GRAD_CONTROL.unscheduledCalls, true);
    if (lost === 0 && unscheduled === 0) return completed;
    const causes: string[] = [];
    if (lost > 0) {
      causes.push(
        `${lost} step(s) were still in unsubmitted command encoders when ${this.#ringSlots} later steps had been ` +
          `recorded, which reuses their per-call slots: at most maxPendingSteps (${this.#ringSlots}) steps may ` +
          'be recorded ahead of their submits',
      );
    }
    if (unscheduled > 0) {
      causes.push(
        `${unscheduled} step(s) found no schedule factor: the host's step count and the GPU's drifted more than ` +
          `${this.#scheduleTableLength} steps apart (skipped steps, or encoders never submitted, with no ` +
          'readGradStats() or stateDict() in between)',
      );
    }
    this.#halted =
      `${this.name}: the GPU rejected steps and every step after them, so its state is that of step ` +
      `${completed}: ${causes.join('; ')}. loadStateDict() a saved state (or create a new optimizer) to go on`;
    throw new OptimizerStateError(this.#halted);
  }

  /**
   * Restores a snapshot from stateDict() (or converted from torch/tfjs). Everything is checked first — format,
   * version, optimizer kind (`header.optimizer` must be this optimizer's name), tensor count and lengths, group
   * layout, payload bounds, step counts (integers in 0..MAX_STEP_COUNT, none ahead of `header.step`), group
   * learning rates, moments (finite; exp_avg_sq >= 0) — and a mismatch throws an OptimizerStateError naming the
   * field, with nothing changed. Then moments, step counts and group learning rates are written
   * (queue writes, ordered before the next submitted step).
   */
  loadStateDict(state: OptimizerState): void {
    this.#assertUsable();
    const fail: (why: string) => never = (why) => {
      throw new OptimizerStateError(`${this.name}.loadStateDict: ${why}; nothing was changed`);
    };
    if (typeof state !== 'object' || state === null) fail(`the state is ${String(state)}`);
    const { header, payload } = state;
    if (!(payload instanceof Float32Array)) fail('the payload is not a Float32Array');
    const problem = stateHeaderProblem(header, payload.length);
    if (problem !== undefined) fail(problem);
    if (header.optimizer !== this.name)
      fail(`it is a state of ${JSON.stringify(header.optimizer)}, this optimizer is ${this.name}`);
    const hasSecond = this.#expAvgSqPages.length > 0;
    if (header.tensors.length !== this.tensorCount) {
      fail(`it holds ${header.tensors.length} tensors, this optimizer has ${this.tensorCount}`);
    }
    if (header.paramGroups.length !== this.paramGroups.length) {
      fail(
        `it holds ${header.paramGroups.length} param groups, this optimizer has ${this.paramGroups.length}`,
      );
    }
    header.paramGroups.forEach((group, g) => {
      const mine = this.paramGroups[g]!.tensors;
      if (group.params.length !== mine.length || group.params.some((tensor, k) => tensor !== mine[k])) {
        fail(`paramGroups[${g}] holds tensors [${group.params}], this optimizer's holds [${mine.join()}]`);
      }
    });
    header.tensors.forEach((t, i) => {
      const mine = this.#tensors[i]!;
      const field = `tensors[${i}] (${t.name})`;
      if (t.length !== mine.length) fail(`${field} has length ${t.length}, ${mine.name} has ${mine.length}`);
      if (hasSecond !== (t.exp_avg_sq !== undefined)) {
        fail(
          `${field} ${hasSecond ? 'lacks' : 'has'} exp_avg_sq, which ${this.name} ${hasSecond ? 'needs' : 'does not keep'}`,
        );
      }
      // Moments this optimizer can produce from finite gradients: NaN/Inf would poison every later step.
      for (let k = 0; k < t.length; k++) {
        const m = payload[t.exp_avg + k]!;
        if (!Number.isFinite(m)) fail(`${field}.exp_avg[${k}] is ${m} (expected a finite number)`);
      }
      if (t.exp_avg_sq === undefined) return;
      for (let k = 0; k < t.length; k++) {
        const v = payload[t.exp_avg_sq + k]!;
        if (!(v >= 0) || v === Number.POSITIVE_INFINITY)
          fail(`${field}.exp_avg_sq[${k}] is ${v} (expected a finite number >= 0)`);
      }
    });

    const queue = this.#device.queue;
    header.tensors.forEach((t, i) => {
      const mine = this.#tensors[i]!;
      if (t.length === 0) return;
      queue.writeBuffer(this.#expAvgPages[mine.page]!, mine.offset * 4, payload, t.exp_avg, t.length);
      if (hasSecond)
        queue.writeBuffer(this.#expAvgSqPages[mine.page]!, mine.offset * 4, payload, t.exp_avg_sq!, t.length);
    });
    if (this.tensorCount > 0)
      queue.writeBuffer(
        this.#stepCounts,
        0,
        Uint32Array.from(header.tensors, (t) => t.step),
      );
    // executedCalls, completedSteps, lostCalls, unscheduledCalls, generation: a loaded state also ends a halt
    // after rejected steps, and steps recorded before it (still in unsubmitted encoders) no longer run or count.
    this.#generation = (this.#generation + 1) >>> 0;
    this.#recordedCalls = 0;
    this.#checksBeforeLoad = this.#watchedRecordings;
    queue.writeBuffer(
      this.#control,
      GRAD_CONTROL.executedCalls,
      Uint32Array.of(0, header.step, 0, 0, this.#generation),
    );
    header.paramGroups.forEach((group, g) => {
      this.#groups[g]!.hp.lr = group.lr;
    });
    this.#completed = header.step;
    this.#halted = undefined;
    this.#recordingFailure = undefined;
  }

  /** Where tensor i's moments live (for state readback and tests). */
  stateLocation(tensor: number): {
    expAvg: GPUBuffer;
    expAvgSq: GPUBuffer | undefined;
    byteOffset: number;
    length: number;
  } {
    this.#assertUsable();
    const placement = this.#tensors[tensor];
    configAssert(
      placement !== undefined,
      'tensor',
      () => `Invalid tensor index: ${tensor} (expected 0..${this.#tensors.length - 1})`,
    );
    return {
      expAvg: this.#expAvgPages[placement.page]!,
      expAvgSq: this.#expAvgSqPages[placement.page],
      byteOffset: placement.offset * 4,
      length: placement.length,
    };
  }

  /** Frees the moments, tables and uniforms this optimizer allocated; never the caller's buffers. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const buffer of this.#ownedBuffers) buffer.destroy();
  }

  /** `destroy()`, for `using optimizer = await createRAdam(…)`. */
  [Symbol.dispose](): void {
    this.destroy();
  }
}

interface PackedRuns {
  words: Uint32Array<ArrayBuffer>;
  /** Index (in rows) where each run starts. */
  starts: number[];
  /** Rows in all, padding included. */
  total: number;
}

/** Lays runs of fixed-size rows end to end, each run starting on a byte `alignment` boundary (for bindings). */
function packRuns(runs: number[][][], rowWords: number, alignment: number): PackedRuns {
  const rowsPerAlignment = Math.max(1, alignment / (rowWords * 4));
  const starts: number[] = [];
  let total = 0;
  for (const rows of runs) {
    starts.push(total);
    total += Math.ceil(rows.length / rowsPerAlignment) * rowsPerAlignment;
  }
  const words = new Uint32Array(Math.max(4, total * rowWords));
  runs.forEach((rows, index) => {
    rows.forEach((row, k) => {
      words.set(row, (starts[index]! + k) * rowWords);
    });
  });
  return { words, starts, total };
}

interface ReadRegion {
  buffer: GPUBuffer;
  size: number;
}

/** Copies every region (from offset 0) in one submit, then maps the copies one at a time. */
async function readBackRegions(device: GPUDevice, regions: readonly ReadRegion[]): Promise<ArrayBuffer[]> {
  const staging = regions.map(({ size }) =>
    device.createBuffer({
      label: 'webgpu-radam readback',
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    }),
  );
  try {
    const encoder = device.createCommandEncoder({ label: 'webgpu-radam readback' });
    regions.forEach(({ buffer, size }, i) => {
      encoder.copyBufferToBuffer(buffer, 0, staging[i]!, 0, size);
    });
    device.queue.submit([encoder.finish()]);
    const data: ArrayBuffer[] = [];
    for (const buffer of staging) {
      await buffer.mapAsync(GPUMapMode.READ);
      data.push(buffer.getMappedRange().slice(0));
      buffer.destroy();
    }
    return data;
  } finally {
    for (const buffer of staging) buffer.destroy();
  }
}

function isCommandEncoder(value: unknown): value is GPUCommandEncoder {
  if (typeof value !== 'object' || value === null) return false;
  const encoder = value as GPUCommandEncoder;
  return (
    typeof encoder.beginComputePass === 'function' &&
    typeof encoder.clearBuffer === 'function' &&
    typeof encoder.finish === 'function'
  );
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message.split('\n')[0]}` : String(error);
}

/**
 * The checks WebGPU would make of `timestampWrites` inside beginComputePass (where a failure throws, or
 * invalidates the caller's encoder), made before anything changes. Whether the query set belongs to the
 * optimizer's device cannot be seen from outside: WebGPU reports that when the encoder is finished.
 */
function checkTimestampWrites(value: unknown, name: string): void {
  if (value === undefined || value === null) return;
  const fail = (field: string, why: string): never => {
    throw new OptimizerConfigError(
      field,
      `${name}.step: invalid ${field}: ${why} (expected undefined or { querySet: a GPUQuerySet of type ` +
        "'timestamp', beginningOfPassWriteIndex?, endOfPassWriteIndex? }, with at least one index, each an " +
        'integer below querySet.count, and two different indices)',
    );
  };
  if (typeof value !== 'object') fail('timestampWrites', describeValue(value));
  const writes = value as Partial<GPUComputePassTimestampWrites>;
  const querySet: unknown = writes.querySet;
  const isQuerySet =
    typeof querySet === 'object' &&
    querySet !== null &&
    typeof (querySet as GPUQuerySet).count === 'number' &&
    typeof (querySet as GPUQuerySet).destroy === 'function';
  if (!isQuerySet) fail('timestampWrites.querySet', describeValue(querySet));
  const { type, count } = querySet as GPUQuerySet;
  if (type !== 'timestamp') fail('timestampWrites.querySet', `a query set of type '${type}'`);
  const begin = writes.beginningOfPassWriteIndex;
  const end = writes.endOfPassWriteIndex;
  for (const [key, index] of [
    ['beginningOfPassWriteIndex', begin],
    ['endOfPassWriteIndex', end],
  ] as const) {
    if (index !== undefined && !(Number.isInteger(index) && index >= 0 && index < count)) {
      fail(`timestampWrites.${key}`, `${String(index)} with querySet.count ${count}`);
    }
  }
  if (begin === undefined && end === undefined) fail('timestampWrites', 'no write index');
  if (begin === end) fail('timestampWrites', `both write indices are ${String(begin)}`);
}

async function probeBindGroups(
  device: GPUDevice,
  bindGroups: GPUBindGroup[],
  pipelines: GPUComputePipeline[],
  pushScope: () => void,
  popScope: () => Promise<GPUError | null>,
): Promise<{ index: number; message: string } | undefined> {
  const submitProbe = (indices: number[]) => {
    const encoder = device.createCommandEncoder({ label: 'webgpu-radam binding probe' });
    const pass = encoder.beginComputePass();
    for (const index of indices) {
      pass.setPipeline(pipelines[index]!);
      pass.setBindGroup(0, bindGroups[index]!);
    }
    pass.end();
    device.queue.submit([encoder.finish()]);
  };
  if (bindGroups.length === 0) return undefined;
  pushScope();
  submitProbe(bindGroups.map((_, index) => index));
  const error = await popScope();
  if (!error) return undefined;
  for (let index = 0; index < bindGroups.length; index++) {
    pushScope();
    submitProbe([index]);
    const unitError = await popScope();
    if (unitError) return { index, message: unitError.message };
  }
  return { index: 0, message: error.message };
}

export type { ParamSpec };
