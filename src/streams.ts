import { bindingAssert, configAssert } from './errors';
import { foldWorkgroups } from './grid';
import { checkedComputePipeline, getBindGroupLayout } from './pipeline-cache';
import { type ElementWidth, streamsShaderSource } from './shaders';

/** Streaming kernels: `axpy` (y = alpha*x + y), `copy` (y = x) and `sevenStreams` (4 reads, 3 writes). */
export type StreamKernelName = 'axpy' | 'copy' | 'sevenStreams';

const BUFFERS_PER_KERNEL: Record<StreamKernelName, number> = { axpy: 2, copy: 2, sevenStreams: 4 };

export interface StreamKernelOptions {
  kernel: StreamKernelName;
  /** Whole buffers, in binding order: x, y (and z, w for sevenStreams). Each must hold `length` f32. */
  buffers: GPUBuffer[];
  /** Number of f32 elements. */
  length: number;
  /** @defaultValue 1 */
  alpha?: number;
  /** 4 processes one vec4 per invocation and needs `length` to be a multiple of 4. @defaultValue 1 */
  elementWidth?: ElementWidth;
  /** @defaultValue 256 */
  workgroupSize?: number;
}

export interface StreamKernel {
  /** Bytes the kernel reads plus writes per dispatch, for bandwidth figures. */
  readonly bytesMoved: number;
  record(encoder: GPUCommandEncoder): void;
  destroy(): void;
}

/**
 * Builds a streaming kernel over caller-owned buffers: the end-to-end proof that WGSL executes, and the
 * bandwidth yardstick (copy, seven streams) that benchmarks divide the optimizer's throughput by.
 */
export async function createStreamKernel(
  device: GPUDevice,
  options: StreamKernelOptions,
): Promise<StreamKernel> {
  const { kernel, buffers, length } = options;
  const width = options.elementWidth ?? 1;
  const workgroupSize = options.workgroupSize ?? 256;
  const bufferCount = BUFFERS_PER_KERNEL[kernel];
  configAssert(
    Number.isInteger(length) && length >= 0,
    'length',
    () => `Invalid length: ${length} (expected an integer >= 0)`,
  );
  configAssert(
    length % width === 0,
    'length',
    () => `Invalid length: ${length} (expected a multiple of elementWidth ${width})`,
  );
  bindingAssert(
    buffers.length === bufferCount,
    'buffers',
    () => `${kernel} takes ${bufferCount} buffers, got ${buffers.length}`,
  );
  for (const [i, buffer] of buffers.entries()) {
    bindingAssert(
      buffer.size >= length * 4,
      `buffers[${i}]`,
      () => `buffers[${i}] has ${buffer.size} bytes but ${length} f32 need ${length * 4}`,
    );
  }

  const storageEntries: GPUBindGroupLayoutEntry[] = buffers.map((_, i) => ({
    binding: i + 1,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type: i === 0 ? 'read-only-storage' : 'storage' },
  }));
  const layout = getBindGroupLayout(device, `streams|buffers=${bufferCount}`, [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
    ...storageEntries,
  ]);
  const pipeline = await checkedComputePipeline(device, {
    key: `streams|${kernel}|width=${width}|wg=${workgroupSize}`,
    code: streamsShaderSource(width),
    entryPoint: kernel,
    layout,
    constants: { WORKGROUP_SIZE: workgroupSize },
  });

  const count = length / width;
  const uniform = device.createBuffer({
    label: `webgpu-radam ${kernel} params`,
    size: 16,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  const packed = new ArrayBuffer(16);
  new Uint32Array(packed, 0, 1)[0] = count;
  new Float32Array(packed, 4, 1)[0] = options.alpha ?? 1;
  device.queue.writeBuffer(uniform, 0, packed);

  const bindGroup = device.createBindGroup({
    label: `webgpu-radam ${kernel} bind group`,
    layout,
    entries: [
      { binding: 0, resource: { buffer: uniform } },
      ...buffers.map((buffer, i) => ({
        binding: i + 1,
        resource: { buffer, size: Math.max(length * 4, 4) },
      })),
    ],
  });
  const [x, y] = foldWorkgroups(
    Math.ceil(count / workgroupSize),
    device.limits.maxComputeWorkgroupsPerDimension,
  );
  const bytesPerElement = kernel === 'sevenStreams' ? 28 : kernel === 'axpy' ? 12 : 8;

  return {
    bytesMoved: length * bytesPerElement,
    record(encoder) {
      if (count === 0) return;
      const pass = encoder.beginComputePass({ label: `webgpu-radam ${kernel}` });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(x, y);
      pass.end();
    },
    destroy() {
      uniform.destroy();
    },
  };
}
