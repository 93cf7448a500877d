import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferBindingError, createRAdam, OptimizerConfigError } from '../src/index';
import { mulberry32, readF32, uploadF32 } from './helpers/buffers';
import { countGpuObjectsCreated } from './helpers/device-spy';
import { requestTestDevice } from './helpers/webgpu-node';

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

const rows = (n: number, count: number, seed: number) => {
  const random = mulberry32(seed);
  return Array.from({ length: count }, () => Float32Array.from({ length: n }, () => 2 * random() - 1));
};

function submitStep(run: (encoder: GPUCommandEncoder) => void): void {
  const encoder = device.createCommandEncoder();
  run(encoder);
  device.queue.submit([encoder.finish()]);
}

describe('step(encoder, { grads }) binds a new gradient buffer every step', () => {
  it('matches the same trajectory with one persistent grad buffer, bit for bit (own buffers and an arena)', async () => {
    const n = 37;
    const steps = 12;
    const gradRows = rows(2 * n, steps, 7);
    const start = rows(2 * n, 1, 3)[0]!;
    // Reference: gradients written into the creation buffers.
    const refParam = uploadF32(device, start);
    const refGrad = uploadF32(device, new Float32Array(2 * n));
    const reference = await createRAdam(device, [
      { param: refParam, grad: refGrad, length: n },
      { param: refParam, grad: refGrad, length: n, paramOffset: 4 * n, gradOffset: 4 * n },
    ]);
    // Per-step buffers, as a pool would hand them out: one tensor in its own param buffer, one arena of two.
    const ownA = uploadF32(device, start.subarray(0, n));
    const ownB = uploadF32(device, start.subarray(n));
    const placeholder = uploadF32(device, new Float32Array(n));
    const fresh = await createRAdam(device, [
      { param: ownA, grad: placeholder, length: n },
      { param: ownB, grad: uploadF32(device, new Float32Array(n)), length: n },
    ]);
    const arenaParam = uploadF32(device, start);
    const arena = await createRAdam(device, [
      { param: arenaParam, grad: uploadF32(device, new Float32Array(2 * n)), length: n },
      {
        param: arenaParam,
        grad: uploadF32(device, new Float32Array(2 * n)),
        length: n,
        paramOffset: 4 * n,
        gradOffset: 4 * n,
      },
    ]);
    for (const row of gradRows) {
      device.queue.writeBuffer(refGrad, 0, row);
      submitStep((encoder) => reference.step(encoder));
      const gradA = uploadF32(device, row.subarray(0, n));
      const gradB = uploadF32(device, row.subarray(n));
      submitStep((encoder) => fresh.step(encoder, { grads: [gradA, gradB] }));
      const whole = uploadF32(device, row);
      submitStep((encoder) => arena.step(encoder, { grads: [whole, whole] }));
      gradA.destroy();
      gradB.destroy();
      whole.destroy();
    }
    const expected = await readF32(device, refParam);
    expect(await readF32(device, ownA)).toEqual(expected.subarray(0, n));
    expect(await readF32(device, ownB)).toEqual(expected.subarray(n));
    expect(await readF32(device, arenaParam)).toEqual(expected);
    // The placeholder given at creation was never read: the trajectory would differ (it holds zeros).
    expect((await fresh.stateDict()).payload).toEqual((await reference.stateDict()).payload);
    // Without options the creation buffers are bound again: a zero gradient moves m by beta1 only.
    submitStep((encoder) => fresh.step(encoder));
    expect(fresh.stepCount).toBe(steps + 1);
    for (const o of [reference, fresh, arena]) o.destroy();
  });

  it('params: steps another param buffer in place and leaves the creation one alone', async () => {
    const n = 16;
    const created = uploadF32(device, new Float32Array(n).fill(1));
    const other = uploadF32(device, new Float32Array(n).fill(2));
    const grad = uploadF32(device, new Float32Array(n).fill(0.5));
    const optimizer = await createRAdam(device, [{ param: created, grad, length: n }], { lr: 0.1 });
    submitStep((encoder) => optimizer.step(encoder, { params: [other] }));
    expect(Array.from(await readF32(device, created))).toEqual(new Array(n).fill(1));
    const moved = await readF32(device, other);
    // Step 1 of RAdam (torch) is an SGD-momentum step: p -= lr * m_hat = 0.1 * 0.5.
    for (const value of moved) expect(value).toBeCloseTo(2 - 0.05, 6);
    optimizer.destroy();
  });
});

