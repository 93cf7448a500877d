import { OptimizerStateError } from './errors';
import { MAX_STEP_COUNT } from './step-scalars';

/** Version of the serialized optimizer state; bumped on any incompatible change. */
export const STATE_FORMAT_VERSION = 1;
/** The `format` tag of every serialized optimizer state. */
export const STATE_FORMAT = 'webgpu-radam/optimizer-state';

/** One tensor's state, torch-named. Offsets index `OptimizerState.payload` (in f32 elements). */
export interface TensorStateHeader {
  name: string;
  length: number;
  /** Steps this tensor has taken (torch's state['step']). */
  step: number;
  exp_avg: number;
  /** Absent for SGD, which keeps only a momentum buffer (in `exp_avg`). */
  exp_avg_sq?: number;
  /** AMSGrad's running max of exp_avg_sq (torch's name); only from an optimizer with `amsgrad: true`. */
  max_exp_avg_sq?: number;
  /**
   * Lookahead's slow weights (Ranger's name); only for tensors of a Lookahead group that have taken a step.
   * Without it, the slow weights start again from the params at the tensor's next step.
   */
  slow_buffer?: number;
}

/** The JSON header of a saved state: what it was taken from, and where each tensor's moments are in the payload. */
export interface StateHeader {
  format: typeof STATE_FORMAT;
  version: number;
  optimizer: string;
  /** Optimizer steps taken, skipped ones excluded: the step schedules see. */
  step: number;
  paramGroups: { lr: number; params: number[] }[];
  tensors: TensorStateHeader[];
  /**
   * How the optimizer stored the moments ('f32' when absent). The payload is f32 either way, as torch and tfjs
   * expect; bf16 moments are exact in f32, so a bf16 state round-trips bit for bit, and f32 moments loaded into a
   * bf16 optimizer are rounded to nearest even.
   */
  stateFormat?: 'f32' | 'bf16';
}

/**
 * A snapshot of the optimizer: a JSON header and one Float32Array with every tensor's moments. It round-trips
 * exactly through serializeState / deserializeState.
 */
export interface OptimizerState {
  header: StateHeader;
  payload: Float32Array<ArrayBuffer>;
}

const MAGIC = 0x4d444152; // 'RADM' little-endian

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export const isStepCount = (value: unknown): value is number =>
  Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_STEP_COUNT;

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

/**
 * Why `header` is not a state header this package could have written for a payload of `payloadLength` f32 values
 * (undefined when it is one): its shape, format, version, step counts (integers in 0..MAX_STEP_COUNT, no tensor
 * ahead of the optimizer), learning rates and moment ranges. Whether it fits a given optimizer is checked by
 * loadStateDict.
 */
