// Every built-in schedule against the formula of the torch / optax / TFA schedule it is named after, transcribed
// here independently of src/schedules.ts, at every count over at least two lengths of its shape. Convention (torch
// LambdaLR, optax): schedule(count), count = optimizer steps completed before this one, 0 on the first step.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  constantSchedule,
  cosineDecay,
  createAdamW,
  createRAdam,
  type FusedOptimizer,
  type LrSchedule,
  linearDecay,
  linearWarmup,
  OptimizerConfigError,
  tfaRectifiedAdamSchedule,
  warmupCosine,
} from '../src/index';
import { type PackedModel, packedModel, readMoments } from './helpers/model';
import { requestTestDevice } from './helpers/webgpu-node';
import { adamReferenceStep, newState, radamReferenceStep, TORCH_RADAM } from './reference/optimizers';

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

// optax.polynomial_schedule(init, end, power=1, transition_steps) = optax.linear_schedule.
const optaxLinear = (init: number, end: number, steps: number) => (count: number) => {
  const c = Math.min(Math.max(count, 0), steps);
  return (init - end) * (1 - c / steps) + end;
};
// optax.cosine_decay_schedule(init_value=1, decay_steps, alpha), exponent 1.
const optaxCosine = (steps: number, alpha: number) => (count: number) => {
  const c = Math.min(count, steps);
  return (1 - alpha) * (0.5 * (1 + Math.cos((Math.PI * c) / steps))) + alpha;
};
// optax.join_schedules([first, second], [boundary]).
const optaxJoin = (first: LrSchedule, second: LrSchedule, boundary: number) => (count: number) =>
  count < boundary ? first(count) : second(count - boundary);
// torch.optim.lr_scheduler.LinearLR, its recursive get_lr (what scheduler.step() applies), as a factor of lr.
function torchLinearLR(start: number, end: number, totalIters: number, counts: number): number[] {
  const out: number[] = [];
  let factor = 1;
  for (let epoch = 0; epoch < counts; epoch++) {
    if (epoch === 0) factor *= start;
    else if (epoch <= totalIters)
      factor *= 1 + (end - start) / (totalIters * start + (epoch - 1) * (end - start));
    out.push(factor);
  }
  return out;
}
// torch CosineAnnealingLR's closed form with eta_min = alpha * lr, as a factor of lr.
const torchCosineAnnealing = (tMax: number, alpha: number) => (count: number) =>
  alpha + ((1 - alpha) * (1 + Math.cos((Math.PI * count) / tMax))) / 2;
// transformers.get_constant_schedule_with_warmup's lr_lambda.
const hfConstantWithWarmup = (warmup: number) => (count: number) =>
  count < warmup ? count / Math.max(1, warmup) : 1;
// tensorflow_addons RectifiedAdam._resource_apply_dense with total_steps > 0, as a factor of lr.
const tfaRectifiedAdam =
  (totalSteps: number, warmupProportion: number, minLr: number, lr: number) => (iterations: number) => {
    const localStep = iterations + 1;
    const warmupSteps = totalSteps * warmupProportion;
    const decaySteps = Math.max(totalSteps - warmupSteps, 1);
    const decayRate = (minLr - lr) / decaySteps;
    const lrT =
      localStep <= warmupSteps
        ? lr * (localStep / warmupSteps)
        : lr + decayRate * Math.min(localStep - warmupSteps, decaySteps);
    return lrT / lr;
  };

const counts = (last: number) => Array.from({ length: last + 1 }, (_, c) => c);

function expectSameAt(schedule: LrSchedule, reference: (count: number) => number, last: number, atol = 0) {
  for (const count of counts(last)) {
    const got = schedule(count);
    const want = reference(count);
    expect(Math.abs(got - want), `count ${count}: ${got} vs ${want}`).toBeLessThanOrEqual(atol);
  }
}

