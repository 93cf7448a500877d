// bf16 moments (stateFormat: 'bf16'): stochastic rounding is unbiased and keeps a slow second moment tracking,
// where round-to-nearest stagnates; the state dict round-trips bf16 state bit for bit; moments cost half.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAdam,
  createAdamW,
  createRAdam,
  type ExecutionOptions,
  OptimizerConfigError,
} from '../src/index';
import { readF32, uploadF32 } from './helpers/buffers';
import { packedModel } from './helpers/model';
import { requestTestDevice } from './helpers/webgpu-node';

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

/** One tensor of `length` params (a vec4 body and, for odd lengths, a scalar tail) with a constant gradient. */
function constantGradient(length: number, gradient: number) {
  return {
    length,
    param: uploadF32(device, new Float32Array(length)),
    grad: uploadF32(device, new Float32Array(length).fill(gradient)),
  };
}

const bf16Of = (x: number) => {
  const bits = new Uint32Array(Float32Array.of(x).buffer)[0]!;
  const down = new Float32Array(Uint32Array.of(bits & 0xffff0000).buffer)[0]!;
  const up = new Float32Array(Uint32Array.of((bits & 0xffff0000) + 0x10000).buffer)[0]!;
  return { down, up };
};

describe("stateFormat: 'bf16'", () => {
  it('rounds stochastically without bias: the mean of 65 539 roundings is within 5 sigma of the f32 value', async () => {
    const length = 65_539;
    const gradient = 0.123;
    // After one step from zero moments, m = (1 - beta1) * g in f32, stored once in bf16.
    const exact = Math.fround(Math.fround(1 - 0.9) * Math.fround(gradient));
    const { down, up } = bf16Of(exact);
    const p = (exact - down) / (up - down);
    expect(p).toBeGreaterThan(0.05);
    expect(p).toBeLessThan(0.95);
    const bound = (5 * (up - down) * Math.sqrt(p * (1 - p))) / Math.sqrt(length);
    const means: number[] = [];
    for (const roundStateToNearest of [false, true]) {
      const tensor = constantGradient(length, gradient);
      const optimizer = await createAdam(
        device,
        [tensor],
        { lr: 0, stateFormat: 'bf16' },
        { roundStateToNearest },
      );
      optimizer.stepAndSubmit();
      const { payload, header } = await optimizer.stateDict();
      const m = payload.subarray(header.tensors[0]!.exp_avg, header.tensors[0]!.exp_avg + length);
      for (const value of m) expect(value === down || value === up).toBe(true);
      means.push(m.reduce((sum, value) => sum + value, 0) / length);
      optimizer.destroy();
    }
    const [stochastic, nearest] = means as [number, number];
    console.log(
      `[bf16] m exact ${exact}, mean stochastic ${stochastic} (|err| ${Math.abs(stochastic - exact).toExponential(2)}, bound ${bound.toExponential(2)}), nearest ${nearest}`,
    );
    expect(Math.abs(stochastic - exact)).toBeLessThan(bound);
    // The control: round-to-nearest is biased by a whole fraction of an ulp, far outside the bound.
    expect(Math.abs(nearest - exact)).toBeGreaterThan(10 * bound);
  });

  it('keeps v within 1 % of float64 over 3000 constant-gradient steps (beta2 0.999); round-to-nearest stagnates', async () => {
    const length = 1027;
    const gradient = 0.01;
    const steps = 3000;
    const v64 = (1 - 0.999 ** steps) * gradient * gradient;
    const results: number[] = [];
    for (const roundStateToNearest of [false, true]) {
      const tensor = constantGradient(length, gradient);
      const optimizer = await createAdam(
        device,
        [tensor],
        { lr: 0, stateFormat: 'bf16' },
        { roundStateToNearest },
      );
      for (let t = 0; t < steps; t++) optimizer.stepAndSubmit();
      const { payload, header } = await optimizer.stateDict();
      const start = header.tensors[0]!.exp_avg_sq!;
      const v = payload.subarray(start, start + length);
      results.push(v.reduce((sum, value) => sum + value, 0) / length / v64);
      optimizer.destroy();
    }
    const [stochastic, nearest] = results as [number, number];
    console.log(
      `[bf16] mean v / float64 v after ${steps} steps: stochastic ${stochastic}, nearest ${nearest}`,
    );
    expect(Math.abs(stochastic - 1)).toBeLessThan(0.01);
    expect(nearest).toBeLessThan(0.6);
  });

  it('round-trips bf16 state bit for bit through the f32 state dict, marked as bf16', async () => {
    const make = async () => {
      const tensors = [constantGradient(37, 0.3), constantGradient(256, -0.7)];
      return createRAdam(device, tensors, { lr: 1e-2, stateFormat: 'bf16' });
    };
    const first = await make();
    for (let t = 0; t < 7; t++) first.stepAndSubmit();
    const saved = await first.stateDict();
    expect(saved.header.stateFormat).toBe('bf16');
    const bits = new Uint32Array(saved.payload.buffer, saved.payload.byteOffset, saved.payload.length);
    expect(bits.every((word) => (word & 0xffff) === 0)).toBe(true);
    expect(bits.some((word) => word !== 0)).toBe(true);
    const second = await make();
    second.loadStateDict(saved);
    const again = await second.stateDict();
    expect(Array.from(new Uint32Array(again.payload.buffer))).toEqual(Array.from(bits));
    first.destroy();
    second.destroy();
  });

  it('halves the moments of a 1M-parameter RAdam in byteSize', async () => {
    const n = 1 << 20;
    const sizes: number[] = [];
    for (const stateFormat of ['f32', 'bf16'] as const) {
      const optimizer = await createRAdam(device, [constantGradient(n, 0.1)], { stateFormat });
      sizes.push(optimizer.byteSize);
      optimizer.destroy();
    }
    const [f32, bf16] = sizes as [number, number];
    // Everything but the moments is the same, and f32 moments are 2 x 4 bytes per parameter.
    expect(f32 - bf16).toBe(4 * n);
    expect((2 * 4 * n - (f32 - bf16)) / (2 * 4 * n)).toBe(0.5);
  });
});

