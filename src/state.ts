import { OptimizerStateError } from './errors';

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

/**
 * Binary form: u32 magic 'RADM', u32 byte length of the UTF-8 JSON header, the header, zero padding to a multiple
 * of 4, then the payload as little-endian f32.
 */
export function serializeState(state: OptimizerState): ArrayBuffer {
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

/** Parses `serializeState`'s bytes; throws an OptimizerStateError for anything malformed or truncated. */
export function deserializeState(bytes: ArrayBuffer): OptimizerState {
  const fail = (why: string): never => {
    throw new OptimizerStateError(`Invalid optimizer state: ${why}`);
  };
  if (bytes.byteLength < 8) fail(`${bytes.byteLength} bytes is too short`);
  const view = new DataView(bytes);
  if (view.getUint32(0, true) !== MAGIC) fail('it does not start with the RADM magic number');
  const jsonLength = view.getUint32(4, true);
  if (8 + jsonLength > bytes.byteLength) fail('the header is truncated');
  let header: StateHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(new Uint8Array(bytes, 8, jsonLength))) as StateHeader;
  } catch (error) {
    return fail(`the header is not JSON (${(error as Error).message})`);
  }
  const payloadStart = Math.ceil((8 + jsonLength) / 4) * 4;
  const count = (bytes.byteLength - payloadStart) / 4;
  if (!Number.isInteger(count) || count < 0) fail('the payload is not a whole number of f32 values');
  const payload = new Float32Array(count);
  const data = new DataView(bytes, payloadStart);
  for (let i = 0; i < count; i++) payload[i] = data.getFloat32(i * 4, true);
  return { header, payload };
}

/**
 * tfjs optimizers' getWeights() order for Adam-like state: the iteration count first, then every variable's first
 * moment, then every variable's second moment. Returns plain arrays to feed tf.tensor().
 */
export function toTfjsWeights(state: OptimizerState): { name: string; values: Float32Array }[] {
  const { header, payload } = state;
  const slice = (offset: number, length: number) => payload.slice(offset, offset + length);
  return [
    { name: 'iter', values: Float32Array.of(header.step) },
    ...header.tensors.map((t) => ({ name: `${t.name}/m`, values: slice(t.exp_avg, t.length) })),
    ...header.tensors
      .filter((t) => t.exp_avg_sq !== undefined)
      .map((t) => ({ name: `${t.name}/v`, values: slice(t.exp_avg_sq!, t.length) })),
  ];
}

/** The inverse of toTfjsWeights, given the header of a state of the same model (names and lengths). */
export function fromTfjsWeights(
  template: StateHeader,
  weights: readonly { values: ArrayLike<number> }[],
): OptimizerState {
  const tensors = template.tensors;
  const hasSecond = tensors.every((t) => t.exp_avg_sq !== undefined);
  const expected = 1 + tensors.length * (hasSecond ? 2 : 1);
  if (weights.length !== expected) {
    throw new OptimizerStateError(
      `tfjs weights: expected ${expected} arrays (iterations, m…, v…), got ${weights.length}`,
    );
  }
  const step = Number(weights[0]!.values[0]);
  const total = tensors.reduce((sum, t) => sum + t.length, 0);
  const payload = new Float32Array(total * (hasSecond ? 2 : 1));
  let offset = 0;
  const out: TensorStateHeader[] = tensors.map((t) => ({ name: t.name, length: t.length, step, exp_avg: 0 }));
  for (const [which, base] of (hasSecond ? [0, 1] : [0]).map((w) => [w, 1 + w * tensors.length] as const)) {
    tensors.forEach((t, i) => {
      const values = weights[base + i]!.values;
      if (values.length !== t.length) {
        throw new OptimizerStateError(
          `tfjs weights: array ${base + i} has ${values.length} values, ${t.name} needs ${t.length}`,
        );
      }
      payload.set(Array.from(values), offset);
      if (which === 0) out[i]!.exp_avg = offset;
      else out[i]!.exp_avg_sq = offset;
      offset += t.length;
    });
  }
  return { header: { ...template, step, tensors: out }, payload };
}
