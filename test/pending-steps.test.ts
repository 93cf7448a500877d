// Steps recorded ahead of their submits (issue 11, items 1 and 5): each must see its own per-call data whatever
// the number of encoders, their sizes and their submit order; the host must keep counting steps it recorded and
// the GPU has not run yet; past the ring's capacity the GPU rejects instead of running a step on another's data.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRAdam,
  type ExecutionOptions,
  type FusedOptimizer,
  type LrSchedule,
  OptimizerStateError,
  type RAdamOptions,
} from '../src/index';
import { mulberry32, readF32, STORAGE_RW, uploadF32 } from './helpers/buffers';
import { countGpuObjectsCreated } from './helpers/device-spy';
import { requestTestDevice } from './helpers/webgpu-node';

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

// Two tensors in one buffer pair: a vec4 body and an odd-length one, at different offsets.
const N = 96;
const specsFor = (param: GPUBuffer, grad: GPUBuffer) => [
  { param, grad, length: 37 },
  { param, grad, length: 29, paramOffset: 192, gradOffset: 192 },
];

interface PlannedStep {
  lr: number;
  grad: Float32Array;
}

function plan(steps: number, seed: number, nanAt: readonly number[] = []): PlannedStep[] {
  const random = mulberry32(seed);
  return Array.from({ length: steps }, (_, k) => {
    const grad = Float32Array.from({ length: N }, () => 2 * random() - 1);
    if (nanAt.includes(k)) grad[3] = Number.NaN;
    return { lr: 1e-2 * (1 + ((k * 7) % 5) / 4), grad };
  });
}

interface Rig {
  optimizer: FusedOptimizer;
  param: GPUBuffer;
  grad: GPUBuffer;
  sources: GPUBuffer[];
  /** Records step k: its gradient is copied into the grad buffer inside the encoder, then its lr is set. */
  record(encoder: GPUCommandEncoder, k: number): void;
  /** Params, moments and every count, for bit-for-bit comparison. */
  snapshot(): Promise<string>;
  destroy(): void;
}

async function rig(
  steps: PlannedStep[],
  options: RAdamOptions & { schedule?: LrSchedule; skipNonFinite?: boolean } = {},
  execution: ExecutionOptions = {},
): Promise<Rig> {
  const param = uploadF32(
    device,
    Float32Array.from({ length: N }, (_, i) => Math.sin(i + 1)),
  );
  const grad = uploadF32(device, new Float32Array(N));
  const sources = steps.map((step) => uploadF32(device, step.grad));
  const optimizer = await createRAdam(device, specsFor(param, grad), options, execution);
  return {
    optimizer,
    param,
    grad,
    sources,
    record(encoder, k) {
      encoder.copyBufferToBuffer(sources[k]!, 0, grad, 0, N * 4);
      optimizer.lr = steps[k]!.lr;
      optimizer.step(encoder);
    },
    async snapshot() {
      const params = await readF32(device, param);
      const state = await optimizer.stateDict();
      const stats = await optimizer.readGradStats();
      return JSON.stringify({
        params: Array.from(params),
        moments: Array.from(state.payload),
        counts: Array.from(stats.stepCounts),
        completed: stats.completedSteps,
        stepCount: optimizer.stepCount,
      });
    },
    destroy() {
      optimizer.destroy();
      for (const buffer of [param, grad, ...sources]) buffer.destroy();
    },
  };
}

