import { BufferBindingError, bindingAssert, configAssert, OptimizerStateError } from './errors';
import { foldWorkgroups } from './grid';
import { validateLearningRate } from './options';
import { checkedComputePipeline, getBindGroupLayout } from './pipeline-cache';
import { type ElementWidth, optimizerShaderSource } from './shaders';
import {
  newStepInfo,
  newStepScalars,
  packStepScalars,
  STEP_SCALARS_LAYOUT,
  type StepInfo,
  type StepScalars,
} from './step-scalars';

/** One parameter tensor: a range of f32 in a caller-owned buffer, and its gradient in another (or the same). */
export interface ParamSpec {
  /** Holds the parameter values; needs GPUBufferUsage.STORAGE. Updated in place. */
  param: GPUBuffer;
  /** Holds the gradient, read only; needs GPUBufferUsage.STORAGE. */
  grad: GPUBuffer;
  /** Number of f32 elements. */
  length: number;
  /** Byte offset of the first element in `param`, a multiple of 4. @defaultValue 0 */
  paramOffset?: number;
  /** Byte offset of the first element in `grad`, a multiple of 4. @defaultValue 0 */
  gradOffset?: number;
  /** Shown in error messages and state dicts. @defaultValue `params[i]` */
  name?: string;
}

/** Internal knobs; tests use them to exercise chunking and ring wrap-around cheaply. */
export interface ExecutionOptions {
  /** Threads per workgroup. @defaultValue 256 */
  workgroupSize?: number;
  /** How many steps may be recorded into one command encoder before it is submitted. @defaultValue 64 */
  maxStepsPerEncoder?: number;
  /** Largest number of elements one dispatch binds; defaults to what maxStorageBufferBindingSize allows. */
  maxElementsPerDispatch?: number;
  /** Use vec4 loads where offsets and lengths allow. @defaultValue true */
  vectorize?: boolean;
}

/** The update rule: fills the per-step factors for step t (1-based). */
export type StepRule = (t: number, scalars: StepScalars, info: StepInfo) => void;

export interface OptimizerDefinition {
  /** Used in labels and messages, e.g. 'RAdam'. */
  name: string;
  hasSecondMoment: boolean;
  rule: StepRule;
  getLr(): number;
  setLr(lr: number): void;
}

interface TensorPlacement {
  name: string;
  length: number;
  /** Which moment page holds this tensor's state, and where (in f32 elements). */
  statePage: number;
  stateOffset: number;
}

interface DispatchUnit {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number];
  tensor: number;
}

interface Window {
  offset: number;
  size: number;
  elementOffset: number;
}

const PLACEMENT_BYTES = 16;

/** Byte range [start, start+length) widened down to `alignment`, as a binding must start there. */
function bindingWindow(
  byteStart: number,
  byteLength: number,
  alignment: number,
  width: ElementWidth,
): Window {
  const offset = Math.floor(byteStart / alignment) * alignment;
  return { offset, size: byteStart + byteLength - offset, elementOffset: (byteStart - offset) / (4 * width) };
}

function isGpuBuffer(value: unknown): value is GPUBuffer {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as GPUBuffer).size === 'number' &&
    typeof (value as GPUBuffer).usage === 'number' &&
    typeof (value as GPUBuffer).destroy === 'function'
  );
}

interface CheckedParam {
  name: string;
  param: GPUBuffer;
  grad: GPUBuffer;
  length: number;
  paramOffset: number;
  gradOffset: number;
}

function checkByteOffset(value: unknown, field: string): number {
  bindingAssert(
    typeof value === 'number' && Number.isInteger(value) && value >= 0 && value % 4 === 0,
    field,
    () => `Invalid ${field}: ${String(value)} (expected an integer byte offset >= 0 and a multiple of 4)`,
  );
  return value;
}

