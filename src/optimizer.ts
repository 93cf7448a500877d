import { BufferBindingError, configAssert, OptimizerStateError } from './errors';
import { foldWorkgroups } from './grid';
import {
  CALL,
  callWords,
  GRAD_CONTROL,
  GROUP_CONFIG_WORDS,
  PREPARED_SLOT_BYTES,
  packGroupConfig,
  packStepTable,
  SEGMENT_WORDS,
  STEP_FACTORS_WORDS,
  STEP_SCALARS_BYTES,
  TILE_WORDS,
} from './layouts';
import { validateLearningRate } from './options';
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
  type TensorStateHeader,
} from './state';
import { type GroupHyperParameters, newStepInfo, type StepInfo, stepFactors } from './step-scalars';

/** Optimizer-wide options shared by every algorithm. */
export interface TrainingOptions {
  /** Multiplies every group's base lr at each step; see `schedules`. @defaultValue constant 1 */
  schedule?: LrSchedule;
  /**
   * Check the gradients on the GPU before each step and skip the whole step (params, moments, step counts and
   * schedule untouched) when any is NaN or ±Inf, as torch's GradScaler does. Costs one extra read of the grads.
   * @defaultValue false
   */
  skipNonFinite?: boolean;
  /** Clip gradients to this global L2 norm (torch clip_grad_norm_), computed on the GPU; 0 = off. @defaultValue 0 */
  maxGradNorm?: number;
  /** Gradients arrive multiplied by this loss scale; they are divided by it inside the step. @defaultValue 1 */
  gradScale?: number;
}

/** Internal knobs; tests use them to exercise chunking, the f32 step path and ring wrap-around cheaply. */
export interface ExecutionOptions {
  /** Threads per workgroup. @defaultValue 256 */
  workgroupSize?: number;
  /** How many steps may be recorded into one command encoder before it is submitted. @defaultValue 64 */
  maxStepsPerEncoder?: number;
  /** Largest byte size of one storage binding; defaults to the device's maxStorageBufferBindingSize. */
  maxBindingBytes?: number;
  /** Steps whose factors come from the float64 table; later ones are computed on the GPU in f32. @defaultValue 4096 */
  stepTableLength?: number;
  /** Use vec4 loads where offsets and lengths allow. @defaultValue true */
  vectorize?: boolean;
  /**
   * Tensors at least this long (f32 elements) get a dispatch of their own, up to soloDispatches of them;
   * the rest are batched. @defaultValue 65536
   */
  soloElements?: number;
  /** @defaultValue 16 */
  soloDispatches?: number;
}

/** One param group after validation: its resolved hyper-parameters and the tensors (global indices) it holds. */
export interface ResolvedGroup {
  hp: GroupHyperParameters;
  params: readonly ParamSpec[];
  /** Field name of each param for messages, e.g. `paramGroups[1].params[0]`. */
  fields: readonly string[];
}

/** A param group of a live optimizer: its learning rate can be changed between steps. */
export interface ParamGroupHandle {
  /** Base learning rate (before the schedule). Changing it rebuilds nothing. */
  lr: number;
  /** Global indices of this group's tensors (the order of state dicts). */
  readonly tensors: readonly number[];
  readonly hyperParameters: Readonly<GroupHyperParameters>;
}

/** What a stats readback found: see FusedOptimizer.readGradStats(). */
export interface GradStats {
  /** Whether the last step saw a non-finite gradient (and was skipped). Only with skipNonFinite. */
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

const RING_SLOTS_DEFAULT = 64;
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
 * one-workgroup finalize, a prepare dispatch with one invocation per tensor, and one step dispatch per batch of
 * tensors that share a param buffer, a grad buffer and a moment page (two when some tensors need a scalar tail).
 * Created through createRAdam / createAdam / createAdamW / createSGD.
 */
export class FusedOptimizer {
  /** Optimizer steps recorded so far, minus those known to have been skipped (see readGradStats()). */
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
    validateLearningRate(value);
    for (const group of this.#groups) group.hp.lr = value;
  }