describe('step(encoder, { grads, params }) checks every buffer before anything changes', () => {
  it('throws a typed error naming the tensor, with parameters, moments and counts unchanged', async () => {
    const n = 8;
    const p0 = uploadF32(device, new Float32Array(n).fill(1));
    const p1 = uploadF32(device, new Float32Array(n).fill(1));
    const arena = uploadF32(device, new Float32Array(2 * n).fill(1));
    const g = uploadF32(device, new Float32Array(2 * n).fill(0.25));
    const optimizer = await createRAdam(device, [
      { param: p0, grad: g, length: n, name: 'first' },
      { param: p1, grad: g, length: n, gradOffset: 4 * n, name: 'second' },
      { param: arena, grad: g, length: n, name: 'third' },
      { param: arena, grad: g, length: n, paramOffset: 4 * n, name: 'fourth' },
    ]);
    submitStep((encoder) => optimizer.step(encoder));
    const before = await optimizer.stateDict();
    const paramsBefore = await Promise.all([p0, p1, arena].map((buffer) => readF32(device, buffer)));
    const small = uploadF32(device, new Float32Array(n - 1));
    const noStorage = device.createBuffer({ size: 4 * n, usage: GPUBufferUsage.COPY_DST });
    const spare = uploadF32(device, new Float32Array(2 * n));
    const cases: [unknown, unknown, RegExp, string][] = [
      [undefined, [g, g, g], /expected an array of 4 GPUBuffers/, 'grads'],
      [undefined, 'g', /expected an array of 4/, 'grads'],
      [undefined, [{ size: 32 }, g, g, g], /first: grads\[0\] is .* not a GPUBuffer/, 'grads[0]'],
      [undefined, [noStorage, g, g, g], /first: grads\[0\] .* lacks GPUBufferUsage.STORAGE/, 'grads[0]'],
      // second reads bytes [32, 64) of its grad buffer.
      [undefined, [g, small, g, g], /second: grads\[1\] .* has 28 bytes; .* ends at byte 64/, 'grads[1]'],
      [undefined, [g, g, p0, p0], /third: grad buffer .* is the param buffer of first/, 'grads[2]'],
      [
        [spare, undefined, undefined, undefined],
        [g, g, spare, spare],
        /third: grad buffer .* param buffer of first/,
        'grads[2]',
      ],
      [
        [undefined, undefined, spare, undefined],
        undefined,
        /fourth: params\[3\] differs .* dispatched together/,
        'params[3]',
      ],
      [
        [undefined, p0, undefined, undefined],
        undefined,
        /second: params buffer .* is also given to first/,
        'params[1]',
      ],
    ];
    for (const [params, grads, message, field] of cases) {
      const encoder = device.createCommandEncoder();
      let caught: unknown;
      try {
        optimizer.step(encoder, { params: params as GPUBuffer[], grads: grads as GPUBuffer[] });
      } catch (error) {
        caught = error;
      }
      expect(caught, String(message)).toBeInstanceOf(Error);
      expect(caught instanceof BufferBindingError || caught instanceof OptimizerConfigError).toBe(true);
      expect((caught as Error).message).toMatch(message);
      expect((caught as BufferBindingError).field.startsWith(field.replace(/\[.*$/, ''))).toBe(true);
      device.queue.submit([encoder.finish()]);
    }
    expect(optimizer.stepCount).toBe(1);
    const after = await optimizer.stateDict();
    expect(after.payload).toEqual(before.payload);
    expect(after.header).toEqual(before.header);
    expect(await Promise.all([p0, p1, arena].map((buffer) => readF32(device, buffer)))).toEqual(paramsBefore);
    optimizer.destroy();
  });
});

describe('a warm loop with per-step buffers allocates nothing on the GPU', () => {
  it('creates no buffer, bind group or pipeline while 3 rotating grad buffers feed 100 steps', async () => {
    const n = 64;
    const params = [
      uploadF32(device, new Float32Array(n).fill(1)),
      uploadF32(device, new Float32Array(n).fill(1)),
    ];
    const pool = [0, 1, 2, 3, 4, 5].map((k) => uploadF32(device, new Float32Array(n).fill(0.01 * (k + 1))));
    const optimizer = await createRAdam(
      device,
      params.map((param) => ({ param, grad: uploadF32(device, new Float32Array(n)), length: n })),
    );
    // Like a buffer pool: the two tensors get different buffers from step to step, in rotation.
    const gradsOf = (t: number) => [pool[t % 3]!, pool[3 + ((t + 1) % 3)]!];
    const lists = [0, 1, 2].map(gradsOf);
    for (let t = 0; t < 3; t++) submitStep((encoder) => optimizer.step(encoder, { grads: lists[t]! }));
    const options = { grads: lists[0]! };
    const created = countGpuObjectsCreated(device, () => {
      for (let t = 3; t < 103; t++) {
        options.grads = lists[t % 3]!;
        submitStep((encoder) => optimizer.step(encoder, options));
      }
    });
    expect(created).toEqual({});
    expect((await optimizer.readGradStats()).completedSteps).toBe(103);
    optimizer.destroy();
  });
});
