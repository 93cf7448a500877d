// step() arguments and encoders that cannot take the step, creation that fails half-way, and readbacks cut
// short by a lost device (issue 11, items 12–14 and part of 15): a typed error or the right result, and never
// a host step count, ring slot or schedule that moved for a step that never runs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BufferBindingError,
  createRAdam,
  type FusedOptimizer,
  type LrSchedule,
  OptimizerConfigError,
  OptimizerStateError,
  WebGPURadamError,
} from '../src/index';
import { readF32, STORAGE_RW, uploadF32 } from './helpers/buffers';
import { type PackedModel, packedModel } from './helpers/model';
import { requestTestDevice } from './helpers/webgpu-node';

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice({ requiredFeatures: ['timestamp-query'] });
});
afterAll(() => device.destroy());

const schedule: LrSchedule = (count) => 1 / (count + 1);

interface Trained {
  model: PackedModel;
  optimizer: FusedOptimizer;
  /** One good step: gradients for step `t`, recorded and submitted. */
  stepAt(t: number): void;
}

async function trained(seed: number, steps: number, on = device): Promise<Trained> {
  const model = packedModel(on, [21, 6], seed);
  const optimizer = await createRAdam(on, model.specs, { lr: 1e-2, schedule });
  const stepAt = (t: number) => {
    model.writeGradients(t);
    const encoder = on.createCommandEncoder();
    optimizer.step(encoder);
    on.queue.submit([encoder.finish()]);
  };
  for (let t = 1; t <= steps; t++) stepAt(t);
  return { model, optimizer, stepAt };
}

/** Everything a refused or lost step must leave alone, GPU state included. */
async function observable(run: Trained) {
  const stats = await run.optimizer.readGradStats();
  const params = await run.model.readParams();
  return JSON.stringify({
    stepCount: run.optimizer.stepCount,
    lastStep: run.optimizer.lastStep,
    completed: stats.completedSteps,
    counts: Array.from(stats.stepCounts),
    params: params.map((p) => Array.from(p)),
  });
}

async function expectNoValidationError(record: () => void) {
  device.pushErrorScope('validation');
  record();
  expect((await device.popErrorScope())?.message).toBeUndefined();
}

describe('step(encoder, timestampWrites) with bad timestampWrites', () => {
  it('throws an OptimizerConfigError before anything moves, and the encoder stays usable', async () => {
    const run = await trained(1, 3);
    const timestamps = device.createQuerySet({ type: 'timestamp', count: 2 });
    const occlusion = device.createQuerySet({ type: 'occlusion', count: 2 });
    const before = await observable(run);
    const cases: [string, unknown][] = [
      ['{}', {}],
      ['{ querySet: null }', { querySet: null }],
      ['5', 5],
      ["'begin'", 'begin'],
      ['a buffer as querySet', { querySet: run.model.param, beginningOfPassWriteIndex: 0 }],
      ['no index', { querySet: timestamps }],
      ['occlusion query set', { querySet: occlusion, beginningOfPassWriteIndex: 0 }],
      ['index 2 of 2', { querySet: timestamps, beginningOfPassWriteIndex: 2 }],
      ['index -1', { querySet: timestamps, endOfPassWriteIndex: -1 }],
      ['index 0.5', { querySet: timestamps, beginningOfPassWriteIndex: 0.5 }],
      ['index "0"', { querySet: timestamps, beginningOfPassWriteIndex: '0' }],
      [
        'the same index twice',
        { querySet: timestamps, beginningOfPassWriteIndex: 1, endOfPassWriteIndex: 1 },
      ],
    ];
    for (const [label, writes] of cases) {
      const encoder = device.createCommandEncoder();
      expect(() => run.optimizer.step(encoder, writes as GPUComputePassTimestampWrites), label).toThrow(
        OptimizerConfigError,
      );
      expect(() => run.optimizer.step(encoder, writes as GPUComputePassTimestampWrites), label).toThrow(
        /timestampWrites/,
      );
      await expectNoValidationError(() => device.queue.submit([encoder.finish()]));
    }
    expect(await observable(run)).toBe(before);
    // null is "no timestamps", as undefined; a good query set still works and the schedule is still in step.
    for (const writes of [null, { querySet: timestamps, endOfPassWriteIndex: 1 }]) {
      run.model.writeGradients(4);
      const encoder = device.createCommandEncoder();
      run.optimizer.step(encoder, writes as GPUComputePassTimestampWrites);
      await expectNoValidationError(() => device.queue.submit([encoder.finish()]));
    }
    expect(run.optimizer.stepCount).toBe(5);
    timestamps.destroy();
    occlusion.destroy();
    run.model.destroy();
    run.optimizer.destroy();
  });

  it('step() with things that are not command encoders throws an OptimizerConfigError', async () => {
    const run = await trained(2, 1);
    const before = await observable(run);
    const pass = device.createCommandEncoder().beginComputePass();
    for (const bad of [
      undefined,
      null,
      5,
      {},
      { beginComputePass: () => undefined },
      pass,
      run.model.param,
    ]) {
      expect(() => run.optimizer.step(bad as unknown as GPUCommandEncoder)).toThrow(OptimizerConfigError);
    }
    pass.end();
    expect(await observable(run)).toBe(before);
    run.model.destroy();
    run.optimizer.destroy();
  });
});