describe('built-in schedules match the schedule they are named after', () => {
  it('constantSchedule: optax constant_schedule(1)', () => {
    expectSameAt(constantSchedule(), () => 1, 100);
  });

  it.each([1, 2, 10, 37])(
    'linearWarmup(%i): optax linear_schedule(0, 1, n) = transformers constant-with-warmup',
    (n) => {
      expectSameAt(linearWarmup(n), optaxLinear(0, 1, n), 3 * n);
      expectSameAt(linearWarmup(n), hfConstantWithWarmup(n), 3 * n, 1e-15);
      expect(linearWarmup(n)(0)).toBe(0);
      expect(linearWarmup(n)(n)).toBe(1);
    },
  );

  it.each([
    [1, 0],
    [10, 0.1],
    [100, 0],
    [33, 0.5],
  ])('linearDecay(%i, %f): optax linear_schedule(1, end, T) and torch LinearLR(1, end, T)', (total, end) => {
    expectSameAt(linearDecay(total, end), optaxLinear(1, end, total), 3 * total);
    const torch = torchLinearLR(1, end, total, 3 * total + 1);
    expectSameAt(linearDecay(total, end), (c) => torch[c]!, 3 * total, 1e-14);
  });

  it.each([
    [1, 0],
    [10, 0.05],
    [100, 0],
    [57, 0.2],
  ])('cosineDecay(%i, %f): optax cosine_decay_schedule(1, T, alpha), clamped past T', (total, min) => {
    expectSameAt(cosineDecay(total, min), optaxCosine(total, min), 3 * total);
    // torch CosineAnnealingLR agrees up to T_max, then its closed form climbs back; this schedule stays at min.
    expectSameAt(
      (c) => cosineDecay(total, min)(Math.min(c, total)),
      torchCosineAnnealing(total, min),
      total,
      1e-15,
    );
    expect(cosineDecay(total, min)(0)).toBe(1);
    expect(cosineDecay(total, min)(total)).toBeCloseTo(min, 15);
    expect(cosineDecay(total, min)(2 * total)).toBeCloseTo(min, 15);
  });

  it.each([
    [1, 2, 0],
    [5, 40, 0.1],
    [10, 100, 0],
    [20, 21, 0.3],
  ])(
    'warmupCosine(%i, %i, %f): optax warmup_cosine_decay_schedule(0, 1, w, T, min)',
    (warmup, total, min) => {
      const optax = optaxJoin(optaxLinear(0, 1, warmup), optaxCosine(total - warmup, min), warmup);
      expectSameAt(warmupCosine(warmup, total, min), optax, 3 * total);
      expect(warmupCosine(warmup, total, min)(0)).toBe(0);
      expect(warmupCosine(warmup, total, min)(warmup)).toBe(1);
    },
  );

  it.each([
    [100, 0.1, 1e-5, 1e-3],
    [100, 0, 0, 1e-3],
    [7, 0.3, 0, 0.5],
    [1000, 0.25, 1e-6, 3e-4],
    [10, 1, 0, 1e-2],
  ])(
    'tfaRectifiedAdamSchedule(total %i, warmup %f, minLr %f, lr %f): TFA RectifiedAdam at iterations + 1',
    (totalSteps, warmupProportion, minLr, lr) => {
      const schedule = tfaRectifiedAdamSchedule({ totalSteps, warmupProportion, minLr, lr });
      // TFA's formula can round the last step to -1e-19 where minLr = 0: the built-in keeps it at 0.
      expectSameAt(
        schedule,
        tfaRectifiedAdam(totalSteps, warmupProportion, minLr, lr),
        3 * totalSteps,
        1e-15,
      );
      for (const count of counts(3 * totalSteps)) expect(schedule(count)).toBeGreaterThanOrEqual(0);
    },
  );
});

async function paramsAndMoments(model: PackedModel, optimizer: FusedOptimizer) {
  const params = await model.readParams();
  const moments = await Promise.all(model.lengths.map((_, i) => readMoments(device, optimizer, i)));
  return JSON.stringify({
    params: params.map((p) => Array.from(p)),
    moments: moments.map((m) => [Array.from(m.m), Array.from(m.v)]),
    counts: Array.from((await optimizer.readGradStats()).stepCounts),
    step: optimizer.stepCount,
    lastStep: optimizer.lastStep,
  });
}

