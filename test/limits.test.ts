import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRAdam } from '../src/index';
import { readF32, STORAGE_RW } from './helpers/buffers';
import { requestTestDevice } from './helpers/webgpu-node';

let device: GPUDevice;
beforeAll(async () => {
  // No requiredLimits: WebGPU's defaults, so maxStorageBufferBindingSize is the real 128 MiB a browser gives.
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

describe('a tensor larger than maxStorageBufferBindingSize', () => {
  it('is split across bindings transparently and every element matches the float64 reference', async () => {
    const limit = device.limits.maxStorageBufferBindingSize;
    expect(limit).toBe(128 * 1024 * 1024);
    const n = limit / 4 + 4099; // just past the limit, with a scalar tail
    const initial = new Float32Array(n);
    const grad = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      initial[i] = ((i % 1013) - 506) / 512;
      grad[i] = ((i % 769) - 384) / 256;
    }
    const paramBuffer = device.createBuffer({ size: n * 4, usage: STORAGE_RW });
    const gradBuffer = device.createBuffer({ size: n * 4, usage: STORAGE_RW });
    device.queue.writeBuffer(paramBuffer, 0, initial);
    device.queue.writeBuffer(gradBuffer, 0, grad);
    const lr = 1e-3;
    const optimizer = await createRAdam(device, [{ param: paramBuffer, grad: gradBuffer, length: n }], {
      lr,
    });
    // prepare + at least two vec4 pieces + the scalar tail.
    expect(optimizer.dispatchesPerStep).toBeGreaterThanOrEqual(4);
    optimizer.stepAndSubmit();
    const params = await readF32(device, paramBuffer);
    // Step 1 of torch RAdam is the SGD branch: m = 0.1 g, p -= lr * m / bc1 = lr * g.
    let mismatches = 0;
    for (let i = 0; i < n; i++) {
      const expected = initial[i]! - lr * grad[i]!;
      if (Math.abs(params[i]! - expected) > 1e-7 + 1e-6 * Math.abs(expected)) mismatches++;
    }
    expect(mismatches).toBe(0);
    optimizer.destroy();
    paramBuffer.destroy();
    gradBuffer.destroy();
  });
});
