// Stage 5 of the build (see create.ts): the compiled kernels and everything bound to them: one bind-group layout
// per entry point (from contract.ts's binding tables), the pipelines each plan needs, one bind group per unit, and
// a probe that surfaces unusable param or grad buffers now, naming a tensor. Also records one step's compute pass
// from these parts (recordPass), which is all that step() does on the GPU side.
import {
  callWords,
  GRAD_CONTROL,
  GROUP_CONFIG,
  momentElementBytes,
  PREPARED_SLOT_BYTES,
  SEGMENT,
  STATE_ELEMENT_BYTES,
  STEP_SCALARS,
  TILE_SHAPES,
  type TileShape,
  tileWorkgroups,
  WORD_BYTES,
} from './contract';
import { type EntryGlobals, entryBindings, entryLayout, type OptimizerEntryPoint } from './contract-bindings';
import { BufferBindingError } from './errors';
import { foldWorkgroups } from './grid';
import { checkedComputePipeline, getBindGroupLayout } from './pipeline-cache';
import type { PlannedUnit } from './plan';
import { type Creation, type Resources, runBinding } from './resources';
import { type ElementWidth, gradStatsShaderSource, optimizerShaderSource } from './shaders';
import type { StateFormat } from './training-options';

/** One dispatch group of a step: a unit's bind groups and workgroup counts. */
export interface Unit {
  width: ElementWidth;
  /** Workgroups of the tiled entry points (TILE_LANES invocations per tile, see TileShape). */
  workgroups: [number, number];
  /** `stepSegment` for a unit of one segment (uniform offsets and scalars), else the tiled `step`. */
  stepPipeline: GPUComputePipeline;
  stepBindGroup: GPUBindGroup;
  stepWorkgroups: [number, number];
  reduceBindGroup: GPUBindGroup | undefined;
  /** The buffers bound at creation, and the byte ranges of them that the unit binds (for per-step buffers). */
  param: GPUBuffer;
  grad: GPUBuffer;
  paramEnd: number;
  gradEnd: number;
  /** Global indices of the tensors this unit steps. */
  tensors: number[];
  /** The unit's bind groups over other param and grad buffers (same windows); see step(encoder, { grads }). */
  bind: (param: GPUBuffer, grad: GPUBuffer) => UnitBindGroups;
}

/** A unit's bind groups over one pair of param and grad buffers. */
export interface UnitBindGroups {
  step: GPUBindGroup;
  reduce: GPUBindGroup | undefined;
}

export interface Pipelines {
  prepare: GPUComputePipeline;
  reduce: Record<ElementWidth, GPUComputePipeline | undefined>;
  finalize: GPUComputePipeline | undefined;
}

/** What step() records: the pipelines and bind groups of every dispatch. */
export interface Kernels {
  pipelines: Pipelines;
  prepareBindGroup: GPUBindGroup;
  finalizeBindGroup: GPUBindGroup | undefined;
  units: Unit[];
  /** Dispatches recorded per step. */
  dispatches: number;
}

export interface KernelInputs {
  label: string;
  hasSecondMoment: boolean;
  amsgrad: boolean;
  lookahead: boolean;
  gradStats: boolean;
  stateFormat: StateFormat;
  roundStateToNearest: boolean;
  workgroupSize: number;
  tileShape: TileShape;
  groupCount: number;
  tensorCount: number;
  units: readonly PlannedUnit[];
  resources: Resources;
  /** Names a unit's tensors in the message when its buffers cannot be bound. */
  unitNames: (unit: number) => string;
}

export const BINDING_STAGE = 'binding the parameter and gradient buffers';

const layoutOf = (device: GPUDevice, entry: OptimizerEntryPoint) =>
  getBindGroupLayout(device, `optimizer-${entry}`, entryLayout(entry));