describe('step() into an encoder that cannot take it', () => {
  /** The same model trained through steps 1..4 without the failed attempt: the trajectory to match. */
  async function straight(seed: number) {
    const reference = await trained(seed, 4);
    const result = await observable(reference);
    reference.model.destroy();
    reference.optimizer.destroy();
    return JSON.parse(result) as { params: number[][]; counts: number[] };
  }

  it('a finished encoder: the step is taken back, reported once as an OptimizerStateError, the schedule stays in step', async () => {
    const run = await trained(3, 2);
    const before = await observable(run);
    const finished = device.createCommandEncoder();
    finished.finish();
    run.optimizer.step(finished);
    // WebGPU reports a finished encoder asynchronously; the next readback (or step) reports it.
    await expect(run.optimizer.readGradStats()).rejects.toThrow(OptimizerStateError);
    expect(await observable(run)).toBe(before);
    run.stepAt(3);
    run.stepAt(4);
    const after = JSON.parse(await observable(run));
    const reference = await straight(3);
    expect(after.params).toEqual(reference.params);
    expect(after.counts).toEqual(reference.counts);
    expect(after.stepCount).toBe(4);
    run.model.destroy();
    run.optimizer.destroy();
  });

  it('an encoder of another device, or one with an open compute pass: nothing runs and later steps stay exact', async () => {
    const other = await requestTestDevice();
    for (const kind of ['other device', 'open pass'] as const) {
      const run = await trained(4, 2);
      const before = JSON.parse(await observable(run));
      let submitError: string | undefined;
      if (kind === 'other device') {
        const foreign = other.createCommandEncoder();
        run.optimizer.step(foreign);
        other.pushErrorScope('validation');
        other.queue.submit([foreign.finish()]);
        submitError = (await other.popErrorScope())?.message;
      } else {
        const encoder = device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        run.optimizer.step(encoder);
        pass.end();
        device.pushErrorScope('validation');
        device.queue.submit([encoder.finish()]);
        submitError = (await device.popErrorScope())?.message;
      }
      // WebGPU reports these only to the caller, when the encoder is finished or submitted: the step never ran.
      expect(submitError, kind).toBeDefined();
      const now = JSON.parse(await observable(run));
      expect(now.params, kind).toEqual(before.params);
      expect(now.counts, kind).toEqual(before.counts);
      expect(now.completed, kind).toBe(2);
      // The GPU picks each step's schedule factor by the steps it has taken, so the host's count of the lost
      // step (kept as pending: nothing tells it the encoder will never run) cannot shift the schedule.
      run.stepAt(3);
      run.stepAt(4);
      const after = JSON.parse(await observable(run));
      const reference = await straight(4);
      expect(after.params, kind).toEqual(reference.params);
      expect(after.counts, kind).toEqual(reference.counts);
      run.model.destroy();
      run.optimizer.destroy();
    }
    other.destroy();
  });
});