describe('the optimizer applies base lr × schedule(steps completed before this one)', () => {
  const schedules: [string, LrSchedule][] = [
    ['linearWarmup(4)', linearWarmup(4)],
    ['linearDecay(6, 0.2)', linearDecay(6, 0.2)],
    ['cosineDecay(5, 0.1)', cosineDecay(5, 0.1)],
    ['warmupCosine(2, 7, 0.05)', warmupCosine(2, 7, 0.05)],
    [
      'tfaRectifiedAdamSchedule',
      tfaRectifiedAdamSchedule({ totalSteps: 8, warmupProportion: 0.25, lr: 1e-2 }),
    ],
    ['a torch LambdaLR lambda, verbatim', (epoch) => 0.5 ** epoch],
  ];

  it.each(schedules)(
    '%s: lastStep.lr on step k is lr · schedule(k - 1), and the params follow',
    async (_, schedule) => {
      const model = packedModel(device, [67], 61);
      const optimizer = await createAdamW(device, model.specs, { lr: 1e-2, weightDecay: 0.1, schedule });
      const reference = newState(model.initial.slice(0, 67));
      for (let k = 1; k <= 16; k++) {
        const [grad] = model.writeGradients(k);
        optimizer.stepAndSubmit();
        expect(optimizer.lastStep.step).toBe(k);
        expect(optimizer.lastStep.lr, `step ${k}`).toBe(1e-2 * schedule(k - 1));
        adamReferenceStep(reference, grad!, {
          lr: 1e-2 * schedule(k - 1),
          beta1: 0.9,
          beta2: 0.999,
          eps: 1e-8,
          weightDecay: 0.1,
          decoupled: true,
          maximize: false,
        });
      }
      const [params] = await model.readParams();
      for (let i = 0; i < params!.length; i++) {
        expect(Math.abs(params![i]! - reference.params[i]!)).toBeLessThanOrEqual(
          1e-6 + 2e-5 * Math.abs(reference.params[i]!),
        );
      }
      optimizer.destroy();
      model.destroy();
    },
  );

  it('with skipped steps the GPU picks schedule(completed count), before the host reads anything back', async () => {
    const schedule = cosineDecay(6, 0.1);
    const model = packedModel(device, [40], 62);
    const optimizer = await createRAdam(device, model.specs, { lr: 1e-2, skipNonFinite: true, schedule });
    const reference = newState(model.initial.slice(0, 40));
    const skipped = new Set([1, 4, 5, 9]);
    let completed = 0;
    for (let call = 1; call <= 12; call++) {
      const [grad] = model.writeGradients(call, (_, values) => {
        if (skipped.has(call)) values[7] = Number.NaN;
      });
      optimizer.stepAndSubmit();
      if (skipped.has(call)) continue;
      radamReferenceStep(reference, grad!, {
        ...TORCH_RADAM,
        lr: 1e-2 * schedule(completed),
        weightDecay: 0,
        decoupled: false,
      });
      completed++;
    }
    const [params] = await model.readParams();
    for (let i = 0; i < params!.length; i++) {
      expect(Math.abs(params![i]! - reference.params[i]!)).toBeLessThanOrEqual(
        1e-6 + 2e-5 * Math.abs(reference.params[i]!),
      );
    }
    expect((await optimizer.readGradStats()).completedSteps).toBe(completed);
    optimizer.destroy();
    model.destroy();
  });
});