  /** Loss scale the incoming gradients carry (divided out inside the step); > 0. */
  get gradScale(): number {
    return this.#gradScale;
  }
  set gradScale(value: number) {
    configAssert(
      typeof value === 'number' && Number.isFinite(value) && value > 0,
      'gradScale',
      () => `Invalid gradScale: ${String(value)} (expected a finite number > 0)`,
    );
    this.#gradScale = value;
  }

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
  readonly #callBytes: ArrayBuffer;
  readonly #callView: DataView;
  readonly #activeMask: Uint32Array;
  readonly #schedule: LrSchedule;
  readonly #gradStats: boolean;
  readonly #maxGradNorm: number;
  readonly #info = newStepInfo();
  readonly #dynamicOffset = new Uint32Array(1);
  readonly #stepsPerEncoder = new WeakMap<GPUCommandEncoder, number>();
  readonly #prepareWorkgroups: number;
  readonly #passLabel: string;
  readonly #passDescriptor: GPUComputePassDescriptor;
  #gradScale: number;
  #slot = 0;
  #completed = 0;
  #destroyed = false;
  #lost: GPUDeviceLostInfo | undefined;

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
    training: Required<Omit<TrainingOptions, 'schedule'>> & { schedule: LrSchedule };
    workgroupSize: number;
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
    this.#schedule = init.training.schedule;
    this.#gradStats = init.training.skipNonFinite || init.training.maxGradNorm > 0;
    this.#maxGradNorm = init.training.maxGradNorm;
    this.#gradScale = init.training.gradScale;
    this.tensorCount = init.tensors.length;
    this.#activeMask = new Uint32Array(Math.ceil(init.tensors.length / 32)).fill(0xffffffff);
    this.#callBytes = new ArrayBuffer(callWords(init.groups.length, init.tensors.length) * 4);
    this.#callView = new DataView(this.#callBytes);
    this.#prepareWorkgroups = Math.ceil(init.tensors.length / init.workgroupSize);
    this.dispatchesPerStep =
      (init.tensors.length > 0 ? 1 : 0) + init.units.length + (this.#gradStats ? init.units.length + 1 : 0);
    this.byteSize = init.ownedBuffers.reduce((sum, buffer) => sum + buffer.size, 0);
    const groups = this.#groups;
    this.paramGroups = init.groups.map((group, index) => ({
      get lr() {
        return groups[index]!.hp.lr;
      },
      set lr(value: number) {
        groups[index]!.hp.lr = validateLearningRate(value, `paramGroups[${index}].lr`);
      },
      tensors: group.tensors,
      hyperParameters: group.hp,
    }));
    this.deviceLost = init.device.lost.then((info) => {
      this.#lost = info;
      return info;
    });
  }

