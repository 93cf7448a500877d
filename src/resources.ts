// Stage 4 of the build (see create.ts): every buffer the optimizer owns, allocated and filled once. Ownership is
// explicit: a Creation records each buffer and error scope as it is made, so a build that fails at any later
// stage gives all of it back and leaves the caller's device as it found it; a finished optimizer destroys the
// same list in destroy(). The caller's param and grad buffers are never owned.
import { CALL_EPOCHS } from './call-ring';
import {
  GRAD_CONTROL,
  GROUP_CONFIG,
  PREPARED_SLOT_BYTES,
  packStruct,
  SCHEDULE_ENTRY,
  SEGMENT,
  STATE_ELEMENT_BYTES,
  STEP_FACTORS,
  type StructLayout,
  type StructValues,
  TILE,
  tileWorkgroups,
  WORD_BYTES,
} from './contract';
import { packGroupConfig, packStepTable } from './layouts';
import type { PlannedUnit } from './plan';
import type { GroupHyperParameters } from './step-scalars';
import type { ResolvedExecution } from './training-options';

/** What a half-built optimizer holds on the device, so that a failed creation can give it all back. */
export class Creation {
  readonly buffers: GPUBuffer[] = [];
  #openScopes = 0;
  /** What creation is doing, for the message of an unexpected platform error. */
  stage = 'validating its arguments';

  constructor(readonly device: GPUDevice) {}

  pushScope(): void {
    this.device.pushErrorScope('validation');
    this.#openScopes++;
  }

  popScope(): Promise<GPUError | null> {
    this.#openScopes--;
    return this.device.popErrorScope();
  }

