import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRAdam, type ExecutionOptions, type FusedOptimizer, type RAdamOptions } from '../src/index';
import { mulberry32, readF32, uploadF32 } from './helpers/buffers';
import { countGpuObjectsCreated } from './helpers/device-spy';
import { requestTestDevice } from './helpers/webgpu-node';
import { newState, radamReferenceStep, TORCH_RADAM } from './reference/optimizers';

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

function gradientRows(n: number, steps: number, seed: number): Float32Array[] {
  const random = mulberry32(seed);
  return Array.from({ length: steps }, () => Float32Array.from({ length: n }, () => 2 * random() - 1));
}

interface Run {
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
  optimizer: FusedOptimizer;
}

/**
 * Trains n parameters for rows.length steps. `perSubmit` steps are recorded into one encoder before it is
 * submitted; gradients for each of those steps come from separate buffers so that recording order matters.
 */
async function train(
  n: number,
  rows: Float32Array[],
  options: {
    perSubmit?: number;
    radam?: RAdamOptions;
    execution?: ExecutionOptions;
    lrAt?: (t: number) => number;
  } = {},
): Promise<Run> {
  const perSubmit = options.perSubmit ?? 1;
  const param = uploadF32(
    device,
    Float32Array.from({ length: n }, (_, i) => Math.sin(i)),
  );
  // Steps recorded into one encoder share the grad buffer; each step's gradient is copied into it inside the
  // encoder, right before that step, like a backward pass would write it.
  const grad = uploadF32(device, new Float32Array(n));
  const sources = rows.map((row) => uploadF32(device, row));
  const optimizer = await createRAdam(
    device,
    [{ param, grad, length: n }],
    options.radam ?? {},
    options.execution,
  );
  for (let t = 0; t < rows.length; t += perSubmit) {
    const encoder = device.createCommandEncoder();
    for (let k = t; k < Math.min(rows.length, t + perSubmit); k++) {
      if (options.lrAt) optimizer.lr = options.lrAt(k + 1);
      encoder.copyBufferToBuffer(sources[k]!, 0, grad, 0, n * 4);
      optimizer.step(encoder);
    }
    device.queue.submit([encoder.finish()]);
  }
  const state = optimizer.stateLocation(0);
  const run = {
    params: await readF32(device, param, 0, n),
    m: await readF32(device, state.expAvg, state.byteOffset, n),
    v: await readF32(device, state.expAvgSq!, state.byteOffset, n),
    optimizer,
  };
  for (const buffer of [param, grad, ...sources]) buffer.destroy();
  return run;
}

function expectIdentical(a: Run, b: Run) {
  expect(Array.from(a.params)).toEqual(Array.from(b.params));
  expect(Array.from(a.m)).toEqual(Array.from(b.m));
  expect(Array.from(a.v)).toEqual(Array.from(b.v));
}

describe('several steps recorded into one encoder', () => {
  it('give the same result as one step per submit, across ring wrap-around', async () => {
    const rows = gradientRows(37, 24, 1);
    const single = await train(37, rows);
    // 5 per encoder with a ring of 5 slots: every encoder reuses every slot of the previous one.
    const batched = await train(37, rows, { perSubmit: 5, execution: { maxPendingSteps: 5 } });
    expectIdentical(single, batched);
    expect(batched.optimizer.stepCount).toBe(24);
  });

  it('see their own step count: the branch switch at step 6 lands in the middle of an encoder', async () => {
    const rows = gradientRows(8, 8, 2);
    const single = await train(8, rows);
    const batched = await train(8, rows, { perSubmit: 8 });
    expectIdentical(single, batched);
  });
});

describe('learning rate changes between steps', () => {
  it('follow a schedule without rebuilding anything, matching the float64 reference', async () => {
    const n = 65;
    const rows = gradientRows(n, 40, 3);
    const lrAt = (t: number) => 1e-2 * Math.min(1, t / 10) * (t > 30 ? 0.1 : 1);
    const run = await train(n, rows, { perSubmit: 4, lrAt });
    const reference = newState(Float32Array.from({ length: n }, (_, i) => Math.sin(i)));
    for (const [index, row] of rows.entries()) {
      radamReferenceStep(reference, row, {
        ...TORCH_RADAM,
        lr: lrAt(index + 1),
        weightDecay: 0,
        decoupled: false,
      });
    }
    for (let i = 0; i < n; i++) {
      expect(Math.abs(run.params[i]! - reference.params[i]!)).toBeLessThan(
        1e-6 + 1e-5 * Math.abs(reference.params[i]!),
      );
    }
    expect(run.optimizer.lr).toBe(lrAt(40));
  });
});