function checkParams(params: readonly ParamSpec[]): CheckedParam[] {
  configAssert(
    Array.isArray(params),
    'params',
    () => `Invalid params: ${String(params)} (expected an array)`,
  );
  const checked = params.map((spec, i): CheckedParam => {
    const field = `params[${i}]`;
    configAssert(
      typeof spec === 'object' && spec !== null,
      field,
      () => `Invalid ${field}: ${String(spec)} (expected { param, grad, length })`,
    );
    const name = spec.name ?? field;
    configAssert(typeof name === 'string', `${field}.name`, () => `Invalid ${field}.name: expected a string`);
    for (const key of ['param', 'grad'] as const) {
      const buffer: unknown = spec[key];
      bindingAssert(isGpuBuffer(buffer), `${field}.${key}`, () => `${name}: ${key} is not a GPUBuffer`);
      bindingAssert(
        (buffer.usage & GPUBufferUsage.STORAGE) !== 0,
        `${field}.${key}`,
        () => `${name}: ${key} buffer "${buffer.label}" lacks GPUBufferUsage.STORAGE`,
      );
    }
    const length = spec.length;
    configAssert(
      typeof length === 'number' && Number.isInteger(length) && length >= 0,
      `${field}.length`,
      () => `Invalid ${field}.length: ${String(length)} (expected an integer element count >= 0)`,
    );
    bindingAssert(
      spec.param !== spec.grad,
      `${field}.grad`,
      () =>
        `${name}: param and grad are the same GPUBuffer; they must be different buffers, as WebGPU forbids ` +
        'binding one buffer both read-write and read-only in the same dispatch',
    );
    const paramOffset = checkByteOffset(spec.paramOffset ?? 0, `${field}.paramOffset`);
    const gradOffset = checkByteOffset(spec.gradOffset ?? 0, `${field}.gradOffset`);
    for (const [key, buffer, offset] of [
      ['param', spec.param, paramOffset],
      ['grad', spec.grad, gradOffset],
    ] as const) {
      bindingAssert(
        offset + length * 4 <= buffer.size,
        `${field}.${key}`,
        () =>
          `${name}: ${key} range [${offset}, ${offset + length * 4}) exceeds its buffer of ${buffer.size} bytes ` +
          `(${length} f32 at byte offset ${offset})`,
      );
    }
    return { name, param: spec.param, grad: spec.grad, length, paramOffset, gradOffset };
  });
  checkNoAliasing(checked);
  return checked;
}

/** Writes to a parameter range must not touch any other parameter or any gradient the step reads. */
function checkNoAliasing(params: CheckedParam[]): void {
  type Range = { buffer: GPUBuffer; start: number; end: number; what: string; index: number };
  const ranges: Range[] = [];
  params.forEach((p, index) => {
    if (p.length === 0) return;
    ranges.push({
      buffer: p.param,
      start: p.paramOffset,
      end: p.paramOffset + p.length * 4,
      what: 'param',
      index,
    });
    ranges.push({
      buffer: p.grad,
      start: p.gradOffset,
      end: p.gradOffset + p.length * 4,
      what: 'grad',
      index,
    });
  });
  const byBuffer = new Map<GPUBuffer, Range[]>();
  for (const range of ranges) {
    const list = byBuffer.get(range.buffer) ?? [];
    list.push(range);
    byBuffer.set(range.buffer, list);
  }
  for (const list of byBuffer.values()) {
    list.sort((a, b) => a.start - b.start);
    for (let i = 1; i < list.length; i++) {
      const previous = list[i - 1]!;
      const current = list[i]!;
      const overlap = current.start < previous.end;
      const bothRead = previous.what === 'grad' && current.what === 'grad';
      if (overlap && !bothRead) {
        const a = params[previous.index]!;
        const b = params[current.index]!;
        throw new BufferBindingError(
          `params[${current.index}].${current.what}`,
          `${b.name}: ${current.what} range [${current.start}, ${current.end}) overlaps the ${previous.what} range ` +
            `[${previous.start}, ${previous.end}) of ${a.name} in the same buffer; a parameter must not share memory ` +
            'with another parameter or with any gradient',
        );
      }
    }
  }
}