export async function buildKernels(creation: Creation, input: KernelInputs): Promise<Kernels> {
  const { device } = creation;
  const { label, resources: r, units: planned, workgroupSize, gradStats } = input;
  creation.stage = 'compiling its pipelines';
  const tileLanes = TILE_SHAPES[input.tileShape].lanes;
  const constants = {
    WORKGROUP_SIZE: workgroupSize,
    TILE_LANES: tileLanes,
    HAS_SECOND_MOMENT: input.hasSecondMoment ? 1 : 0,
    GRAD_STATS: gradStats ? 1 : 0,
    AMSGRAD: input.amsgrad ? 1 : 0,
    LOOKAHEAD: input.lookahead ? 1 : 0,
    STATE_ROUNDING_NEAREST: input.roundStateToNearest ? 1 : 0,
  };
  const keySuffix =
    `wg=${workgroupSize}|lanes=${tileLanes}|m2=${input.hasSecondMoment}|stats=${gradStats}` +
    `|ams=${input.amsgrad}|la=${input.lookahead}|state=${input.stateFormat}|nearest=${input.roundStateToNearest}`;
  const compiled = new Map<string, GPUComputePipeline>();
  const pipeline = async (entry: OptimizerEntryPoint, width: ElementWidth) => {
    const key = `optimizer|${entry}|width=${width}|${keySuffix}`;
    const statsModule = entry === 'reduceGrads' || entry === 'finalizeGradStats';
    const made = await checkedComputePipeline(device, {
      key,
      code: statsModule ? gradStatsShaderSource(width) : optimizerShaderSource(width, input.stateFormat),
      entryPoint: entry,
      layout: layoutOf(device, entry),
      // Only the step module declares the feature overrides.
      constants: statsModule ? { WORKGROUP_SIZE: workgroupSize, TILE_LANES: tileLanes } : constants,
    });
    compiled.set(`${entry}|${width}`, made);
    return made;
  };
  const single = (unit: PlannedUnit) => unit.segments.length === 1;
  const pipelines: Pipelines = {
    prepare: await pipeline('prepare', 1),
    reduce: { 1: undefined, 4: undefined },
    finalize: undefined,
  };
  // Only the pipelines this plan dispatches.
  for (const entry of ['step', 'stepSegment'] as const) {
    for (const width of [1, 4] as const) {
      const needed = planned.some(
        (unit) => unit.width === width && single(unit) === (entry === 'stepSegment'),
      );
      if (needed) await pipeline(entry, width);
    }
  }
  if (gradStats) {
    for (const width of [1, 4] as const) {
      if (planned.some((unit) => unit.width === width))
        pipelines.reduce[width] = await pipeline('reduceGrads', width);
    }
    pipelines.finalize = await pipeline('finalizeGradStats', 1);
  }

  creation.stage = BINDING_STAGE;
  creation.pushScope();
  const bindGroup = <Entry extends OptimizerEntryPoint>(
    entry: Entry,
    suffix: string,
    resources: Readonly<Record<EntryGlobals<Entry>, GPUBufferBinding>>,
  ) =>
    device.createBindGroup({
      label: `${label} ${suffix}`,
      layout: layoutOf(device, entry),
      entries: entryBindings(entry, resources),
    });
  const call = {
    buffer: r.callRing,
    offset: 0,
    size: callWords(input.groupCount, input.tensorCount) * WORD_BYTES,
  };
  const control = { buffer: r.control };
  const prepareBindGroup = bindGroup('prepare', 'prepare', {
    tensorGroups: { buffer: r.tensorGroups, size: Math.max(WORD_BYTES, input.tensorCount * WORD_BYTES) },
    groupConfigs: { buffer: r.groupConfigs, size: input.groupCount * GROUP_CONFIG.bytes },
    stepTable: { buffer: r.stepTable },
    stepCounts: { buffer: r.stepCounts },
    preparedScalars: { buffer: r.prepared },
    call,
    control,
    expectedEpoch: { buffer: r.callEpochs, offset: 0, size: 16 },
    slowSeeded: { buffer: r.slowSeeded, size: Math.max(WORD_BYTES, input.tensorCount * WORD_BYTES) },
  });
  const partials = r.partials;
  const finalizeBindGroup =
    partials &&
    bindGroup('finalizeGradStats', 'finalize', {
      call,
      control,
      partialSums: { buffer: partials, size: Math.max(WORD_BYTES, r.partialRuns.total * WORD_BYTES) },
    });
  const tensorScalars = { buffer: r.prepared, size: Math.max(1, input.tensorCount) * PREPARED_SLOT_BYTES };
  const maxPerDimension = device.limits.maxComputeWorkgroupsPerDimension;
  const extraScale = STATE_ELEMENT_BYTES / momentElementBytes(input.stateFormat);
  const bindUnit = (unit: PlannedUnit, index: number, param: GPUBuffer, grad: GPUBuffer): UnitBindGroups => {
    const tiles = runBinding(r.tiles, r.tileRuns, index, unit.tiles.length);
    const tiledWorkgroups = tileWorkgroups(unit.tiles.length, workgroupSize, input.tileShape);
    const segments = runBinding(r.segments, r.segmentRuns, index, unit.segments.length);
    const stateWindow = (page: GPUBuffer) => ({ buffer: page, ...unit.stateWindow });
    const stateOrPlaceholder = (placeholder: GPUBuffer | undefined, pages: readonly GPUBuffer[]) =>
      placeholder ? { buffer: placeholder } : stateWindow(pages[unit.page]!);
    // The state window, stretched over the slow weights' half of the page when it holds both halves.
    // extraState is f32 whatever the moments' format, so its window is the moments' window scaled to 4-byte elements.
    const extraWindow = (page: GPUBuffer, slowOffset: number) => ({
      buffer: page,
      offset: unit.stateWindow.offset * extraScale,
      size: unit.stateWindow.size * extraScale + slowOffset,
    });
    const streams = {
      params: { buffer: param, ...unit.paramWindow },
      grads: { buffer: grad, ...unit.gradWindow },
      expAvg: stateWindow(r.expAvgPages[unit.page]!),
      expAvgSq: stateOrPlaceholder(r.placeholders.expAvgSq, r.expAvgSqPages),
      extraState: r.placeholders.extraState
        ? { buffer: r.placeholders.extraState }
        : extraWindow(r.extraPages[unit.page]!, r.slowPageOffsets[unit.page]!),
    };
    const onlySegment = single(unit) ? unit.segments[0]! : undefined;
    const stepBindGroup = onlySegment
      ? bindGroup('stepSegment', `step unit ${index} (one segment, x${unit.width})`, {
          ...streams,
          unitScalars: {
            buffer: r.prepared,
            offset: onlySegment.tensor * PREPARED_SLOT_BYTES,
            size: STEP_SCALARS.bytes,
          },
          unitSegment: { ...segments, size: SEGMENT.bytes },
        })
      : bindGroup('step', `step unit ${index} (${unit.segments.length} segments, x${unit.width})`, {
          ...streams,
          tiles,
          tensorScalars,
        });
    const reduceBindGroup =
      partials &&
      bindGroup('reduceGrads', `grad stats unit ${index}`, {
        call,
        control,
        grads: streams.grads,
        tiles,
        partialSums: runBinding(partials, r.partialRuns, index, tiledWorkgroups),
      });
    return { step: stepBindGroup, reduce: reduceBindGroup };
  };
  const units: Unit[] = planned.map((unit, index) => {
    const onlySegment = single(unit) ? unit.segments[0]! : undefined;
    const workgroups = foldWorkgroups(
      tileWorkgroups(unit.tiles.length, workgroupSize, input.tileShape),
      maxPerDimension,
    );
    const created = bindUnit(unit, index, unit.param, unit.grad);
    return {
      width: unit.width,
      workgroups,
      stepPipeline: compiled.get(`${onlySegment ? 'stepSegment' : 'step'}|${unit.width}`)!,
      stepBindGroup: created.step,
      stepWorkgroups: onlySegment
        ? foldWorkgroups(Math.ceil(onlySegment.count / workgroupSize), maxPerDimension)
        : workgroups,
      reduceBindGroup: created.reduce,
      param: unit.param,
      grad: unit.grad,
      paramEnd: unit.paramWindow.offset + unit.paramWindow.size,
      gradEnd: unit.gradWindow.offset + unit.gradWindow.size,
      tensors: [...new Set(unit.segments.map((segment) => segment.tensor))],
      bind: (param, grad) => bindUnit(unit, index, param, grad),
    };
  });
  const creationError = await creation.popScope();
  if (creationError) {
    throw new BufferBindingError(
      'params',
      `WebGPU rejected the optimizer's bindings: ${creationError.message}`,
    );
  }
  // Bind groups may reference destroyed buffers or buffers of another device without complaint; a submit that
  // uses them does not. Binding each unit in an empty pass surfaces that now, naming a tensor.
  const probe = await probeBindGroups(creation, units);
  if (probe) {
    throw new BufferBindingError(
      'params',
      `${input.unitNames(probe.index)}: a param or grad buffer cannot be used (destroyed, or from another ` +
        `device?): ${probe.message}`,
    );
  }
  const dispatches = (input.tensorCount > 0 ? 1 : 0) + units.length + (gradStats ? units.length + 1 : 0);
  return { pipelines, prepareBindGroup, finalizeBindGroup, units, dispatches };
}

