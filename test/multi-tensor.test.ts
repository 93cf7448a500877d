import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createParameterArena, createRAdam } from '../src/index';
import { mulberry32, readF32, uploadF32 } from './helpers/buffers';
import { packedModel, readMoments } from './helpers/model';
import { requestTestDevice } from './helpers/webgpu-node';

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

describe('multi-tensor step', () => {
  it.each([
    ['all batched, narrow tiles (CPU adapters)', { tileShape: 'narrow' }],
    ['all batched, wide tiles (GPUs)', { tileShape: 'wide' }],
    ['the 16 largest in dispatches of their own', { soloElements: 600, soloDispatches: 16 }],
  ] as const)(
    '300 packed tensors of random odd sizes equal 300 single-tensor optimizers bit for bit (%s)',
    async (_, execution) => {
      const random = mulberry32(77);
      const lengths = Array.from({ length: 300 }, () => 1 + 2 * Math.floor(random() * 700));
      // 4-byte alignment: offsets land anywhere, so vec4 bodies, scalar tails and unaligned tensors all occur.
      const model = packedModel(device, lengths, 5, 4, 8);
      const packed = await createRAdam(device, model.specs, { lr: 3e-3, weightDecay: 0.01 }, execution);
      expect(packed.dispatchesPerStep).toBeLessThanOrEqual(
        3 + ('soloDispatches' in execution ? execution.soloDispatches : 0),
      );

      const singles = await Promise.all(
        lengths.map(async (length, i) => {
          const start = model.specs[i]!.paramOffset! / 4;
          const param = uploadF32(device, model.initial.subarray(start, start + length));
          const grad = uploadF32(device, new Float32Array(length));
          const optimizer = await createRAdam(device, [{ param, grad, length }], {
            lr: 3e-3,
            weightDecay: 0.01,
          });
          return { param, grad, optimizer };
        }),
      );
      for (let step = 1; step <= 8; step++) {
        const grads = model.writeGradients(step);
        const encoder = device.createCommandEncoder();
        packed.step(encoder);
        singles.forEach((single, i) => {
          device.queue.writeBuffer(single.grad, 0, grads[i]!);
          single.optimizer.step(encoder);
        });
        device.queue.submit([encoder.finish()]);
      }
      const params = await model.readParams();
      let mismatches = 0;
      for (const [i, single] of singles.entries()) {
        const own = await readF32(device, single.param);
        const ownMoments = await readMoments(device, single.optimizer, 0);
        const moments = await readMoments(device, packed, i);
        if (Array.from(own).join() !== Array.from(params[i]!).join()) mismatches++;
        if (Array.from(ownMoments.m).join() !== Array.from(moments.m).join()) mismatches++;
        if (Array.from(ownMoments.v).join() !== Array.from(moments.v).join()) mismatches++;
        single.optimizer.destroy();
        single.param.destroy();
        single.grad.destroy();
      }
      expect(mismatches).toBe(0);
      // The bytes between tensors are not the optimizer's: they must come back exactly as written.
      const whole = await readF32(device, model.param);
      const covered = new Uint8Array(whole.length);
      for (const spec of model.specs)
        covered.fill(1, spec.paramOffset! / 4, spec.paramOffset! / 4 + spec.length);
      const gapsChanged = whole.filter((value, k) => covered[k] === 0 && value !== model.initial[k]).length;
      expect(gapsChanged).toBe(0);
      packed.destroy();
      model.destroy();
    },
  );

  it('records a constant number of dispatches whatever the tensor count', async () => {
    const counts: Record<number, { dispatches: number; declared: number; hostMs: number }> = {};
    for (const tensors of [1, 10, 1000]) {
      const total = 100_000;
      const lengths = Array.from(
        { length: tensors },
        (_, i) => Math.floor(total / tensors) + (i === 0 ? total % tensors : 0),
      );
      const model = packedModel(device, lengths, 9, 16);
      const optimizer = await createRAdam(device, model.specs, { skipNonFinite: true, maxGradNorm: 1 });
      let dispatches = 0;
      const encoder = device.createCommandEncoder();
      const beginComputePass = encoder.beginComputePass.bind(encoder);
      encoder.beginComputePass = (descriptor?: GPUComputePassDescriptor) => {
        const pass = beginComputePass(descriptor);
        const dispatch = pass.dispatchWorkgroups.bind(pass);
        pass.dispatchWorkgroups = (x: number, y?: number, z?: number) => {
          dispatches++;
          dispatch(x, y, z);
        };
        return pass;
      };
      const started = performance.now();
      const steps = 20;
      for (let s = 0; s < steps; s++) optimizer.step(encoder);
      const hostMs = (performance.now() - started) / steps;
      device.queue.submit([encoder.finish()]);
      counts[tensors] = { dispatches: dispatches / steps, declared: optimizer.dispatchesPerStep, hostMs };
      optimizer.destroy();
      model.destroy();
    }
    console.log(`[multi-tensor] per step: ${JSON.stringify(counts)}`);
    expect(counts[1000]!.dispatches).toBe(counts[1]!.dispatches);
    expect(counts[10]!.dispatches).toBe(counts[1]!.dispatches);
    expect(counts[1000]!.dispatches).toBe(counts[1000]!.declared);
  });

  it('createParameterArena lays tensors out at binding-aligned offsets that batch into one step dispatch', async () => {
    const arena = createParameterArena(device, [{ length: 1000, name: 'w' }, { length: 10 }, { length: 64 }]);
    const alignment = device.limits.minStorageBufferOffsetAlignment;
    expect(arena.offsets.every((offset) => offset % alignment === 0)).toBe(true);
    expect(arena.specs.map((spec) => spec.name)).toEqual(['w', 'params[1]', 'params[2]']);
    const optimizer = await createRAdam(device, arena.specs);
    // prepare + one vec4 dispatch for all three tensors + one scalar dispatch for the 10-element tensor's tail.
    expect(optimizer.dispatchesPerStep).toBe(3);
    optimizer.destroy();
    arena.destroy();
  });
});