const RING_SLOT_DEFAULT = 64;

/**
 * The fused optimizer: one compute pass per step with one dispatch per (tensor, chunk), each reading param, grad
 * and the moments once. Created through createRAdam / createAdam / createAdamW / createSGD.
 */
export class FusedOptimizer {
  /** Number of steps taken so far (torch's `state['step']`). */
  get stepCount(): number {
    return this.#step;
  }

  /** What the last step did (branch, rho_t, rect, bias corrections); reused between steps. */
  get lastStep(): Readonly<StepInfo> {
    return this.#info;
  }

  /** Learning rate for the following steps; changing it rebuilds nothing. */
  get lr(): number {
    return this.#definition.getLr();
  }
  set lr(value: number) {
    this.#definition.setLr(validateLearningRate(value));
  }

  /** Bytes of GPU memory this optimizer allocated (moments, uniforms). */
  readonly byteSize: number;
  /** Dispatches recorded per step. */
  readonly dispatchesPerStep: number;
  readonly name: string;

  readonly #device: GPUDevice;
  readonly #definition: OptimizerDefinition;
  readonly #tensors: TensorPlacement[];
  readonly #units: DispatchUnit[];
  readonly #expAvgPages: GPUBuffer[];
  readonly #expAvgSqPages: GPUBuffer[];
  readonly #ownedBuffers: GPUBuffer[];
  readonly #ring: GPUBuffer;
  readonly #ringSlots: number;
  readonly #slotStride: number;
  readonly #scalars = newStepScalars();
  readonly #info = newStepInfo();
  readonly #scalarBytes = new ArrayBuffer(STEP_SCALARS_LAYOUT.byteSize);
  readonly #dynamicOffset = new Uint32Array(1);
  readonly #stepsPerEncoder = new WeakMap<GPUCommandEncoder, number>();
  #slot = 0;
  #step = 0;
  #destroyed = false;
  #lost: GPUDeviceLostInfo | undefined;

  /** Use the create* functions; this constructor expects validated, planned input. */
  private constructor(init: {
    device: GPUDevice;
    definition: OptimizerDefinition;
    tensors: TensorPlacement[];
    units: DispatchUnit[];
    expAvgPages: GPUBuffer[];
    expAvgSqPages: GPUBuffer[];
    ownedBuffers: GPUBuffer[];
    ring: GPUBuffer;
    ringSlots: number;
    slotStride: number;
  }) {
    this.#device = init.device;
    this.#definition = init.definition;
    this.#tensors = init.tensors;
    this.#units = init.units;
    this.#expAvgPages = init.expAvgPages;
    this.#expAvgSqPages = init.expAvgSqPages;
    this.#ownedBuffers = init.ownedBuffers;
    this.#ring = init.ring;
    this.#ringSlots = init.ringSlots;
    this.#slotStride = init.slotStride;
    this.name = init.definition.name;
    this.dispatchesPerStep = init.units.length;
    this.byteSize = init.ownedBuffers.reduce((sum, buffer) => sum + buffer.size, 0);
    init.device.lost.then((info) => {
      this.#lost = info;
    });
  }