async function probeBindGroups(
  creation: Creation,
  units: readonly Unit[],
): Promise<{ index: number; message: string } | undefined> {
  const device = creation.device;
  const submitProbe = (indices: number[]) => {
    const encoder = device.createCommandEncoder({ label: 'webgpu-radam binding probe' });
    const pass = encoder.beginComputePass();
    for (const index of indices) {
      pass.setPipeline(units[index]!.stepPipeline);
      pass.setBindGroup(0, units[index]!.stepBindGroup);
    }
    pass.end();
    device.queue.submit([encoder.finish()]);
  };
  if (units.length === 0) return undefined;
  creation.pushScope();
  submitProbe(units.map((_, index) => index));
  const error = await creation.popScope();
  if (!error) return undefined;
  for (let index = 0; index < units.length; index++) {
    creation.pushScope();
    submitProbe([index]);
    const unitError = await creation.popScope();
    if (unitError) return { index, message: unitError.message };
  }
  return { index: 0, message: error.message };
}

/**
 * Records one step as one compute pass into `encoder`: (with gradient statistics) the clear of the non-finite flag,
 * then the pass. If recording throws, the pass is ended so the caller's encoder stays usable, and the error is
 * rethrown. Allocation-free.
 */
export function recordStep(
  encoder: GPUCommandEncoder,
  descriptor: GPUComputePassDescriptor,
  kernels: Kernels,
  offsets: Uint32Array,
  gradStats: boolean,
  control: GPUBuffer,
): void {
  if (gradStats) encoder.clearBuffer(control, GRAD_CONTROL.offset.nonFinite, WORD_BYTES);
  // The optimizer's whole step is this one pass, so a caller's timestamps bracket exactly the step.
  const pass = encoder.beginComputePass(descriptor);
  try {
    recordPass(pass, kernels, offsets, gradStats);
  } catch (error) {
    pass.end();
    throw error;
  }
  pass.end();
}