describe("stateFormat: 'bf16' with AMSGrad and Lookahead", () => {
  const lengths = [37, 256];
  const make = async (stateFormat: 'f32' | 'bf16') => {
    const tensors = [constantGradient(lengths[0]!, 0.3), constantGradient(lengths[1]!, -0.7)];
    const optimizer = await createAdam(device, tensors, {
      lr: 1e-2,
      amsgrad: true,
      lookahead: { k: 3, alpha: 0.5 },
      stateFormat,
    });
    return { optimizer, tensors };
  };
  const words = (state: { payload: Float32Array }) =>
    Array.from(new Uint32Array(state.payload.buffer, state.payload.byteOffset, state.payload.length));

  it("halves only the moments: AMSGrad's max and the slow weights stay f32", async () => {
    const [f32, bf16] = [(await make('f32')).optimizer, (await make('bf16')).optimizer];
    // Each tensor's state starts on a 256-byte boundary: slots of 64 f32 or 128 bf16 elements. Per slot element,
    // f32 keeps m, v, max and slow in 4 bytes each; bf16 keeps m and v in 2 and max and slow still in 4.
    const slots = (align: number) => lengths.reduce((sum, n) => sum + Math.ceil(n / align) * align, 0);
    expect(f32.byteSize - bf16.byteSize).toBe(slots(64) * 4 * 4 - slots(128) * (2 * 2 + 2 * 4));
    for (let t = 0; t < 5; t++) bf16.stepAndSubmit();
    const state = await bf16.stateDict();
    const bits = words(state);
    const lowHalves = (key: 'exp_avg' | 'exp_avg_sq' | 'max_exp_avg_sq' | 'slow_buffer') =>
      state.header.tensors.flatMap((t) =>
        bits.slice(t[key]!, t[key]! + t.length).map((word) => word & 0xffff),
      );
    expect(lowHalves('exp_avg').every((low) => low === 0)).toBe(true);
    expect(lowHalves('exp_avg_sq').every((low) => low === 0)).toBe(true);
    // f32 values: most keep low mantissa bits that a bf16 store would have dropped.
    const n = lengths[0]! + lengths[1]!;
    expect(lowHalves('max_exp_avg_sq').filter((low) => low !== 0).length).toBeGreaterThan(n / 2);
    expect(lowHalves('slow_buffer').filter((low) => low !== 0).length).toBeGreaterThan(n / 2);
    f32.destroy();
    bf16.destroy();
  });

  it('refuses bindings too small for its f32 state before allocating anything, naming the minimum', async () => {
    const tensors = [constantGradient(lengths[0]!, 0.3)];
    const options = { amsgrad: true, lookahead: { k: 3, alpha: 0.5 }, stateFormat: 'bf16' } as const;
    // 4 bytes of max and 4 of slow weights per 2-byte moment: a moment window takes a quarter of a binding.
    await expect(createAdam(device, tensors, options, { maxBindingBytes: 1024 })).rejects.toThrow(
      /Invalid maxBindingBytes: 1024 \(expected at least 2048 with bf16 moments and amsgrad and lookahead/,
    );
    await expect(createAdam(device, tensors, options, { maxBindingBytes: 1024 })).rejects.toBeInstanceOf(
      OptimizerConfigError,
    );
    (await createAdam(device, tensors, options, { maxBindingBytes: 2048 })).destroy();
    // f32 moments with both keep max and slow weights in one binding too: half a binding per window.
    await expect(
      createAdam(device, tensors, { ...options, stateFormat: 'f32' }, { maxBindingBytes: 512 }),
    ).rejects.toThrow(/Invalid maxBindingBytes: 512 \(expected at least 1024 with f32 moments/);
  });

  it('round-trips the state bit for bit, and a loaded copy steps exactly like the original', async () => {
    const first = await make('bf16');
    for (let t = 0; t < 4; t++) first.optimizer.stepAndSubmit();
    const saved = await first.optimizer.stateDict();
    const second = await make('bf16');
    second.optimizer.loadStateDict(saved);
    expect(words(await second.optimizer.stateDict())).toEqual(words(saved));
    // A state dict holds no params (as in torch): the copy takes the original's.
    const encoder = device.createCommandEncoder();
    first.tensors.forEach((tensor, i) => {
      encoder.copyBufferToBuffer(tensor.param, 0, second.tensors[i]!.param, 0, tensor.length * 4);
    });
    device.queue.submit([encoder.finish()]);
    // Steps 5 and 6 (a sync step, k = 3) from the same state, params and gradients.
    for (let t = 0; t < 2; t++) {
      first.optimizer.stepAndSubmit();
      second.optimizer.stepAndSubmit();
    }
    expect(words(await second.optimizer.stateDict())).toEqual(words(await first.optimizer.stateDict()));
    expect(Array.from(await readF32(device, second.tensors[1]!.param))).toEqual(
      Array.from(await readF32(device, first.tensors[1]!.param)),
    );
    first.optimizer.destroy();
    second.optimizer.destroy();
  });
});

describe('bf16 rounding noise is keyed on (seed, tensor, step, element) alone', () => {
  it.each([
    ['AdamW', {}],
    ['Adam with AMSGrad and Lookahead', { amsgrad: true, lookahead: { k: 2, alpha: 0.5 } }],
  ] as const)('every plan of one model gives the same bits (%s)', async (_, extra) => {
    // Odd lengths: vec4 bodies and scalar tails, tensors longer than a tile of either shape.
    const lengths = [1, 37, 300, 1025, 4099];
    const plans: ExecutionOptions[] = [
      { tileShape: 'narrow' },
      { tileShape: 'wide' },
      { vectorize: false },
      // The smallest bindings bf16 moments with both AMSGrad and Lookahead allow: pieces of 64 elements.
      { maxBindingBytes: 2048 },
      { soloElements: 1, soloDispatches: 16 },
    ];
    const results: number[][] = [];
    for (const execution of plans) {
      const model = packedModel(device, lengths, 21);
      const optimizer = await createAdamW(
        device,
        model.specs,
        { lr: 1e-2, stateFormat: 'bf16', ...extra },
        execution,
      );
      for (let step = 1; step <= 5; step++) {
        model.writeGradients(step);
        optimizer.stepAndSubmit();
      }
      const { payload } = await optimizer.stateDict();
      const params = (await model.readParams()).flatMap((values) => Array.from(values));
      results.push([...new Uint32Array(payload.buffer, payload.byteOffset, payload.length), ...params]);
      optimizer.destroy();
      model.destroy();
    }
    // The first differing word, not a diff of thousands of values.
    for (const [index, result] of results.entries()) {
      const first = result.findIndex((value, i) => !Object.is(value, results[0]![i]));
      expect({ plan: plans[index], first, length: result.length }).toEqual({
        plan: plans[index],
        first: -1,
        length: results[0]!.length,
      });
    }
  });
});