  /** Validates everything, allocates zeroed moments, and builds every pipeline and bind group up front. */
  static async create(
    device: GPUDevice,
    name: string,
    hasSecondMoment: boolean,
    resolvedGroups: readonly ResolvedGroup[],
    training: TrainingOptions,
    execution: ExecutionOptions = {},
  ): Promise<FusedOptimizer> {
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
    const ringSlots = execution.maxStepsPerEncoder ?? RING_SLOTS_DEFAULT;
    configAssert(
      Number.isInteger(ringSlots) && ringSlots >= 1,
      'maxStepsPerEncoder',
      () => `Invalid maxStepsPerEncoder: ${ringSlots} (expected an integer >= 1)`,
    );
    const storageAlignment = limits.minStorageBufferOffsetAlignment;
    const maxBindingBytes = execution.maxBindingBytes ?? limits.maxStorageBufferBindingSize;
    configAssert(
      Number.isInteger(maxBindingBytes) &&
        maxBindingBytes >= 2 * storageAlignment &&
        maxBindingBytes <= limits.maxStorageBufferBindingSize,
      'maxBindingBytes',
      () =>
        `Invalid maxBindingBytes: ${maxBindingBytes} (expected ${2 * storageAlignment}..${limits.maxStorageBufferBindingSize})`,
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
    const maxGradNorm = training.maxGradNorm === undefined ? 0 : training.maxGradNorm;
    configAssert(
      typeof maxGradNorm === 'number' && Number.isFinite(maxGradNorm) && maxGradNorm >= 0,
      'maxGradNorm',
      () =>
        `Invalid maxGradNorm: ${String(maxGradNorm)} (expected a finite number >= 0; 0 turns clipping off)`,
    );
    const gradScale = training.gradScale === undefined ? 1 : training.gradScale;
    configAssert(
      typeof gradScale === 'number' && Number.isFinite(gradScale) && gradScale > 0,
      'gradScale',
      () => `Invalid gradScale: ${String(gradScale)} (expected a finite number > 0)`,
    );
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
    const ownedBuffers: GPUBuffer[] = [];
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
    const slotStride =
      Math.ceil((callWords(resolvedGroups.length, tensorCount) * 4) / storageAlignment) * storageAlignment;
    const callRing = allocate('call slots', slotStride * ringSlots, STORAGE | GPUBufferUsage.COPY_DST);
    const control = allocate('grad control', GRAD_CONTROL.bytes, stateUsage);

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

    const prepareLayout = getBindGroupLayout(
      device,
      'optimizer-prepare',
      layoutEntries([
        [0, true],
        [1, true],
        [2, true],
        [3, false],
        [4, false],
        [5, true, true],
        [6, false],
      ]),
    );
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

    device.pushErrorScope('validation');
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
    // The finalize pass reads completedSteps and writes the factors; start with "no skip, clip factor 1".
    const initialControl = new DataView(new ArrayBuffer(GRAD_CONTROL.bytes));
    initialControl.setFloat32(GRAD_CONTROL.clipFactor, 1, true);
    initialControl.setFloat32(GRAD_CONTROL.lrFactor, 1, true);
    device.queue.writeBuffer(control, 0, initialControl.buffer);
    const creationError = await device.popErrorScope();

    const destroyOwned = () => {
      for (const buffer of ownedBuffers) buffer.destroy();
    };
    if (creationError) {
      destroyOwned();
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
    );
    if (probe) {
      destroyOwned();
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
      training: { schedule, skipNonFinite, maxGradNorm, gradScale },
      workgroupSize,
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
    configAssert(
      Number.isInteger(tensor) && tensor >= 0 && tensor < this.tensorCount,
      'tensor',
      () => `Invalid tensor index: ${tensor} (expected 0..${this.tensorCount - 1})`,
    );
    const bit = 1 << (tensor % 32);
    const word = tensor >> 5;
    this.#activeMask[word] = active ? this.#activeMask[word]! | bit : this.#activeMask[word]! & ~bit;
  }

  /** Whether tensor `tensor` takes part in the next step (see `setActive`). */
  isActive(tensor: number): boolean {
    return ((this.#activeMask[tensor >> 5]! >>> (tensor % 32)) & 1) === 1;
  }

  #scheduleFactor(step: number): number {
    const factor = this.#schedule(Math.max(1, step));
    configAssert(
      typeof factor === 'number' && Number.isFinite(factor) && factor >= 0,
      'schedule',
      () => `Invalid schedule factor ${String(factor)} at step ${step} (expected a finite number >= 0)`,
    );
    return factor;
  }

  /**
   * Records one optimizer step into `encoder`; nothing runs until the caller submits it. Writes this step's
   * per-call data into its own slot, so several steps recorded before one submit each see their own values.
   * `timestampWrites` (device with 'timestamp-query') brackets the step's single compute pass, for profiling.
   */
  step(encoder: GPUCommandEncoder, timestampWrites?: GPUComputePassTimestampWrites): void {
    this.#assertUsable();
    configAssert(
      typeof encoder === 'object' && encoder !== null && typeof encoder.beginComputePass === 'function',
      'encoder',
      () => `${this.name}.step: expected a GPUCommandEncoder, got ${String(encoder)}`,
    );
    const recorded = this.#stepsPerEncoder.get(encoder) ?? 0;
    if (recorded >= this.#ringSlots) {
      throw new OptimizerStateError(
        `${this.name}: ${recorded} steps are already recorded into this command encoder; submit it first ` +
          `(or raise maxStepsPerEncoder, now ${this.#ringSlots})`,
      );
    }
    const step = this.#completed + 1;
    const view = this.#callView;
    // Schedule factors first: a schedule that throws or returns garbage must leave everything unchanged.
    const window = this.#gradStats ? CALL.scheduleWindow : 1;
    const scheduleFactor = this.#scheduleFactor(step);
    for (let k = 0; k < window; k++) {
      view.setFloat32(
        (CALL.schedule + k) * 4,
        k === 0 ? scheduleFactor : this.#scheduleFactor(step - k),
        true,
      );
    }
    this.#stepsPerEncoder.set(encoder, recorded + 1);

    view.setFloat32(CALL.invScale * 4, 1 / this.#gradScale, true);
    view.setFloat32(CALL.maxNorm * 4, this.#maxGradNorm, true);
    view.setUint32(CALL.hostStep * 4, step, true);
    view.setUint32(CALL.maskStart * 4, CALL.groupLr + this.#groups.length, true);
    // Plain loops: step() is the hot path and allocates nothing, not even callbacks.
    for (let g = 0; g < this.#groups.length; g++) {
      view.setFloat32((CALL.groupLr + g) * 4, this.#groups[g]!.hp.lr, true);
    }
    const maskStart = (CALL.groupLr + this.#groups.length) * 4;
    for (let w = 0; w < this.#activeMask.length; w++) {
      view.setUint32(maskStart + w * 4, this.#activeMask[w]!, true);
    }
    const slotOffset = this.#slot * this.#slotStride;
    this.#slot = (this.#slot + 1) % this.#ringSlots;
    this.#device.queue.writeBuffer(this.#callRing, slotOffset, this.#callBytes);
    this.#dynamicOffset[0] = slotOffset;
    this.#completed = step;
    this.#describe(step, scheduleFactor);

    if (this.tensorCount === 0) return;
    if (this.#gradStats) encoder.clearBuffer(this.#control, GRAD_CONTROL.nonFinite, 4);
    // The optimizer's whole step is this one pass, so a caller's timestamps bracket exactly the step.
    const pass = encoder.beginComputePass(
      timestampWrites ? { label: this.#passLabel, timestampWrites } : this.#passDescriptor,
    );
    if (this.#gradStats) {
      for (const unit of this.#units) {
        pass.setPipeline(this.#pipelines.reduce[unit.width]!);
        pass.setBindGroup(0, unit.reduceBindGroup!, this.#dynamicOffset, 0, 1);
        pass.dispatchWorkgroups(unit.workgroups[0], unit.workgroups[1]);
      }
      pass.setPipeline(this.#pipelines.finalize!);
      pass.setBindGroup(0, this.#finalizeBindGroup!, this.#dynamicOffset, 0, 1);
      pass.dispatchWorkgroups(1);
    }
    pass.setPipeline(this.#pipelines.prepare);
    pass.setBindGroup(0, this.#prepareBindGroup, this.#dynamicOffset, 0, 1);
    pass.dispatchWorkgroups(this.#prepareWorkgroups);
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
    pass.end();
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
    this.step(encoder);
    this.#device.queue.submit([encoder.finish()]);
  }

  /**
   * Reads the gradient statistics of the last submitted step and every tensor's step count back from the GPU
   * (asynchronously; nothing waits on the GPU meanwhile). Call it once all recorded steps are submitted: it also
   * resynchronises stepCount with steps the GPU skipped, which the schedule needs at least every 15 skips.
   */
  async readGradStats(): Promise<GradStats> {
    this.#assertUsable();
    const controlBytes = await readBack(this.#device, this.#control, 0, GRAD_CONTROL.bytes);
    const counts = await readBack(this.#device, this.#stepCounts, 0, Math.max(4, this.tensorCount * 4));
    const view = new DataView(controlBytes);
    const completed = this.#gradStats ? view.getUint32(GRAD_CONTROL.completedSteps, true) : this.#completed;
    this.#completed = completed;
    return {
      nonFinite: view.getUint32(GRAD_CONTROL.nonFinite, true) !== 0,
      gradNorm: this.#gradStats ? view.getFloat32(GRAD_CONTROL.gradNorm, true) : Number.NaN,
      completedSteps: completed,
      stepCounts: new Uint32Array(counts, 0, this.tensorCount),
    };
  }

  /**
   * Reads every tensor's moments and step count back (asynchronously) into a snapshot whose header uses torch's
   * names (exp_avg, exp_avg_sq, step). serializeState() turns it into bytes; loadStateDict() restores it.
   */
  async stateDict(): Promise<OptimizerState> {
    this.#assertUsable();
    const counts = new Uint32Array(
      await readBack(this.#device, this.#stepCounts, 0, Math.max(4, this.tensorCount * 4)),
    );
    const control = new DataView(await readBack(this.#device, this.#control, 0, GRAD_CONTROL.bytes));
    const completed = this.#gradStats
      ? control.getUint32(GRAD_CONTROL.completedSteps, true)
      : this.#completed;
    const pages = async (list: GPUBuffer[]) =>
      Promise.all(
        list.map(async (page) => new Float32Array(await readBack(this.#device, page, 0, page.size))),
      );
    const expAvg = await pages(this.#expAvgPages);
    const expAvgSq = await pages(this.#expAvgSqPages);
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
    this.#completed = completed;
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

  /**
   * Restores a snapshot from stateDict() (or converted from torch/tfjs). Everything is checked first — format,
   * version, optimizer kind, tensor count and lengths, group layout, payload bounds — and a mismatch throws an
   * OptimizerStateError with nothing changed. Then moments, step counts and group learning rates are written
   * (queue writes, ordered before the next submitted step).
   */
  loadStateDict(state: OptimizerState): void {
    this.#assertUsable();
    const fail = (why: string): never => {
      throw new OptimizerStateError(`${this.name}.loadStateDict: ${why}; nothing was changed`);
    };
    const header = state?.header;
    const payload = state?.payload;
    if (!header || typeof header !== 'object') fail('the state has no header');
    if (!(payload instanceof Float32Array)) fail('the payload is not a Float32Array');
    if (header.format !== STATE_FORMAT)
      fail(`format is ${JSON.stringify(header.format)}, expected "${STATE_FORMAT}"`);
    if (header.version !== STATE_FORMAT_VERSION)
      fail(`version ${header.version} is not supported (expected ${STATE_FORMAT_VERSION})`);
    const hasSecond = this.#expAvgSqPages.length > 0;
    if (!Array.isArray(header.tensors) || header.tensors.length !== this.tensorCount) {
      fail(`it holds ${header.tensors?.length} tensors, this optimizer has ${this.tensorCount}`);
    }
    if (!Array.isArray(header.paramGroups) || header.paramGroups.length !== this.paramGroups.length) {
      fail(
        `it holds ${header.paramGroups?.length} param groups, this optimizer has ${this.paramGroups.length}`,
      );
    }
    header.paramGroups.forEach((group, g) => {
      const mine = this.paramGroups[g]!.tensors;
      if (!Array.isArray(group.params) || group.params.join() !== mine.join()) {
        fail(`paramGroups[${g}] holds tensors [${group.params}], this optimizer's holds [${mine.join()}]`);
      }
      if (typeof group.lr !== 'number' || !Number.isFinite(group.lr) || group.lr < 0)
        fail(`paramGroups[${g}].lr is ${group.lr}`);
    });
    const validStep = (step: unknown) =>
      Number.isInteger(step) && (step as number) >= 0 && (step as number) < 2 ** 32;
    if (!validStep(header.step)) fail(`step ${header.step} is not an integer in [0, 2^32)`);
    header.tensors.forEach((t, i) => {
      const mine = this.#tensors[i]!;
      if (t.length !== mine.length)
        fail(`tensors[${i}] (${t.name}) has length ${t.length}, ${mine.name} has ${mine.length}`);
      if (!validStep(t.step)) fail(`tensors[${i}].step ${t.step} is not an integer in [0, 2^32)`);
      const ranges: [string, number | undefined][] = [
        ['exp_avg', t.exp_avg],
        ['exp_avg_sq', t.exp_avg_sq],
      ];
      if (hasSecond !== (t.exp_avg_sq !== undefined)) {
        fail(
          `tensors[${i}] ${hasSecond ? 'lacks' : 'has'} exp_avg_sq, which ${this.name} ${hasSecond ? 'needs' : 'does not keep'}`,
        );
      }
      for (const [key, start] of ranges) {
        if (start === undefined) continue;
        if (!Number.isInteger(start) || start < 0 || start + t.length > payload.length) {
          fail(
            `tensors[${i}].${key} range [${start}, ${start + t.length}) is outside the payload of ${payload.length}`,
          );
        }
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
    queue.writeBuffer(this.#control, GRAD_CONTROL.completedSteps, Uint32Array.of(header.step));
    header.paramGroups.forEach((group, g) => {
      this.#groups[g]!.hp.lr = group.lr;
    });
    this.#completed = header.step;
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

async function readBack(
  device: GPUDevice,
  source: GPUBuffer,
  offset: number,
  size: number,
): Promise<ArrayBuffer> {
  const staging = device.createBuffer({
    label: 'webgpu-radam readback',
    size,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const encoder = device.createCommandEncoder({ label: 'webgpu-radam readback' });
  encoder.copyBufferToBuffer(source, offset, staging, 0, size);
  device.queue.submit([encoder.finish()]);
  try {
    await staging.mapAsync(GPUMapMode.READ);
    return staging.getMappedRange().slice(0);
  } finally {
    staging.destroy();
  }
}

async function probeBindGroups(
  device: GPUDevice,
  bindGroups: GPUBindGroup[],
  pipelines: GPUComputePipeline[],
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
  device.pushErrorScope('validation');
  submitProbe(bindGroups.map((_, index) => index));
  const error = await device.popErrorScope();
  if (!error) return undefined;
  for (let index = 0; index < bindGroups.length; index++) {
    device.pushErrorScope('validation');
    submitProbe([index]);
    const unitError = await device.popErrorScope();
    if (unitError) return { index, message: unitError.message };
  }
  return { index: 0, message: error.message };
}

export type { ParamSpec };