  /** Pops every scope still open and destroys every buffer: the build failed. */
  release(): void {
    for (; this.#openScopes > 0; this.#openScopes--) this.device.popErrorScope().catch(() => null);
    for (const buffer of this.buffers) buffer.destroy();
  }
}

/** Where each unit's rows start in a table that lays runs end to end, each on an alignment boundary. */
export interface Runs {
  /** Index (in rows) where each run starts. */
  starts: number[];
  /** Rows in all, padding included. */
  total: number;
  rowBytes: number;
}

export function layoutRuns(counts: readonly number[], rowBytes: number, alignment: number): Runs {
  const rowsPerAlignment = Math.max(1, alignment / rowBytes);
  const starts: number[] = [];
  let total = 0;
  for (const count of counts) {
    starts.push(total);
    total += Math.ceil(count / rowsPerAlignment) * rowsPerAlignment;
  }
  return { starts, total, rowBytes };
}

/** Packs runs of structs (by field name) at the places `layoutRuns` gives them. */
function packRuns<Field extends string>(
  runs: readonly (readonly StructValues<Field>[])[],
  layout: StructLayout<Field>,
  alignment: number,
): { runs: Runs; bytes: ArrayBuffer } {
  const placed = layoutRuns(
    runs.map((rows) => rows.length),
    layout.bytes,
    alignment,
  );
  const bytes = new ArrayBuffer(Math.max(16, placed.total * layout.bytes));
  const view = new DataView(bytes);
  runs.forEach((rows, index) => {
    rows.forEach((row, k) => {
      packStruct(layout, row, view, (placed.starts[index]! + k) * layout.bytes);
    });
  });
  return { runs: placed, bytes };
}

/** A unit's slice of a run table, as a buffer binding. */
export function runBinding(buffer: GPUBuffer, runs: Runs, index: number, count: number): GPUBufferBinding {
  return { buffer, offset: runs.starts[index]! * runs.rowBytes, size: count * runs.rowBytes };
}

/** The buffers a live optimizer reads and writes outside its bind groups (state, readbacks, per-call writes). */
export interface StateBuffers {
  expAvgPages: GPUBuffer[];
  /** Empty for SGD, which keeps no second moment. */
  expAvgSqPages: GPUBuffer[];
  /**
   * AMSGrad's max_exp_avg_sq and Lookahead's slow weights (slow_buffer), one buffer per page (bound as
   * extraState): the max from byte 0, the slow weights from `slowPageOffsets[page]` (the second half when both
   * are kept), each placed like the moments. Empty with neither.
   */
  extraPages: GPUBuffer[];
  amsgrad: boolean;
  lookahead: boolean;
  /** Byte offset of the slow weights in each extra page. */
  slowPageOffsets: number[];
  /** One u32 per tensor: 1 once its slow weights hold a value (see optimizer.wgsl's prepare). */
  slowSeeded: GPUBuffer;
  stepCounts: GPUBuffer;
  control: GPUBuffer;
  callRing: GPUBuffer;
  /** Every buffer this optimizer allocated, destroyed by destroy(). */
  owned: GPUBuffer[];
}

/** Everything else the kernels bind. */
export interface Resources extends StateBuffers {
  /**
   * Bound in place of a state buffer the optimizer does not keep (exp_avg_sq for SGD; extraState without AMSGrad
   * and Lookahead): one each, as writable bindings of one dispatch may not alias.
   */
  placeholders: Readonly<Record<'expAvgSq' | 'extraState', GPUBuffer | undefined>>;
  tensorGroups: GPUBuffer;
  groupConfigs: GPUBuffer;
  stepTable: GPUBuffer;
  prepared: GPUBuffer;
  callEpochs: GPUBuffer;
  segments: GPUBuffer;
  tiles: GPUBuffer;
  /** Only with gradient statistics. */
  partials: GPUBuffer | undefined;
  segmentRuns: Runs;
  tileRuns: Runs;
  partialRuns: Runs;
}

export interface ResourceInputs {
  label: string;
  hasSecondMoment: boolean;
  amsgrad: boolean;
  lookahead: boolean;
  groups: readonly { hp: GroupHyperParameters }[];
  /** Param group of each tensor. */
  groupOf: readonly number[];
  /** State elements of each moment page. */
  pageElements: readonly number[];
  /** Bytes of one stored moment (4 for f32, 2 for bf16). */
  stateElementBytes: number;
  units: readonly PlannedUnit[];
  execution: ResolvedExecution;
  gradStats: boolean;
  uniformAlignment: number;
}

export function allocateResources(creation: Creation, input: ResourceInputs): Resources {
  const { device } = creation;
  const { label, execution, units, groups } = input;
  creation.stage = 'allocating its buffers';
  const allocate = (suffix: string, size: number, usage: number, data?: ArrayBuffer): GPUBuffer => {
    const buffer = device.createBuffer({
      label: `${label} ${suffix}`,
      size: Math.max(16, Math.ceil(size / WORD_BYTES) * WORD_BYTES),
      usage,
      mappedAtCreation: data !== undefined,
    });
    if (data) {
      new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data));
      buffer.unmap();
    }
    creation.buffers.push(buffer);
    return buffer;
  };
  const STORAGE = GPUBufferUsage.STORAGE;
  const stateUsage = STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const tensorCount = input.groupOf.length;

  // createBuffer zero-fills, which is the moments' initial state.
  const page = (moment: string) =>
    input.pageElements.map((elements, index) =>
      allocate(`${moment} page ${index}`, elements * input.stateElementBytes, stateUsage),
    );
  const expAvgPages = page('exp_avg');
  const expAvgSqPages = input.hasSecondMoment ? page('exp_avg_sq') : [];
  const { amsgrad, lookahead } = input;
  const both = amsgrad && lookahead;
  const extraName = both ? 'max_exp_avg_sq + slow_buffer' : amsgrad ? 'max_exp_avg_sq' : 'slow_buffer';
  const extraPages =
    amsgrad || lookahead
      ? input.pageElements.map((elements, index) =>
          allocate(`${extraName} page ${index}`, (both ? 2 : 1) * elements * STATE_ELEMENT_BYTES, stateUsage),
        )
      : [];
  const slowPageOffsets = input.pageElements.map((elements) => (both ? elements * STATE_ELEMENT_BYTES : 0));
  const placeholders = {
    expAvgSq: input.hasSecondMoment ? undefined : allocate('unused exp_avg_sq', 16, STORAGE),
    extraState: amsgrad || lookahead ? undefined : allocate('unused extra state', 16, STORAGE),
  };
  // Zero: no tensor's slow weights hold a value before its first step.
  const slowSeeded = allocate('slow weights seeded', tensorCount * WORD_BYTES, stateUsage);

  const tensorGroups = allocate(
    'tensor groups',
    tensorCount * WORD_BYTES,
    STORAGE,
    Uint32Array.from(input.groupOf).buffer,
  );
  const tableLength = execution.stepTableLength;
  const configBytes = new ArrayBuffer(groups.length * GROUP_CONFIG.bytes);
  const tableBytes = new ArrayBuffer(Math.max(16, groups.length * tableLength * STEP_FACTORS.bytes));
  groups.forEach((group, index) => {
    const tableStart = index * tableLength;
    packGroupConfig(group.hp, tableStart, tableLength, new DataView(configBytes), index * GROUP_CONFIG.bytes);
    packStepTable(group.hp, tableLength, new DataView(tableBytes), tableStart * STEP_FACTORS.bytes);
  });
  const groupConfigs = allocate('group configs', configBytes.byteLength, STORAGE, configBytes);
  const stepTable = allocate('step table', tableBytes.byteLength, STORAGE, tableBytes);
  const stepCounts = allocate('step counts', tensorCount * WORD_BYTES, stateUsage);
  const prepared = allocate(
    'prepared scalars',
    tensorCount * PREPARED_SLOT_BYTES,
    STORAGE | GPUBufferUsage.UNIFORM,
  );
  const callRing = allocate(
    'call slots',
    execution.slotStride * execution.ringSlots,
    STORAGE | GPUBufferUsage.COPY_DST,
  );
  // Entry k, k uniform offset alignments in, holds k: a dynamic offset into it tells prepare which epoch to expect.
  const epochWords = new Uint32Array((CALL_EPOCHS * execution.epochStride) / WORD_BYTES);
  for (let epoch = 0; epoch < CALL_EPOCHS; epoch++)
    epochWords[(epoch * execution.epochStride) / WORD_BYTES] = epoch;
  const callEpochs = allocate(
    'call epochs',
    epochWords.byteLength,
    GPUBufferUsage.UNIFORM,
    epochWords.buffer,
  );
  // Without gradient checks nothing else writes the clip factor: start with "no skip, clip factor 1".
  const controlBytes = new ArrayBuffer(
    GRAD_CONTROL.bytes + execution.scheduleTableLength * SCHEDULE_ENTRY.bytes,
  );
  new DataView(controlBytes).setFloat32(GRAD_CONTROL.offset.clipFactor, 1, true);
  const control = allocate('control', controlBytes.byteLength, stateUsage, controlBytes);

  // Every unit's segments, tiles and partial sums live in one buffer each, runs starting on alignment boundaries.
  const storageAlignment = execution.plan.storageAlignment;
  const segmentTable = packRuns(
    units.map((unit) =>
      unit.segments.map((segment) => ({
        ...segment,
        slowOffset: slowPageOffsets[unit.page]! / (STATE_ELEMENT_BYTES * unit.width),
      })),
    ),
    SEGMENT,
    // Single-segment units bind their segment as a uniform.
    Math.max(storageAlignment, input.uniformAlignment),
  );
  const tileTable = packRuns(
    units.map((unit) =>
      unit.tiles.map((tile) => ({
        ...tile,
        slowOffset: slowPageOffsets[unit.page]! / (STATE_ELEMENT_BYTES * unit.width),
      })),
    ),
    TILE,
    storageAlignment,
  );
  const partialRuns = layoutRuns(
    units.map((unit) => tileWorkgroups(unit.tiles.length, execution.workgroupSize, execution.tileShape)),
    WORD_BYTES,
    storageAlignment,
  );
  const segments = allocate(
    'segments',
    segmentTable.bytes.byteLength,
    STORAGE | GPUBufferUsage.UNIFORM,
    segmentTable.bytes,
  );
  const tiles = allocate('tiles', tileTable.bytes.byteLength, STORAGE, tileTable.bytes);
  const partials = input.gradStats
    ? allocate('partial sums', Math.max(16, partialRuns.total * WORD_BYTES), STORAGE)
    : undefined;
  return {
    expAvgPages,
    expAvgSqPages,
    extraPages,
    amsgrad,
    lookahead,
    slowPageOffsets,
    slowSeeded,
    stepCounts,
    control,
    callRing,
    owned: creation.buffers,
    placeholders,
    tensorGroups,
    groupConfigs,
    stepTable,
    prepared,
    callEpochs,
    segments,
    tiles,
    partials,
    segmentRuns: segmentTable.runs,
    tileRuns: tileTable.runs,
    partialRuns,
  };
}
