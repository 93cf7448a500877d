import { PREPARED_SLOT_BYTES } from './contract';
import { assertDevice } from './device';
import { configAssert, describeValue } from './errors';
import { assertKnownKeys, guardedRead, snapshotKeys } from './options';
import type { ParamSpec } from './params';

/** One tensor to lay out in a parameter arena. */
export interface ArenaTensor {
  /** Number of f32 elements. */
  length: number;
  name?: string;
}

/**
 * One value per tensor of `Tensors`: a tuple of the same length when the tensors were listed literally, so that
 * `const [w, b] = arena.specs` needs no non-null assertion under `noUncheckedIndexedAccess`.
 */
export type PerTensor<Tensors extends readonly unknown[], Value> = { -readonly [K in keyof Tensors]: Value };

/** One parameter buffer and one gradient buffer holding every tensor of a model, and where each tensor lives. */
export interface ParameterArena<Tensors extends readonly ArenaTensor[] = readonly ArenaTensor[]> {
  param: GPUBuffer;
  grad: GPUBuffer;
  /** Byte offset of tensor i in both buffers: a multiple of minStorageBufferOffsetAlignment, so each tensor can be
   * bound on its own by the model's kernels. */
  offsets: PerTensor<Tensors, number>;
  /** Ready for createRAdam & co.: every tensor batched into the same dispatches. */
  specs: PerTensor<Tensors, ParamSpec>;
  /** Destroys both buffers. */
  destroy(): void;
}

/**
 * Lays a model's tensors out in one parameter buffer and one gradient buffer. The optimizer steps tensors that
 * share buffers in a constant number of dispatches; tensors in separate buffers cost one dispatch (and a bind
 * group switch) each, which dominates the host time of a step for models with hundreds of tensors.
 */
export function createParameterArena<const Tensors extends readonly ArenaTensor[]>(
  device: GPUDevice,
  tensors: Tensors,
  options: { label?: string; usage?: number } = {},
): ParameterArena<Tensors> {
  assertDevice(device, 'createParameterArena');
  assertKnownKeys(options, ['label', 'usage'], 'option', 'options');
  const { label = 'webgpu-radam arena', usage: extraUsage = 0 } = snapshotKeys(
    options,
    ['label', 'usage'],
    'options',
  );
  configAssert(
    typeof label === 'string',
    'options.label',
    () => `Invalid options.label: ${describeValue(label)} (expected a string)`,
  );
  const U = GPUBufferUsage;
  // MAP_READ and MAP_WRITE cannot be combined with STORAGE; unknown bits make createBuffer return an invalid buffer.
  const allowedUsage =
    U.COPY_SRC | U.COPY_DST | U.INDEX | U.VERTEX | U.UNIFORM | U.STORAGE | U.INDIRECT | U.QUERY_RESOLVE;
  configAssert(
    typeof extraUsage === 'number' &&
      Number.isInteger(extraUsage) &&
      (extraUsage & ~allowedUsage) === 0 &&
      extraUsage >= 0 &&
      extraUsage <= allowedUsage,
    'options.usage',
    () =>
      `Invalid options.usage: ${describeValue(extraUsage)} (expected GPUBufferUsage flags other than MAP_READ ` +
      'and MAP_WRITE, which cannot be combined with STORAGE)',
  );
  const {
    maxBufferSize,
    maxStorageBufferBindingSize,
    minStorageBufferOffsetAlignment: alignment,
  } = device.limits;
  const entries = guardedRead('tensors', () => {
    configAssert(
      Array.isArray(tensors),
      'tensors',
      () => `Invalid tensors: ${describeValue(tensors)} (expected an array of { length, name? })`,
    );
    return tensors;
  });
  const maxTensors = Math.floor(Math.min(maxStorageBufferBindingSize, maxBufferSize) / PREPARED_SLOT_BYTES);
  const count = guardedRead('tensors.length', () => entries.length);
  configAssert(
    count <= maxTensors,
    'tensors',
    () =>
      `Invalid tensors: ${count} entries; an optimizer on this device steps at most ${maxTensors} tensors`,
  );
  const offsets: number[] = [];
  const lengths: number[] = [];
  const names: string[] = [];
  let cursor = 0;
  for (let i = 0; i < count; i++) {
    const field = `tensors[${i}]`;
    const tensor: unknown = guardedRead(field, () => entries[i]);
    configAssert(
      typeof tensor === 'object' && tensor !== null,
      field,
      () => `Invalid ${field}: ${describeValue(tensor)} (expected { length, name? })`,
    );
    assertKnownKeys(tensor, ['length', 'name'], 'key', field);
    const { length, name = `params[${i}]` } = snapshotKeys(tensor as ArenaTensor, ['length', 'name'], field);
    configAssert(
      typeof length === 'number' && Number.isSafeInteger(length) && length >= 0,
      `${field}.length`,
      () => `Invalid ${field}.length: ${describeValue(length)} (expected an integer >= 0)`,
    );
    configAssert(
      typeof name === 'string',
      `${field}.name`,
      () => `Invalid ${field}.name: ${describeValue(name)} (expected a string)`,
    );
    offsets.push(cursor);
    lengths.push(length === 0 ? 0 : length);
    names.push(name);
    cursor += Math.ceil((length * 4) / alignment) * alignment;
    configAssert(
      cursor <= maxBufferSize,
      `${field}.length`,
      () =>
        `Invalid ${field}.length: ${length}: the arena would need ${cursor} bytes or more, over this device's ` +
        `maxBufferSize of ${maxBufferSize} (request a device with a higher limit, or use several arenas)`,
    );
  }
  const usage = extraUsage | GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const size = Math.max(alignment, cursor);
  const param = device.createBuffer({ label: `${label} params`, size, usage });
  const grad = device.createBuffer({ label: `${label} grads`, size, usage });
  return {
    param,
    grad,
    // One entry per tensor, in order: what PerTensor promises.
    offsets: offsets as PerTensor<Tensors, number>,
    specs: lengths.map(
      (length, i): ParamSpec => ({
        param,
        grad,
        length,
        paramOffset: offsets[i]!,
        gradOffset: offsets[i]!,
        name: names[i]!,
      }),
    ) as PerTensor<Tensors, ParamSpec>,
    destroy() {
      param.destroy();
      grad.destroy();
    },
  };
}