export function stateHeaderProblem(header: unknown, payloadLength: number): string | undefined {
  if (!isRecord(header)) return `the header is ${describe(header)}, expected an object`;
  if (header.format !== STATE_FORMAT)
    return `format is ${describe(header.format)}, expected ${JSON.stringify(STATE_FORMAT)}`;
  if (header.version !== STATE_FORMAT_VERSION)
    return `version ${describe(header.version)} is not supported (expected ${STATE_FORMAT_VERSION})`;
  if (typeof header.optimizer !== 'string')
    return `optimizer is ${describe(header.optimizer)}, expected a name`;
  if (!isStepCount(header.step))
    return `step ${describe(header.step)} is not an integer in [0, ${MAX_STEP_COUNT}]`;
  const { paramGroups, tensors } = header;
  if (!Array.isArray(paramGroups)) return `paramGroups is ${describe(paramGroups)}, expected an array`;
  for (const [g, group] of paramGroups.entries()) {
    if (!isRecord(group)) return `paramGroups[${g}] is ${describe(group)}, expected { lr, params }`;
    const { lr, params } = group;
    if (typeof lr !== 'number' || !(lr >= 0) || !Number.isFinite(Math.fround(lr)))
      return `paramGroups[${g}].lr is ${describe(lr)} (expected a number >= 0, finite in f32)`;
    if (!Array.isArray(params) || !params.every((index) => Number.isInteger(index) && index >= 0))
      return `paramGroups[${g}].params is ${describe(params)}, expected tensor indices`;
  }
  if (!Array.isArray(tensors)) return `tensors is ${describe(tensors)}, expected an array`;
  for (const [i, tensor] of tensors.entries()) {
    if (!isRecord(tensor))
      return `tensors[${i}] is ${describe(tensor)}, expected { name, length, step, exp_avg, exp_avg_sq?, max_exp_avg_sq?, slow_buffer? }`;
    const { name, length, step } = tensor;
    if (typeof name !== 'string') return `tensors[${i}].name is ${describe(name)}, expected a string`;
    const field = `tensors[${i}] (${name})`;
    if (!Number.isInteger(length) || (length as number) < 0)
      return `${field}.length is ${describe(length)}, expected an integer >= 0`;
    if (!isStepCount(step))
      return `${field}.step ${describe(step)} is not an integer in [0, ${MAX_STEP_COUNT}]`;
    if (step > header.step)
      return `${field}.step ${step} is ahead of the optimizer's step ${header.step}, which counts every step`;
    for (const key of ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'slow_buffer'] as const) {
      const start = tensor[key];
      if (start === undefined && key !== 'exp_avg') continue;
      if (
        !Number.isInteger(start) ||
        (start as number) < 0 ||
        (start as number) + (length as number) > payloadLength
      ) {
        return `${field}.${key} range [${describe(start)}, ${describe(start)} + ${length}) is outside the payload of ${payloadLength}`;
      }
    }
  }
  return undefined;
}

export function assertStateHeader(
  header: unknown,
  payloadLength: number,
  what: string,
): asserts header is StateHeader {
  const problem = stateHeaderProblem(header, payloadLength);
  if (problem !== undefined) throw new OptimizerStateError(`${what}: ${problem}`);
}

/**
 * Binary form: u32 magic 'RADM', u32 byte length of the UTF-8 JSON header, the header, zero padding to a multiple
 * of 4, then the payload as little-endian f32.
 */
export function serializeState(state: OptimizerState): ArrayBuffer {
  if (!isRecord(state) || !(state.payload instanceof Float32Array)) {
    throw new OptimizerStateError(
      `serializeState: expected { header, payload: Float32Array }, got ${describe(state)}`,
    );
  }
  assertStateHeader(state.header, state.payload.length, 'serializeState');
  const json = new TextEncoder().encode(JSON.stringify(state.header));
  const headerEnd = 8 + json.byteLength;
  const payloadStart = Math.ceil(headerEnd / 4) * 4;
  const out = new ArrayBuffer(payloadStart + state.payload.byteLength);
  const view = new DataView(out);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, json.byteLength, true);
  new Uint8Array(out, 8, json.byteLength).set(json);
  const payload = new DataView(out, payloadStart);
  state.payload.forEach((value, i) => {
    payload.setFloat32(i * 4, value, true);
  });
  return out;
}

/**
 * Parses `serializeState`'s bytes (throws an OptimizerStateError for anything malformed or truncated): an ArrayBuffer (or SharedArrayBuffer) or any view of one (Uint8Array, a Node
 * Buffer such as `fs.readFileSync(file)`, DataView, …), read from the view's byteOffset over its byteLength.
 */