describe('dispatch planning', () => {
  it('chunks split at maxBindingBytes give bit-identical results, with vec4 and scalar pieces', async () => {
    const n = 1001;
    const rows = gradientRows(n, 12, 4);
    const whole = await train(n, rows);
    // 512-byte bindings hold at most 64 elements past the widening, so 1001 elements need many dispatches.
    const chunked = await train(n, rows, { execution: { maxBindingBytes: 512 } });
    expectIdentical(whole, chunked);
    // prepare + a vec4 dispatch + a scalar dispatch for the 1-element tail.
    expect(whole.optimizer.dispatchesPerStep).toBe(3);
    // 64-element pieces pair up into 512-byte windows: 8 vec4 dispatches, the scalar tail, and prepare.
    expect(chunked.optimizer.dispatchesPerStep).toBe(10);
  });

  it('folds more than 65535 workgroups into a 2-D grid', async () => {
    const n = 65535 * 4 + 5;
    const rows = gradientRows(n, 7, 5);
    const folded = await train(n, rows, { execution: { workgroupSize: 4, vectorize: false } });
    const plain = await train(n, rows, { execution: { vectorize: false } });
    expectIdentical(plain, folded);
  });

  it('scalar-only and vec4 kernels agree bit for bit', async () => {
    const n = 4099;
    const rows = gradientRows(n, 10, 6);
    expectIdentical(await train(n, rows), await train(n, rows, { execution: { vectorize: false } }));
  });

  it('an empty parameter list and zero-length tensors record nothing and raise nothing', async () => {
    const empty = await createRAdam(device, []);
    const param = uploadF32(device, [1, 2, 3, 4]);
    const grad = uploadF32(device, [1, 1, 1, 1]);
    const zero = await createRAdam(device, [{ param, grad, length: 0 }]);
    // Only the prepare dispatch, which keeps the zero-length tensor's step count, like torch's state['step'].
    expect(zero.dispatchesPerStep).toBe(1);
    expect(empty.dispatchesPerStep).toBe(0);
    for (const optimizer of [empty, zero]) {
      optimizer.stepAndSubmit();
      expect(optimizer.stepCount).toBe(1);
      optimizer.destroy();
    }
    expect(Array.from(await readF32(device, param))).toEqual([1, 2, 3, 4]);
  });
});

describe('step() allocates nothing on the GPU', () => {
  it('creates no buffer, bind group, pipeline or shader module over 100 steps', async () => {
    const n = 300;
    const param = uploadF32(device, new Float32Array(n).fill(1));
    const grad = uploadF32(device, new Float32Array(n).fill(0.1));
    const optimizer = await createRAdam(device, [
      { param, grad, length: 150 },
      { param, grad, length: 150, paramOffset: 600, gradOffset: 600 },
    ]);
    const created = countGpuObjectsCreated(device, () => {
      for (let t = 0; t < 100; t++) {
        const encoder = device.createCommandEncoder();
        optimizer.step(encoder);
        device.queue.submit([encoder.finish()]);
      }
    });
    expect(created).toEqual({});
    expect(optimizer.stepCount).toBe(100);
    optimizer.destroy();
  });
});

describe('GPU timestamps', () => {
  it('bracket the step when timestampWrites is passed', async () => {
    const timed = await requestTestDevice({ requiredFeatures: ['timestamp-query'] });
    const param = uploadF32(timed, new Float32Array(4096).fill(1));
    const grad = uploadF32(timed, new Float32Array(4096).fill(0.5));
    const optimizer = await createRAdam(timed, [{ param, grad, length: 4096 }]);
    const querySet = timed.createQuerySet({ type: 'timestamp', count: 2 });
    const resolved = timed.createBuffer({
      size: 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const encoder = timed.createCommandEncoder();
    optimizer.step(encoder, { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 });
    encoder.resolveQuerySet(querySet, 0, 2, resolved, 0);
    timed.queue.submit([encoder.finish()]);
    const staging = timed.createBuffer({
      size: 16,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const copy = timed.createCommandEncoder();
    copy.copyBufferToBuffer(resolved, 0, staging, 0, 16);
    timed.queue.submit([copy.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const [begin, end] = new BigUint64Array(staging.getMappedRange());
    // Both written, in order. Equal values are allowed: a pass this small can fit inside the GPU's timestamp
    // period, which NVIDIA's Vulkan driver reports in whole ticks.
    expect(begin! > 0n && end! >= begin!, `timestamps begin ${begin} end ${end}`).toBe(true);
    expect(optimizer.stepCount).toBe(1);
    timed.destroy();
  });
});
