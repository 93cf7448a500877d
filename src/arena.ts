import { configAssert } from './errors';
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
  const alignment = device.limits.minStorageBufferOffsetAlignment;
  const offsets: number[] = [];
  let cursor = 0;
  tensors.forEach((tensor, i) => {
    configAssert(
      Number.isInteger(tensor.length) && tensor.length >= 0,
      `tensors[${i}].length`,
      () => `Invalid tensors[${i}].length: ${tensor.length} (expected an integer >= 0)`,
    );
    offsets.push(cursor);
    cursor += Math.ceil((tensor.length * 4) / alignment) * alignment;
  });
  const usage =
    (options.usage ?? 0) | GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const label = options.label ?? 'webgpu-radam arena';
  const size = Math.max(alignment, cursor);
  const param = device.createBuffer({ label: `${label} params`, size, usage });
  const grad = device.createBuffer({ label: `${label} grads`, size, usage });
  return {
    param,
    grad,
    // One entry per tensor, in order: what PerTensor promises.
    offsets: offsets as PerTensor<Tensors, number>,
    specs: tensors.map(
      (tensor, i): ParamSpec => ({
        param,
        grad,
        length: tensor.length,
        paramOffset: offsets[i]!,
        gradOffset: offsets[i]!,
        name: tensor.name ?? `params[${i}]`,
      }),
    ) as PerTensor<Tensors, ParamSpec>,
    destroy() {
      param.destroy();
      grad.destroy();
    },
  };
}