export function deserializeState(bytes: ArrayBufferLike | ArrayBufferView): OptimizerState {
  const fail = (why: string): never => {
    throw new OptimizerStateError(`Invalid optimizer state: ${why}`);
  };
  let buffer: ArrayBufferLike;
  let start = 0;
  let byteLength: number;
  if (ArrayBuffer.isView(bytes)) {
    buffer = bytes.buffer;
    start = bytes.byteOffset;
    byteLength = bytes.byteLength;
  } else if (
    bytes instanceof ArrayBuffer ||
    Object.prototype.toString.call(bytes) === '[object SharedArrayBuffer]'
  ) {
    buffer = bytes;
    byteLength = buffer.byteLength;
  } else {
    return fail(
      `expected an ArrayBuffer or a view of one (Uint8Array, Buffer, DataView), got ${describe(bytes)}`,
    );
  }
  if (byteLength < 8) fail(`${byteLength} bytes is too short`);
  const view = new DataView(buffer, start, byteLength);
  if (view.getUint32(0, true) !== MAGIC) fail('it does not start with the RADM magic number');
  const jsonLength = view.getUint32(4, true);
  if (8 + jsonLength > byteLength) fail('the header is truncated');
  let header: unknown;
  try {
    // A copy: TextDecoder refuses views of a SharedArrayBuffer.
    header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, start + 8, jsonLength).slice()));
  } catch (error) {
    return fail(`the header is not JSON (${(error as Error).message})`);
  }
  const payloadStart = Math.ceil((8 + jsonLength) / 4) * 4;
  const count = (byteLength - payloadStart) / 4;
  if (!Number.isInteger(count) || count < 0) fail('the payload is not a whole number of f32 values');
  assertStateHeader(header, count, 'Invalid optimizer state');
  const payload = new Float32Array(count);
  for (let i = 0; i < count; i++) payload[i] = view.getFloat32(payloadStart + i * 4, true);
  return { header, payload };
}

/** What a live optimizer looks like to a state dict: its name, moments, groups and tensors. */
export interface StateShape {
  name: string;
  hasSecondMoment: boolean;
  /** Whether the optimizer keeps max_exp_avg_sq (AMSGrad). */
  amsgrad: boolean;
  /** Per tensor: whether its param group uses Lookahead (may hold slow_buffer). */
  lookahead: readonly boolean[];
  /** Each param group's tensor indices. */
  groups: readonly (readonly number[])[];
  tensors: readonly { readonly name: string; readonly length: number }[];
}

/**
 * Why `state` cannot be loaded into an optimizer of this shape (undefined when it can): a malformed header (see
 * stateHeaderProblem), another optimizer kind, tensor count or lengths, group layout, a missing or extra
 * exp_avg_sq, or a moment no finite gradient could produce (NaN/Inf, or exp_avg_sq < 0).
 */
export function loadProblem(state: unknown, shape: StateShape): string | undefined {
  if (typeof state !== 'object' || state === null) return `the state is ${String(state)}`;
  const { header, payload } = state as OptimizerState;
  if (!(payload instanceof Float32Array)) return 'the payload is not a Float32Array';
  const problem = stateHeaderProblem(header, payload.length);
  if (problem !== undefined) return problem;
  if (header.optimizer !== shape.name)
    return `it is a state of ${JSON.stringify(header.optimizer)}, this optimizer is ${shape.name}`;
  if (header.tensors.length !== shape.tensors.length)
    return `it holds ${header.tensors.length} tensors, this optimizer has ${shape.tensors.length}`;
  if (header.paramGroups.length !== shape.groups.length)
    return `it holds ${header.paramGroups.length} param groups, this optimizer has ${shape.groups.length}`;
  for (const [g, group] of header.paramGroups.entries()) {
    const mine = shape.groups[g]!;
    if (group.params.length !== mine.length || group.params.some((tensor, k) => tensor !== mine[k]))
      return `paramGroups[${g}] holds tensors [${group.params}], this optimizer's holds [${mine.join()}]`;
  }
  const hasSecond = shape.hasSecondMoment;
  for (const [i, t] of header.tensors.entries()) {
    const mine = shape.tensors[i]!;
    const field = `tensors[${i}] (${t.name})`;
    if (t.length !== mine.length) return `${field} has length ${t.length}, ${mine.name} has ${mine.length}`;
    if (hasSecond !== (t.exp_avg_sq !== undefined)) {
      return `${field} ${hasSecond ? 'lacks' : 'has'} exp_avg_sq, which ${shape.name} ${hasSecond ? 'needs' : 'does not keep'}`;
    }
    // A state without max_exp_avg_sq (saved before AMSGrad, or by torch without it) loads: the max restarts
    // from exp_avg_sq. The reverse would drop state silently, so it is refused.
    if (!shape.amsgrad && t.max_exp_avg_sq !== undefined)
      return `${field} has max_exp_avg_sq, which ${shape.name} without amsgrad does not keep`;
    if (!shape.lookahead[i] && t.slow_buffer !== undefined)
      return `${field} has slow_buffer, but its param group has no lookahead`;
    // State this optimizer can produce from finite gradients: NaN/Inf would poison every later step.
    const arrays = [
      ['exp_avg', t.exp_avg, false],
      ['exp_avg_sq', t.exp_avg_sq, true],
      ['max_exp_avg_sq', t.max_exp_avg_sq, true],
      ['slow_buffer', t.slow_buffer, false],
    ] as const;
    for (const [key, start, nonNegative] of arrays) {
      if (start === undefined) continue;
      for (let k = 0; k < t.length; k++) {
        const value = payload[start + k]!;
        if (!Number.isFinite(value) || (nonNegative && !(value >= 0)))
          return `${field}.${key}[${k}] is ${value} (expected a finite number${nonNegative ? ' >= 0' : ''})`;
      }
    }
  }
  return undefined;
}

