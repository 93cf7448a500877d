import type { FusedOptimizer, ParamSpec } from '../../src/index';
import { mulberry32, readF32, STORAGE_RW } from './buffers';

/** Tensors packed into one param buffer and one grad buffer, as a flat-parameter engine lays them out. */
export interface PackedModel {
  param: GPUBuffer;
  grad: GPUBuffer;
  specs: ParamSpec[];
  lengths: number[];
  initial: Float32Array<ArrayBuffer>;
  /** Writes a deterministic gradient for every element; returns the host copy (per tensor). */
  writeGradients(
    step: number,
    overrides?: (tensor: number, values: Float32Array) => void,
  ): Float32Array<ArrayBuffer>[];
  readParams(): Promise<Float32Array[]>;
  destroy(): void;
}

/**
 * `alignment` is the byte alignment of each tensor's offset (16 for vec4 paths, 4 to force scalar tails and
 * element offsets); the grad buffer mirrors the param layout shifted by `gradShift` bytes.
 */
export function packedModel(
  device: GPUDevice,
  lengths: number[],
  seed: number,
  alignment = 16,
  gradShift = 0,
): PackedModel {
  const random = mulberry32(seed);
  const offsets: number[] = [];
  let cursor = 0;
  for (const length of lengths) {
    offsets.push(cursor);
    // Varying gaps between tensors: data that must stay untouched lives between them.
    cursor += Math.ceil((length * 4 + 4 * Math.floor(random() * 3)) / alignment) * alignment;
  }
  const total = cursor / 4;
  const initial = Float32Array.from({ length: total }, () => 2 * random() - 1);
  const param = device.createBuffer({ size: cursor, usage: STORAGE_RW });
  const grad = device.createBuffer({ size: cursor + gradShift, usage: STORAGE_RW });
  device.queue.writeBuffer(param, 0, initial);
  const specs = lengths.map((length, i) => ({
    param,
    grad,
    length,
    paramOffset: offsets[i]!,
    gradOffset: offsets[i]! + gradShift,
    name: `t${i}`,
  }));
  const gradHost = new Float32Array(total + gradShift / 4);
  return {
    param,
    grad,
    specs,
    lengths,
    initial,
    writeGradients(step, overrides) {
      const stepRandom = mulberry32(seed * 1000 + step);
      const perTensor = lengths.map((length, i) => {
        const values = Float32Array.from({ length }, () => (2 * stepRandom() - 1) * (1 + (i % 3)));
        overrides?.(i, values);
        gradHost.set(values, (offsets[i]! + gradShift) / 4);
        return values;
      });
      device.queue.writeBuffer(grad, 0, gradHost);
      return perTensor;
    },
    async readParams() {
      const all = await readF32(device, param);
      return lengths.map((length, i) => all.slice(offsets[i]! / 4, offsets[i]! / 4 + length));
    },
    destroy() {
      param.destroy();
      grad.destroy();
    },
  };
}

export async function readMoments(device: GPUDevice, optimizer: FusedOptimizer, tensor: number) {
  const at = optimizer.stateLocation(tensor);
  return {
    m: await readF32(device, at.expAvg, at.byteOffset, at.length),
    v: at.expAvgSq ? await readF32(device, at.expAvgSq, at.byteOffset, at.length) : new Float32Array(0),
  };
}