describe('schedule values the GPU cannot use are rejected at step(), before anything moves', () => {
  const thrower = (count: number) => {
    if (count === 2) throw new RangeError('no factor for count 2');
    return 1;
  };
  const cases: [string, Record<string, unknown>, LrSchedule, RegExp][] = [
    [
      '1e39 (Infinity in f32)',
      { lr: 1e-3 },
      (c) => (c === 2 ? 1e39 : 1),
      /Invalid schedule factor 1e\+39 at count 2/,
    ],
    ['NaN', { lr: 1e-3 }, (c) => (c === 2 ? Number.NaN : 1), /Invalid schedule factor NaN/],
    ['-1', { lr: 1e-3 }, (c) => (c === 2 ? -1 : 1), /Invalid schedule factor -1/],
    [
      'a string',
      { lr: 1e-3 },
      (c) => (c === 2 ? ('0.5' as unknown as number) : 1),
      /Invalid schedule factor "0\.5"/,
    ],
    [
      'undefined',
      { lr: 1e-3 },
      (c) => (c === 2 ? (undefined as unknown as number) : 1),
      /Invalid schedule factor undefined/,
    ],
    [
      '1e38 times lr 10',
      { lr: 10 },
      (c) => (c === 2 ? 1e38 : 1),
      /paramGroups\[0\]'s lr 10 × schedule factor 1e\+38 × 1\/\(1 - beta1\) 10 overflows f32/,
    ],
    [
      '1e20 times lr 1 times decoupled weightDecay 1e20',
      { lr: 1, weightDecay: 1e20, decoupledWeightDecay: true },
      (c) => (c === 2 ? 1e20 : 1),
      /\(or × weightDecay 100000000000000000000\) overflows f32/,
    ],
    [
      // lr · factor = 3e38 fits f32, but the first steps' 1/bc1 = 1/(1 - beta1) = 10 on top of it does not.
      '3e37 times lr 10 times 1/(1 - beta1)',
      { lr: 10 },
      (c) => (c === 2 ? 3e37 : 1),
      /lr 10 × schedule factor 3e\+37 × 1\/\(1 - beta1\) 10 overflows f32/,
    ],
    ['a schedule that throws', { lr: 1e-3 }, thrower, /threw at count 2: no factor for count 2/],
  ];
  it.each(cases)('%s', async (_, options, schedule, message) => {
    for (const skipNonFinite of [false, true]) {
      const model = packedModel(device, [9, 4], 63);
      const optimizer = await createRAdam(device, model.specs, { ...options, schedule, skipNonFinite });
      model.writeGradients(1);
      optimizer.stepAndSubmit();
      optimizer.stepAndSubmit();
      const before = await paramsAndMoments(model, optimizer);
      const encoder = device.createCommandEncoder();
      let error: unknown;
      try {
        optimizer.step(encoder);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(OptimizerConfigError);
      expect((error as OptimizerConfigError).field).toBe('schedule');
      expect((error as Error).message).toMatch(message);
      device.queue.submit([encoder.finish()]);
      expect(await paramsAndMoments(model, optimizer)).toBe(before);
      optimizer.destroy();
      model.destroy();
    }
  });

  it('an lr the first steps would overflow in f32 (lr × 1/(1 - beta1)) is an lr error at the latest at step()', async () => {
    const model = packedModel(device, [4], 65);
    let optimizer: FusedOptimizer | undefined;
    try {
      optimizer = await createRAdam(device, model.specs, { lr: 1e38 });
    } catch (error) {
      // Rejecting it at creation is as good.
      expect(error).toBeInstanceOf(OptimizerConfigError);
    }
    if (optimizer) {
      const before = await paramsAndMoments(model, optimizer);
      expect(() => optimizer.stepAndSubmit()).toThrow(OptimizerConfigError);
      expect(() => optimizer.stepAndSubmit()).toThrow(/Invalid lr 1e\+38/);
      expect(await paramsAndMoments(model, optimizer)).toBe(before);
      optimizer.destroy();
    }
    model.destroy();
  });

  it('a schedule error keeps the cause', async () => {
    const model = packedModel(device, [3], 64);
    const cause = new Error('boom');
    const optimizer = await createRAdam(device, model.specs, {
      schedule: () => {
        throw cause;
      },
    });
    expect(() => optimizer.stepAndSubmit()).toThrow(OptimizerConfigError);
    try {
      optimizer.stepAndSubmit();
    } catch (error) {
      expect((error as Error).cause).toBe(cause);
    }
    expect(optimizer.stepCount).toBe(0);
    optimizer.destroy();
    model.destroy();
  });
});
