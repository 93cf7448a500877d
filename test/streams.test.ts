import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShaderCompilationError } from '../src/errors';
import { checkedComputePipeline, getBindGroupLayout } from '../src/pipeline-cache';
import { createStreamKernel } from '../src/streams';
import { mulberry32, readF32, uploadF32 } from './helpers/buffers';
import { requestTestDevice } from './helpers/webgpu-node';

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

describe('axpy executes real WGSL', () => {
  it.each([1, 5, 256, 1_000_003])('y = a*x + y matches the CPU for n = %i', async (n) => {
    const random = mulberry32(n);
    const x = Float32Array.from({ length: n }, () => random() * 2 - 1);
    const y = Float32Array.from({ length: n }, () => random() * 2 - 1);
    const alpha = 0.75;
    const xBuffer = uploadF32(device, x);
    const yBuffer = uploadF32(device, y);
    const kernel = await createStreamKernel(device, {
      kernel: 'axpy',
      buffers: [xBuffer, yBuffer],
      length: n,
      alpha,
    });
    const encoder = device.createCommandEncoder();
    kernel.record(encoder);
    device.queue.submit([encoder.finish()]);
    const got = await readF32(device, yBuffer);
    let mismatches = 0;
    for (let i = 0; i < n; i++) {
      // Against the exact value: the GPU rounds the product and the sum to f32 separately, or fuses them into
      // one rounding (an FMA, as NVIDIA's compiler does), so allow half an ulp for each of the two roundings.
      const product = alpha * x[i]!;
      const exact = product + y[i]!;
      const allowed = 2 ** -24 * (Math.abs(product) + Math.abs(exact));
      if (!(Math.abs(got[i]! - exact) <= allowed)) mismatches++;
    }
    expect(mismatches).toBe(0);
    kernel.destroy();
    xBuffer.destroy();
    yBuffer.destroy();
  });

  it('folds more than 65535 workgroups into a 2-D grid', async () => {
    // 65536 * 64 + 3 elements at workgroup size 64 need 65537 workgroups.
    const n = 65536 * 64 + 3;
    const x = new Float32Array(n).fill(1);
    const xBuffer = uploadF32(device, x);
    const yBuffer = uploadF32(device, new Float32Array(n));
    const kernel = await createStreamKernel(device, {
      kernel: 'axpy',
      buffers: [xBuffer, yBuffer],
      length: n,
      alpha: 2,
      workgroupSize: 64,
    });
    const encoder = device.createCommandEncoder();
    kernel.record(encoder);
    device.queue.submit([encoder.finish()]);
    const got = await readF32(device, yBuffer);
    expect(got.every((value) => value === 2)).toBe(true);
    kernel.destroy();
    xBuffer.destroy();
    yBuffer.destroy();
  });
});

describe('WGSL errors are reported, not silent', () => {
  it('rejects with the compiler message for invalid WGSL', async () => {
    const layout = getBindGroupLayout(device, 'test|empty', []);
    const attempt = checkedComputePipeline(device, {
      key: 'test|broken',
      code: '@compute @workgroup_size(1) fn main() { let x: f32 = undefined_symbol; }',
      entryPoint: 'main',
      layout,
      constants: {},
    });
    await expect(attempt).rejects.toThrow(ShaderCompilationError);
    await expect(attempt).rejects.toThrow(/undefined_symbol/);
  });
});