/**
 * Records one step's dispatches into an open pass. `offsets` holds [call slot, expected epoch]: the gradient
 * statistics bind only the first. Allocation-free: step() calls this on every step.
 */
export function recordPass(
  pass: GPUComputePassEncoder,
  kernels: Kernels,
  offsets: Uint32Array,
  gradStats: boolean,
): void {
  const { pipelines, units } = kernels;
  if (gradStats) {
    for (const unit of units) {
      pass.setPipeline(pipelines.reduce[unit.width]!);
      pass.setBindGroup(0, unit.reduceBindGroup!, offsets, 0, 1);
      pass.dispatchWorkgroups(unit.workgroups[0], unit.workgroups[1]);
    }
    pass.setPipeline(pipelines.finalize!);
    pass.setBindGroup(0, kernels.finalizeBindGroup!, offsets, 0, 1);
    pass.dispatchWorkgroups(1);
  }
  pass.setPipeline(pipelines.prepare);
  pass.setBindGroup(0, kernels.prepareBindGroup, offsets, 0, 2);
  pass.dispatchWorkgroups(1);
  let current: GPUComputePipeline | undefined;
  for (const unit of units) {
    const pipeline = unit.stepPipeline;
    if (pipeline !== current) {
      pass.setPipeline(pipeline);
      current = pipeline;
    }
    pass.setBindGroup(0, unit.stepBindGroup);
    pass.dispatchWorkgroups(unit.stepWorkgroups[0], unit.stepWorkgroups[1]);
  }
}