describe('creation that fails half-way', () => {
  it('pops every error scope, destroys every buffer it allocated and throws a typed error with the cause', async () => {
    const param = uploadF32(device, new Float32Array(64));
    // Passes the duck-typed check; Dawn's createBindGroup throws a TypeError for it.
    const fakeGrad = {
      size: 256,
      usage: STORAGE_RW,
      label: 'fake',
      destroy() {},
    } as unknown as GPUBuffer;
    const live = new Set<GPUBuffer>();
    const createBuffer = device.createBuffer;
    device.createBuffer = (descriptor: GPUBufferDescriptor) => {
      const buffer = createBuffer.call(device, descriptor);
      live.add(buffer);
      const destroy = buffer.destroy.bind(buffer);
      buffer.destroy = () => {
        live.delete(buffer);
        destroy();
      };
      return buffer;
    };
    let failure: unknown;
    try {
      await createRAdam(device, [{ param, grad: fakeGrad, length: 64 }]);
    } catch (error) {
      failure = error;
    } finally {
      device.createBuffer = createBuffer;
    }
    expect(failure).toBeInstanceOf(BufferBindingError);
    expect(failure).toBeInstanceOf(WebGPURadamError);
    expect((failure as Error).message).toMatch(/could not bind the parameter and gradient buffers/);
    expect((failure as Error).cause).toBeInstanceOf(TypeError);
    expect(live.size).toBe(0);

    // Balanced scopes: the caller's scope gets the caller's error, and there is no scope left to pop after it.
    device.pushErrorScope('validation');
    device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
    expect(await device.popErrorScope()).not.toBeNull();
    await expect(device.popErrorScope()).rejects.toThrow();
    // And an error outside any scope reaches the device's uncapturederror event again.
    const uncaptured = new Promise<GPUError>((resolve) => {
      device.addEventListener(
        'uncapturederror',
        (event) => resolve((event as GPUUncapturedErrorEvent).error),
        {
          once: true,
        },
      );
    });
    device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
    expect((await uncaptured).message).toMatch(/usage/i);

    // The device is fine for a real optimizer afterwards.
    const grad = uploadF32(device, new Float32Array(64).fill(0.5));
    const optimizer = await createRAdam(device, [{ param, grad, length: 64 }]);
    optimizer.stepAndSubmit();
    expect((await optimizer.readGradStats()).stepCounts[0]).toBe(1);
    optimizer.destroy();
    param.destroy();
    grad.destroy();
  });
});

describe('creation on something that is not a GPUDevice', () => {
  it('throws an OptimizerConfigError naming the device', async () => {
    const param = uploadF32(device, new Float32Array(4));
    const grad = uploadF32(device, new Float32Array(4));
    for (const bad of [null, undefined, {}, 5, { limits: {} }]) {
      await expect(createRAdam(bad as never, [{ param, grad, length: 4 }])).rejects.toThrow(
        /no usable GPUDevice/,
      );
      await expect(createRAdam(bad as never, [{ param, grad, length: 4 }])).rejects.toThrow(
        OptimizerConfigError,
      );
    }
    param.destroy();
    grad.destroy();
  });
});

describe('a readback in flight when the device is lost', () => {
  it('rejects with an OptimizerStateError, not a bare AbortError', async () => {
    for (const method of ['stateDict', 'readGradStats'] as const) {
      const doomed = await requestTestDevice();
      const run = await trained(5, 2, doomed);
      const reading = run.optimizer[method]();
      doomed.destroy();
      await expect(reading, method).rejects.toThrow(OptimizerStateError);
      await expect(reading, method).rejects.toThrow(new RegExp(`${method}: the readback failed`));
      await expect(run.optimizer[method](), method).rejects.toThrow(OptimizerStateError);
    }
  });
});

describe('the params stay where step() found them when it refuses', () => {
  it('a throwing schedule, a bad encoder and a bad timestampWrites in a row change nothing', async () => {
    let fail = false;
    const model = packedModel(device, [9], 6);
    const optimizer = await createRAdam(device, model.specs, {
      lr: 1e-2,
      schedule: (count) => {
        if (fail) throw new Error('schedule broke');
        return 1 / (count + 1);
      },
    });
    optimizer.stepAndSubmit();
    const params = await readF32(device, model.param);
    const encoder = device.createCommandEncoder();
    fail = true;
    expect(() => optimizer.step(encoder)).toThrow('schedule broke');
    fail = false;
    expect(() => optimizer.step(encoder, {} as GPUComputePassTimestampWrites)).toThrow(OptimizerConfigError);
    device.queue.submit([encoder.finish()]);
    expect(optimizer.stepCount).toBe(1);
    expect(Array.from(await readF32(device, model.param))).toEqual(Array.from(params));
    optimizer.destroy();
    model.destroy();
  });
});