  /** Validates the parameters, allocates zeroed moments and builds every pipeline and bind group up front. */
  static async create(
    device: GPUDevice,
    params: readonly ParamSpec[],
    definition: OptimizerDefinition,
    execution: ExecutionOptions = {},
  ): Promise<FusedOptimizer> {
    const checked = checkParams(params);
    const limits = device.limits;
    const workgroupSize = execution.workgroupSize ?? 256;
    configAssert(
      Number.isInteger(workgroupSize) &&
        workgroupSize > 0 &&
        workgroupSize <= limits.maxComputeInvocationsPerWorkgroup,
      'workgroupSize',
      () =>
        `Invalid workgroupSize: ${workgroupSize} (expected 1..${limits.maxComputeInvocationsPerWorkgroup})`,
    );
    const ringSlots = execution.maxStepsPerEncoder ?? RING_SLOT_DEFAULT;
    configAssert(
      Number.isInteger(ringSlots) && ringSlots >= 1,
      'maxStepsPerEncoder',
      () => `Invalid maxStepsPerEncoder: ${ringSlots} (expected an integer >= 1)`,
    );
    const storageAlignment = limits.minStorageBufferOffsetAlignment;
    const uniformAlignment = limits.minUniformBufferOffsetAlignment;
    // Every binding starts up to one alignment unit before its data, so that much of the limit is reserved.
    const bindingElements = Math.floor((limits.maxStorageBufferBindingSize - storageAlignment) / 16) * 4;
    const maxChunk = execution.maxElementsPerDispatch ?? bindingElements;
    configAssert(
      Number.isInteger(maxChunk) && maxChunk >= 4 && maxChunk % 4 === 0 && maxChunk <= bindingElements,
      'maxElementsPerDispatch',
      () =>
        `Invalid maxElementsPerDispatch: ${maxChunk} (expected a multiple of 4 in [4, ${bindingElements}])`,
    );
    const vectorize = execution.vectorize ?? true;

    // Moments live in pages of at most maxBufferSize bytes; each tensor's state starts on a storage-alignment
    // boundary so its bindings need no widening.
    const alignElements = storageAlignment / 4;
    const pageLimitElements = Math.floor(limits.maxBufferSize / 4 / alignElements) * alignElements;
    const pageSizes: number[] = [];
    const tensors: TensorPlacement[] = checked.map((p) => {
      const padded = Math.ceil(p.length / alignElements) * alignElements;
      let page = pageSizes.length - 1;
      if (page < 0 || pageSizes[page]! + padded > pageLimitElements) {
        pageSizes.push(0);
        page++;
      }
      const stateOffset = pageSizes[page]!;
      pageSizes[page] = stateOffset + padded;
      return { name: p.name, length: p.length, statePage: page, stateOffset };
    });

    const label = `webgpu-radam ${definition.name}`;
    const ownedBuffers: GPUBuffer[] = [];
    const allocate = (descriptor: GPUBufferDescriptor): GPUBuffer => {
      const buffer = device.createBuffer(descriptor);
      ownedBuffers.push(buffer);
      return buffer;
    };
    const momentUsage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    // createBuffer zero-fills, which is the moments' initial state.
    const expAvgPages = pageSizes.map((elements, page) =>
      allocate({
        label: `${label} exp_avg page ${page}`,
        size: Math.max(16, elements * 4),
        usage: momentUsage,
      }),
    );
    const expAvgSqPages = definition.hasSecondMoment
      ? pageSizes.map((elements, page) =>
          allocate({
            label: `${label} exp_avg_sq page ${page}`,
            size: Math.max(16, elements * 4),
            usage: momentUsage,
          }),
        )
      : [];
    const placeholder = definition.hasSecondMoment
      ? undefined
      : allocate({ label: `${label} unused exp_avg_sq`, size: 16, usage: GPUBufferUsage.STORAGE });

    const slotStride = Math.ceil(STEP_SCALARS_LAYOUT.byteSize / uniformAlignment) * uniformAlignment;
    const ring = allocate({
      label: `${label} step scalars`,
      size: slotStride * ringSlots,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });

    const layout = getBindGroupLayout(device, 'optimizer', [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
      { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
      { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
      { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
      { binding: 4, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      {
        binding: 5,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: STEP_SCALARS_LAYOUT.byteSize },
      },
    ]);
    const pipelineFor = (width: ElementWidth) =>
      checkedComputePipeline(device, {
        key: `optimizer|width=${width}|wg=${workgroupSize}|secondMoment=${definition.hasSecondMoment}`,
        code: optimizerShaderSource(width),
        entryPoint: 'step',
        layout,
        constants: { WORKGROUP_SIZE: workgroupSize, HAS_SECOND_MOMENT: definition.hasSecondMoment ? 1 : 0 },
      });
    const pipelines = { 1: await pipelineFor(1), 4: vectorize ? await pipelineFor(4) : undefined };

    // Plan the dispatches: per tensor, chunks of at most maxChunk elements; a vec4 body where the caller's
    // offsets are 16-byte aligned, and a scalar dispatch for the last (length % 4) elements.
    type Planned = { tensor: number; width: ElementWidth; start: number; count: number };
    const planned: Planned[] = [];
    checked.forEach((p, tensor) => {
      const vectorOk = vectorize && p.paramOffset % 16 === 0 && p.gradOffset % 16 === 0;
      for (let start = 0; start < p.length; start += maxChunk) {
        const chunk = Math.min(maxChunk, p.length - start);
        const body = vectorOk ? chunk - (chunk % 4) : 0;
        if (body > 0) planned.push({ tensor, width: 4, start, count: body });
        if (chunk > body) planned.push({ tensor, width: 1, start: start + body, count: chunk - body });
      }
    });

    const placementStride = Math.ceil(PLACEMENT_BYTES / uniformAlignment) * uniformAlignment;
    const placementBuffer = allocate({
      label: `${label} placements`,
      size: Math.max(placementStride, placementStride * planned.length),
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    const placementData = new Uint32Array(placementBuffer.size / 4);

    device.pushErrorScope('validation');
    const units = planned.map((plan, index): DispatchUnit => {
      const p = checked[plan.tensor]!;
      const t = tensors[plan.tensor]!;
      const bytes = plan.count * 4;
      const paramWindow = bindingWindow(p.paramOffset + plan.start * 4, bytes, storageAlignment, plan.width);
      const gradWindow = bindingWindow(p.gradOffset + plan.start * 4, bytes, storageAlignment, plan.width);
      const stateWindow = bindingWindow(
        (t.stateOffset + plan.start) * 4,
        bytes,
        storageAlignment,
        plan.width,
      );
      const base = (index * placementStride) / 4;
      placementData[base] = plan.count / plan.width;
      placementData[base + 1] = paramWindow.elementOffset;
      placementData[base + 2] = gradWindow.elementOffset;
      placementData[base + 3] = stateWindow.elementOffset;
      const stateEntry = (page: GPUBuffer) => ({
        buffer: page,
        offset: stateWindow.offset,
        size: stateWindow.size,
      });
      const bindGroup = device.createBindGroup({
        label: `${label} ${p.name} [${plan.start}, +${plan.count}) x${plan.width}`,
        layout,
        entries: [
          { binding: 0, resource: { buffer: p.param, offset: paramWindow.offset, size: paramWindow.size } },
          { binding: 1, resource: { buffer: p.grad, offset: gradWindow.offset, size: gradWindow.size } },
          { binding: 2, resource: stateEntry(expAvgPages[t.statePage]!) },
          {
            binding: 3,
            resource: placeholder ? { buffer: placeholder } : stateEntry(expAvgSqPages[t.statePage]!),
          },
          {
            binding: 4,
            resource: { buffer: placementBuffer, offset: index * placementStride, size: PLACEMENT_BYTES },
          },
          { binding: 5, resource: { buffer: ring, offset: 0, size: STEP_SCALARS_LAYOUT.byteSize } },
        ],
      });
      const workgroups = foldWorkgroups(
        Math.ceil(plan.count / plan.width / workgroupSize),
        limits.maxComputeWorkgroupsPerDimension,
      );
      return {
        pipeline: (plan.width === 4 ? pipelines[4] : pipelines[1])!,
        bindGroup,
        workgroups,
        tensor: plan.tensor,
      };
    });
    device.queue.writeBuffer(placementBuffer, 0, placementData);
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
    // Bind groups may reference destroyed buffers or buffers of another device without complaint; a submit
    // that uses them does not. An empty dispatch per unit surfaces that now, naming the tensor.
    const probeError = await probeUnits(device, units);
    if (probeError) {
      destroyOwned();
      const { unit, message } = probeError;
      const name = checked[unit.tensor]!.name;
      throw new BufferBindingError(
        `params[${unit.tensor}]`,
        `${name}: its param or grad buffer cannot be used (destroyed, or from another device?): ${message}`,
      );
    }
    return new FusedOptimizer({
      device,
      definition,
      tensors,
      units,
      expAvgPages,
      expAvgSqPages,
      ownedBuffers,
      ring,
      ringSlots,
      slotStride,
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

  /**
   * Records one optimizer step into `encoder` (nothing runs until the caller submits it). Writes this step's
   * factors into their own uniform slot, so several steps recorded before one submit each see their own.
   */
  step(encoder: GPUCommandEncoder): void {
    this.#assertUsable();
    const recorded = this.#stepsPerEncoder.get(encoder) ?? 0;
    if (recorded >= this.#ringSlots) {
      throw new OptimizerStateError(
        `${this.name}: ${recorded} steps are already recorded into this command encoder; submit it first ` +
          `(or raise maxStepsPerEncoder, now ${this.#ringSlots})`,
      );
    }
    this.#stepsPerEncoder.set(encoder, recorded + 1);
    const t = this.#step + 1;
    this.#definition.rule(t, this.#scalars, this.#info);
    this.#step = t;

    const slotOffset = this.#slot * this.#slotStride;
    this.#slot = (this.#slot + 1) % this.#ringSlots;
    packStepScalars(this.#scalars, this.#scalarBytes);
    this.#device.queue.writeBuffer(this.#ring, slotOffset, this.#scalarBytes);
    this.#dynamicOffset[0] = slotOffset;

    if (this.#units.length === 0) return;
    const pass = encoder.beginComputePass({ label: `webgpu-radam ${this.name} step` });
    let current: GPUComputePipeline | undefined;
    for (const unit of this.#units) {
      if (unit.pipeline !== current) {
        pass.setPipeline(unit.pipeline);
        current = unit.pipeline;
      }
      pass.setBindGroup(0, unit.bindGroup, this.#dynamicOffset, 0, 1);
      pass.dispatchWorkgroups(unit.workgroups[0], unit.workgroups[1]);
    }
    pass.end();
  }

  /** Records one step into a fresh encoder and submits it. */
  stepAndSubmit(): void {
    this.#assertUsable();
    const encoder = this.#device.createCommandEncoder({ label: `webgpu-radam ${this.name} step` });
    this.step(encoder);
    this.#device.queue.submit([encoder.finish()]);
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
      expAvg: this.#expAvgPages[placement.statePage]!,
      expAvgSq: this.#expAvgSqPages[placement.statePage],
      byteOffset: placement.stateOffset * 4,
      length: placement.length,
    };
  }

  /** Frees the moments and uniforms this optimizer allocated; never the caller's buffers. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const buffer of this.#ownedBuffers) buffer.destroy();
  }

  [Symbol.dispose](): void {
    this.destroy();
  }
}

async function probeUnits(
  device: GPUDevice,
  units: DispatchUnit[],
): Promise<{ unit: DispatchUnit; message: string } | undefined> {
  const dynamicOffsets = [0];
  const submitProbe = (subset: DispatchUnit[]) => {
    const encoder = device.createCommandEncoder({ label: 'webgpu-radam binding probe' });
    const pass = encoder.beginComputePass();
    for (const unit of subset) {
      pass.setPipeline(unit.pipeline);
      pass.setBindGroup(0, unit.bindGroup, dynamicOffsets);
    }
    pass.end();
    device.queue.submit([encoder.finish()]);
  };
  device.pushErrorScope('validation');
  submitProbe(units);
  const error = await device.popErrorScope();
  if (!error) return undefined;
  for (const unit of units) {
    device.pushErrorScope('validation');
    submitProbe([unit]);
    const unitError = await device.popErrorScope();
    if (unitError) return { unit, message: unitError.message };
  }
  return { unit: units[0]!, message: error.message };
}