/** Where one tensor's state lives: see FusedOptimizer.stateLocation(). */
export interface StateLocation {
  expAvg: GPUBuffer;
  /** Undefined for SGD, which keeps no second moment. */
  expAvgSq: GPUBuffer | undefined;
  expAvgSqMax: GPUBuffer | undefined;
  slow: GPUBuffer | undefined;
  byteOffset: number;
  /** Where the slow weights start in `slow` (after the max when one buffer holds both). */
  slowByteOffset: number;
  length: number;
}

/** Where one tensor's moments live: a page and an offset in state elements. */
export interface StatePlacementOf {
  name: string;
  length: number;
  page: number;
  offset: number;
}

/**
 * A state dict from read-back pages: every tensor's moments packed end to end into one payload (all exp_avg
 * before the first exp_avg_sq of the same tensor), torch-named.
 */
export function assembleState(
  name: string,
  step: number,
  paramGroups: readonly { lr: number; tensors: readonly number[] }[],
  tensors: readonly StatePlacementOf[],
  counts: Uint32Array,
  expAvg: readonly Float32Array[],
  expAvgSq: readonly Float32Array[],
  extra: {
    expAvgSqMax: readonly Float32Array[];
    slow: readonly Float32Array[];
    /** Per tensor: whether its slow weights hold a value. */
    slowSeeded: Uint32Array;
  } = { expAvgSqMax: [], slow: [], slowSeeded: new Uint32Array(0) },
): OptimizerState {
  const total = tensors.reduce((sum, t) => sum + t.length, 0);
  const perTensor = 1 + (expAvgSq.length > 0 ? 1 : 0) + (extra.expAvgSqMax.length > 0 ? 1 : 0);
  const seeded = (i: number) => extra.slow.length > 0 && extra.slowSeeded[i] === 1;
  const slowTotal = tensors.reduce((sum, t, i) => sum + (seeded(i) ? t.length : 0), 0);
  const payload = new Float32Array(total * perTensor + slowTotal);
  let offset = 0;
  const take = (pageData: Float32Array, tensor: StatePlacementOf) => {
    payload.set(pageData.subarray(tensor.offset, tensor.offset + tensor.length), offset);
    offset += tensor.length;
    return offset - tensor.length;
  };
  const entries: TensorStateHeader[] = tensors.map((tensor, i) => {
    const entry: TensorStateHeader = {
      name: tensor.name,
      length: tensor.length,
      step: counts[i]!,
      exp_avg: take(expAvg[tensor.page]!, tensor),
    };
    if (expAvgSq.length > 0) entry.exp_avg_sq = take(expAvgSq[tensor.page]!, tensor);
    if (extra.expAvgSqMax.length > 0) entry.max_exp_avg_sq = take(extra.expAvgSqMax[tensor.page]!, tensor);
    if (seeded(i)) entry.slow_buffer = take(extra.slow[tensor.page]!, tensor);
    return entry;
  });
  const header: StateHeader = {
    format: STATE_FORMAT,
    version: STATE_FORMAT_VERSION,
    optimizer: name,
    step,
    paramGroups: paramGroups.map((group) => ({ lr: group.lr, params: [...group.tensors] })),
    tensors: entries,
  };
  return { header, payload };
}