/** The same steps, each recorded into its own encoder and submitted at once, in `order`. */
async function oneByOne(
  steps: PlannedStep[],
  order: readonly number[],
  options: Parameters<typeof rig>[1] = {},
): Promise<string> {
  const reference = await rig(steps, options);
  for (const k of order) {
    const encoder = device.createCommandEncoder();
    reference.record(encoder, k);
    device.queue.submit([encoder.finish()]);
  }
  const snapshot = await reference.snapshot();
  reference.destroy();
  return snapshot;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('steps recorded ahead of their submits are exact', () => {
  it('64 steps in encoder A (each with its own lr) and one in encoder B, submitted A then B', async () => {
    const steps = plan(65, 1);
    const batched = await rig(steps);
    const a = device.createCommandEncoder();
    for (const k of range(0, 64)) batched.record(a, k);
    const b = device.createCommandEncoder();
    batched.record(b, 64);
    device.queue.submit([a.finish()]);
    device.queue.submit([b.finish()]);
    expect(await batched.snapshot()).toBe(await oneByOne(steps, range(0, 65)));
    batched.destroy();
  });

  it('65 encoders of one step each, all recorded before the first submit', async () => {
    const steps = plan(65, 2);
    const batched = await rig(steps);
    const encoders = range(0, 65).map((k) => {
      const encoder = device.createCommandEncoder();
      batched.record(encoder, k);
      return encoder;
    });
    device.queue.submit(encoders.map((encoder) => encoder.finish()));
    expect(await batched.snapshot()).toBe(await oneByOne(steps, range(0, 65)));
    batched.destroy();
  });

  it('300 steps in 7 encoders of mixed sizes, submitted in another order than recorded, with a schedule', async () => {
    const steps = plan(300, 3);
    // The schedule follows the steps as the GPU runs them; each step's lr follows its recording.
    const schedule: LrSchedule = (count) => 1 / Math.sqrt(count + 1);
    const batched = await rig(steps, { schedule });
    const groups = [
      range(0, 1),
      range(1, 90),
      range(90, 91),
      range(91, 200),
      range(200, 260),
      range(260, 299),
    ];
    groups.push([299]);
    const encoders = groups.map((indices) => {
      const encoder = device.createCommandEncoder();
      for (const k of indices) batched.record(encoder, k);
      return encoder;
    });
    const submitOrder = [2, 0, 1, 5, 3, 6, 4];
    for (const e of submitOrder) device.queue.submit([encoders[e]!.finish()]);
    const executed = submitOrder.flatMap((e) => groups[e]!);
    expect(await batched.snapshot()).toBe(await oneByOne(steps, executed, { schedule }));
    batched.destroy();
  });

  it('as many pending steps as maxPendingSteps, over several encoders', async () => {
    const steps = plan(6, 4);
    const batched = await rig(steps, {}, { maxPendingSteps: 3 });
    const rounds = [
      [0, 1, 2],
      [3, 4, 5],
    ];
    for (const round of rounds) {
      const encoders = round.map((k) => {
        const encoder = device.createCommandEncoder();
        batched.record(encoder, k);
        return encoder;
      });
      device.queue.submit(encoders.map((encoder) => encoder.finish()));
    }
    expect(await batched.snapshot()).toBe(await oneByOne(steps, range(0, 6)));
    batched.destroy();
  });
});

describe('more pending steps than ring slots', () => {
  it('are rejected on the GPU with nothing applied, then reported as a typed error until a state is loaded', async () => {
    const steps = plan(5, 5);
    const overflow = await rig(steps, {}, { maxPendingSteps: 2 });
    // Two good steps and a saved state first.
    for (const k of [0, 1]) {
      const encoder = device.createCommandEncoder();
      overflow.record(encoder, k);
      device.queue.submit([encoder.finish()]);
    }
    const saved = await overflow.optimizer.stateDict();
    const before = Array.from(await readF32(device, overflow.param));
    // Three one-step encoders pending with two slots: the third recording reuses the first one's slot.
    const encoders = [2, 3, 4].map((k) => {
      const encoder = device.createCommandEncoder();
      overflow.record(encoder, k);
      return encoder;
    });
    device.queue.submit(encoders.map((encoder) => encoder.finish()));
    await expect(overflow.optimizer.readGradStats()).rejects.toThrow(OptimizerStateError);
    await expect(overflow.optimizer.readGradStats()).rejects.toThrow(
      /rejected steps.*state is that of step 2.*1 step\(s\) were still in unsubmitted command encoders.*maxPendingSteps \(2\)/,
    );
    await expect(overflow.optimizer.stateDict()).rejects.toThrow(OptimizerStateError);
    expect(() => overflow.optimizer.stepAndSubmit()).toThrow(OptimizerStateError);
    // The rejected step and the two after it left params, moments and counts exactly as they were.
    expect(Array.from(await readF32(device, overflow.param))).toEqual(before);
    overflow.optimizer.loadStateDict(saved);
    const after = await overflow.optimizer.stateDict();
    expect(Array.from(after.payload)).toEqual(Array.from(saved.payload));
    expect(after.header.tensors.map((t) => t.step)).toEqual([2, 2]);

    // With the halt ended by the loaded state, going on one step at a time matches a run that never overflowed.
    for (const k of [2, 3, 4]) {
      const encoder = device.createCommandEncoder();
      overflow.record(encoder, k);
      device.queue.submit([encoder.finish()]);
    }
    expect(await overflow.snapshot()).toBe(await oneByOne(steps, range(0, 5)));
    overflow.destroy();
  });

  it('in one encoder is refused by step() before anything moves', async () => {
    const steps = plan(3, 6);
    const full = await rig(steps, {}, { maxPendingSteps: 2 });
    const encoder = device.createCommandEncoder();
    full.record(encoder, 0);
    full.record(encoder, 1);
    const lastStep = { ...full.optimizer.lastStep };
    expect(() => full.record(encoder, 2)).toThrow(OptimizerStateError);
    expect(full.optimizer.stepCount).toBe(2);
    expect(full.optimizer.lastStep).toEqual(lastStep);
    device.queue.submit([encoder.finish()]);
    const stats = await full.optimizer.readGradStats();
    expect(Array.from(stats.stepCounts)).toEqual([2, 2]);
    full.destroy();
  });
});

describe('a host count too far ahead of the GPU for the schedule table', () => {
  it('rejects the step it cannot schedule instead of guessing its factor, then throws', async () => {
    const steps = plan(10, 10, range(0, 9));
    const schedule: LrSchedule = (count) => 1 / (count + 1);
    // 9 skipped steps with no readback: the host is at step 10, the GPU at 1, the table holds 8 steps.
    const drifted = await rig(steps, { schedule, skipNonFinite: true }, { scheduleTableLength: 8 });
    const before = Array.from(await readF32(device, drifted.param));
    for (const k of range(0, 10)) {
      const encoder = device.createCommandEncoder();
      drifted.record(encoder, k);
      device.queue.submit([encoder.finish()]);
    }
    await expect(drifted.optimizer.readGradStats()).rejects.toThrow(
      /1 step\(s\) found no schedule factor: the host's step count and the GPU's drifted more than 8 steps apart/,
    );
    expect(Array.from(await readF32(device, drifted.param))).toEqual(before);
    drifted.destroy();
  });

  it('within the table, or without a schedule, skipped steps the host has not heard of change nothing', async () => {
    const cases: [number[], Parameters<typeof rig>[1]][] = [
      [range(0, 6), { schedule: (count: number) => 1 / (count + 1), skipNonFinite: true }],
      // No schedule, no table needed: any drift is fine.
      [range(0, 9), { skipNonFinite: true }],
    ];
    for (const [nanAt, options] of cases) {
      const steps = plan(12, 11, nanAt);
      const skipping = await rig(steps, options, { scheduleTableLength: 8 });
      for (const k of range(0, 12)) {
        const encoder = device.createCommandEncoder();
        skipping.record(encoder, k);
        device.queue.submit([encoder.finish()]);
      }
      expect(await skipping.snapshot()).toBe(await oneByOne(steps, range(0, 12), options));
      skipping.destroy();
    }
  });
});

describe('the ring allocates nothing per step', () => {
  it('creates no GPU object while 1000 steps wrap a 64-slot ring in encoders of 1 to 40 steps', async () => {
    const steps = plan(40, 7);
    const wrapping = await rig(steps, { skipNonFinite: true }, { maxPendingSteps: 64 });
    let recorded = 0;
    const created = countGpuObjectsCreated(device, () => {
      for (let size = 1; recorded < 1000; size = (size % 40) + 1) {
        const encoder = device.createCommandEncoder();
        for (let k = 0; k < size && recorded < 1000; k++, recorded++) wrapping.record(encoder, k);
        device.queue.submit([encoder.finish()]);
      }
    });
    expect(created).toEqual({});
    const stats = await wrapping.optimizer.readGradStats();
    expect(stats.completedSteps).toBe(1000);
    expect(Array.from(stats.stepCounts)).toEqual([1000, 1000]);
    wrapping.destroy();
  });
});

describe('a readback between step(encoder) and its submit', () => {
  it('keeps counting the recorded step: schedule and skipped steps stay exact', async () => {
    // Step 3 (index 2) has a NaN gradient and is skipped on the GPU.
    const steps = plan(7, 8, [2]);
    const schedule: LrSchedule = (count) => 0.5 + 1 / (count + 1);
    const options = { schedule, skipNonFinite: true };
    const interrupted = await rig(steps, options);
    for (const k of range(0, 7)) {
      const encoder = device.createCommandEncoder();
      interrupted.record(encoder, k);
      // Both readbacks see the GPU without this step; the host must still count it.
      if (k % 2 === 0) await interrupted.optimizer.stateDict();
      else await interrupted.optimizer.readGradStats();
      // The GPU count (the skip of step 3 is known once it ran) plus this step, recorded but not submitted.
      expect(interrupted.optimizer.stepCount).toBe(k <= 2 ? k + 1 : k);
      device.queue.submit([encoder.finish()]);
    }
    const stats = await interrupted.optimizer.readGradStats();
    expect(stats.completedSteps).toBe(6);
    expect(interrupted.optimizer.stepCount).toBe(6);
    expect(await interrupted.snapshot()).toBe(await oneByOne(steps, range(0, 7), options));
    interrupted.destroy();
  });

  it('while steps of other encoders are pending too, and one more is recorded during the readback', async () => {
    const steps = plan(5, 9);
    const schedule: LrSchedule = (t) => 2 / (1 + t);
    const busy = await rig(steps, { schedule });
    const first = device.createCommandEncoder();
    busy.record(first, 0);
    const second = device.createCommandEncoder();
    busy.record(second, 1);
    device.queue.submit([first.finish()]);
    const reading = busy.optimizer.readGradStats();
    const third = device.createCommandEncoder();
    busy.record(third, 2);
    const stats = await reading;
    expect(stats.completedSteps).toBe(1);
    expect(busy.optimizer.stepCount).toBe(3);
    device.queue.submit([second.finish(), third.finish()]);
    for (const k of [3, 4]) {
      const encoder = device.createCommandEncoder();
      busy.record(encoder, k);
      device.queue.submit([encoder.finish()]);
    }
    expect(await busy.snapshot()).toBe(await oneByOne(steps, range(0, 5), { schedule }));
    busy.destroy();
  });
});

describe('ring size', () => {
  it('rejects maxPendingSteps that is not a positive integer or does not fit in one buffer', async () => {
    const param = device.createBuffer({ size: 64, usage: STORAGE_RW });
    const grad = device.createBuffer({ size: 64, usage: STORAGE_RW });
    for (const value of [0, -1, 1.5, Number.NaN, 1e12]) {
      await expect(
        createRAdam(device, [{ param, grad, length: 4 }], {}, { maxPendingSteps: value }),
      ).rejects.toThrow(/maxPendingSteps/);
    }
    param.destroy();
    grad.destroy();
  });
});

describe('a step recorded before loadStateDict() and submitted after it', () => {
  it('belongs to the replaced state: it neither runs nor counts, as in torch where it ran before the load', async () => {
    const steps = plan(8, 11);
    const options = { schedule: (count: number) => 1 / (count + 1), skipNonFinite: true };
    // The state to load: three steps taken by another optimizer.
    const source = await rig(steps, options);
    for (const k of range(0, 3)) {
      const encoder = device.createCommandEncoder();
      source.record(encoder, k);
      device.queue.submit([encoder.finish()]);
    }
    const saved = await source.optimizer.stateDict();
    source.destroy();

    const late = await rig(steps, options);
    const early = device.createCommandEncoder();
    late.record(early, 7); // recorded against the fresh state
    late.optimizer.loadStateDict(saved);
    device.queue.submit([early.finish()]); // runs after the load
    for (const k of range(3, 6)) {
      const encoder = device.createCommandEncoder();
      late.record(encoder, k);
      device.queue.submit([encoder.finish()]);
    }
    const reference = await rig(steps, options);
    reference.optimizer.loadStateDict(saved);
    for (const k of range(3, 6)) {
      const encoder = device.createCommandEncoder();
      reference.record(encoder, k);
      device.queue.submit([encoder.finish()]);
    }
    // Both start from the same params: the dropped step must leave no trace in params, moments or counts.
    expect(await late.snapshot()).toBe(await reference.snapshot());
    expect(late.optimizer.stepCount).toBe(6);
    late.destroy();
    reference.destroy();
  });
});
