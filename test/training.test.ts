import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAdamW,
  createRAdam,
  type FusedOptimizer,
  linearWarmup,
  OptimizerConfigError,
  warmupCosine,
} from '../src/index';
import { readF32 } from './helpers/buffers';
import { type PackedModel, packedModel, readMoments } from './helpers/model';
import { requestTestDevice } from './helpers/webgpu-node';
import { adamReferenceStep, newState, radamReferenceStep, TORCH_RADAM } from './reference/optimizers';

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

const TORCH = TORCH_RADAM;

function expectClose(
  got: ArrayLike<number>,
  expected: ArrayLike<number>,
  label: string,
  rtol = 2e-5,
  atol = 1e-6,
) {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(got[i]! - expected[i]!) / (atol + rtol * Math.abs(expected[i]!));
    worst = Math.max(worst, Number.isNaN(error) ? Number.POSITIVE_INFINITY : error);
  }
  expect(worst, label).toBeLessThanOrEqual(1);
}

async function snapshot(model: PackedModel, optimizer: FusedOptimizer) {
  const params = await model.readParams();
  const moments = await Promise.all(model.lengths.map((_, i) => readMoments(device, optimizer, i)));
  const stats = await optimizer.readGradStats();
  return {
    flat: [...params.flatMap((p) => Array.from(p)), ...moments.flatMap((m) => [...m.m, ...m.v])],
    counts: Array.from(stats.stepCounts),
    stats,
  };
}

function initialOf(model: PackedModel, tensor: number): Float32Array {
  const start = model.specs[tensor]!.paramOffset! / 4;
  return model.initial.slice(start, start + model.lengths[tensor]!);
}

describe('param groups', () => {
  it('apply their own lr and weight decay, matching the float64 reference per tensor', async () => {
    const model = packedModel(device, [300, 17, 64, 5], 3);
    const optimizer = await createRAdam(
      device,
      [
        {
          params: [model.specs[0]!, model.specs[2]!],
          lr: 1e-2,
          weightDecay: 0.1,
          decoupledWeightDecay: true,
        },
        { params: [model.specs[1]!, model.specs[3]!], weightDecay: 0 },
      ],
      { lr: 1e-3 },
    );
    expect(optimizer.paramGroups.map((g) => g.tensors)).toEqual([
      [0, 1],
      [2, 3],
    ]);
    // Group order defines tensor order: group 0 holds model tensors 0 and 2.
    const modelTensorOf = [0, 2, 1, 3];
    const options = [
      { ...TORCH, lr: 1e-2, weightDecay: 0.1, decoupled: true },
      { ...TORCH, lr: 1e-3, weightDecay: 0, decoupled: false },
    ];
    const references = modelTensorOf.map((m) => newState(initialOf(model, m)));
    for (let t = 1; t <= 30; t++) {
      if (t === 20) optimizer.paramGroups[1]!.lr = 5e-4;
      if (t === 20) options[1]!.lr = 5e-4;
      const grads = model.writeGradients(t);
      optimizer.stepAndSubmit();
      modelTensorOf.forEach((m, k) => {
        radamReferenceStep(references[k]!, grads[m]!, options[k < 2 ? 0 : 1]!);
      });
    }
    const params = await model.readParams();
    modelTensorOf.forEach((m, k) => {
      expectClose(params[m]!, references[k]!.params, `tensor ${m}`);
    });
    expect(() => {
      optimizer.paramGroups[0]!.lr = -1;
    }).toThrow(/paramGroups\[0\]\.lr/);
    await expect(createRAdam(device, [{ params: [model.specs[0]!], betas: [0.9, 2] }])).rejects.toThrow(
      /paramGroups\[0\]: Invalid betas\[1\]: 2/,
    );
    optimizer.destroy();
    model.destroy();
  });
});

describe('learning-rate schedules', () => {
  it('drives the step: lastStep.lr and the parameters follow base lr × schedule', async () => {
    const model = packedModel(device, [129], 4);
    const schedule = warmupCosine(5, 40, 0.1);
    const optimizer = await createAdamW(device, model.specs, { lr: 1e-2, weightDecay: 0.05, schedule });
    const reference = newState(initialOf(model, 0));
    for (let t = 1; t <= 40; t++) {
      const [grad] = model.writeGradients(t);
      optimizer.stepAndSubmit();
      // The schedule sees the count of steps completed before this one (torch LambdaLR, optax).
      expect(optimizer.lastStep.lr).toBeCloseTo(1e-2 * schedule(t - 1), 15);
      adamReferenceStep(reference, grad!, {
        lr: 1e-2 * schedule(t - 1),
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weightDecay: 0.05,
        decoupled: true,
        maximize: false,
      });
    }
    expectClose((await model.readParams())[0]!, reference.params, 'params');
    optimizer.destroy();
    model.destroy();
  });

  it('rejects a schedule factor that is not a finite number >= 0, changing nothing', async () => {
    const model = packedModel(device, [8], 5);
    const optimizer = await createRAdam(device, model.specs, {
      schedule: (count) => (count === 2 ? Number.NaN : 1),
    });
    model.writeGradients(1);
    optimizer.stepAndSubmit();
    optimizer.stepAndSubmit();
    expect(() => optimizer.stepAndSubmit()).toThrow(OptimizerConfigError);
    expect(optimizer.stepCount).toBe(2);
    optimizer.destroy();
    model.destroy();
  });
});

describe('non-finite gradients with skipNonFinite', () => {
  it.each([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])(
    'a %s in one element of one tensor skips the step everywhere, then training resumes as if it never happened',
    async (bad) => {
      const lengths = [33, 100, 7];
      const schedule = linearWarmup(6);
      const dirty = packedModel(device, lengths, 8);
      const clean = packedModel(device, lengths, 8);
      const options = { lr: 1e-2, skipNonFinite: true, schedule };
      const dirtyOptimizer = await createRAdam(device, dirty.specs, options);
      const cleanOptimizer = await createRAdam(device, clean.specs, options);
      let cleanStep = 0;
      for (let t = 1; t <= 10; t++) {
        if (t === 4) {
          const before = await snapshot(dirty, dirtyOptimizer);
          dirty.writeGradients(t, (tensor, values) => {
            if (tensor === 1) values[57] = bad;
          });
          dirtyOptimizer.stepAndSubmit();
          const after = await snapshot(dirty, dirtyOptimizer);
          expect(after.stats.nonFinite).toBe(true);
          expect(after.flat).toEqual(before.flat);
          expect(after.counts).toEqual(before.counts);
          expect(after.stats.completedSteps).toBe(3);
          continue;
        }
        cleanStep++;
        dirty.writeGradients(t);
        clean.writeGradients(t);
        dirtyOptimizer.stepAndSubmit();
        cleanOptimizer.stepAndSubmit();
      }
      const dirtyEnd = await snapshot(dirty, dirtyOptimizer);
      const cleanEnd = await snapshot(clean, cleanOptimizer);
      // Same gradients at the same step counts and schedule steps: identical bits.
      expect(dirtyEnd.flat).toEqual(cleanEnd.flat);
      expect(dirtyEnd.counts).toEqual([cleanStep, cleanStep, cleanStep]);
      expect(dirtyOptimizer.stepCount).toBe(cleanStep);
      for (const o of [dirtyOptimizer, cleanOptimizer]) o.destroy();
      dirty.destroy();
      clean.destroy();
    },
  );

  it('the schedule does not advance on skipped steps even before the host reads anything back', async () => {
    const schedule = linearWarmup(8);
    const dirty = packedModel(device, [65, 3], 15);
    const clean = packedModel(device, [65, 3], 15);
    const dirtyOptimizer = await createRAdam(device, dirty.specs, {
      lr: 1e-2,
      skipNonFinite: true,
      schedule,
    });
    const cleanOptimizer = await createRAdam(device, clean.specs, {
      lr: 1e-2,
      skipNonFinite: true,
      schedule,
    });
    const skipped = new Set([2, 5, 6]);
    for (let t = 1; t <= 12; t++) {
      dirty.writeGradients(t, (tensor, values) => {
        if (skipped.has(t) && tensor === 0) values[0] = Number.POSITIVE_INFINITY;
      });
      dirtyOptimizer.stepAndSubmit();
      if (skipped.has(t)) continue;
      clean.writeGradients(t);
      cleanOptimizer.stepAndSubmit();
    }
    // The host counted 12 steps; the GPU knows 3 were skipped and picked the schedule factors accordingly.
    expect(dirtyOptimizer.stepCount).toBe(12);
    const dirtyEnd = await snapshot(dirty, dirtyOptimizer);
    expect(dirtyOptimizer.stepCount).toBe(9);
    expect(dirtyEnd.flat).toEqual((await snapshot(clean, cleanOptimizer)).flat);
    for (const o of [dirtyOptimizer, cleanOptimizer]) o.destroy();
    dirty.destroy();
    clean.destroy();
  });

  it('without skipNonFinite a NaN propagates the torch way: into that element only', async () => {
    const model = packedModel(device, [16], 9);
    const optimizer = await createRAdam(device, model.specs, { lr: 1e-2 });
    model.writeGradients(1, (_, values) => {
      values[3] = Number.NaN;
    });
    optimizer.stepAndSubmit();
    const [params] = await model.readParams();
    expect(Number.isNaN(params![3]!)).toBe(true);
    expect(params!.filter((value) => Number.isNaN(value)).length).toBe(1);
    optimizer.destroy();
    model.destroy();
  });
});

describe('loss scaling and clipping', () => {
  it('gradScale divides the gradients out: scaled grads give the unscaled trajectory bit for bit', async () => {
    const scaled = packedModel(device, [77, 12], 10);
    const plain = packedModel(device, [77, 12], 10);
    const scaledOptimizer = await createRAdam(device, scaled.specs, { gradScale: 1024, skipNonFinite: true });
    const plainOptimizer = await createRAdam(device, plain.specs, {});
    for (let t = 1; t <= 9; t++) {
      scaled.writeGradients(t, (_, values) => {
        for (let i = 0; i < values.length; i++) values[i] = values[i]! * 1024;
      });
      plain.writeGradients(t);
      scaledOptimizer.stepAndSubmit();
      plainOptimizer.stepAndSubmit();
    }
    expect((await snapshot(scaled, scaledOptimizer)).flat).toEqual(
      (await snapshot(plain, plainOptimizer)).flat,
    );
    scaledOptimizer.gradScale = 2048;
    expect(scaledOptimizer.gradScale).toBe(2048);
    expect(() => {
      scaledOptimizer.gradScale = 0;
    }).toThrow(/Invalid gradScale: 0/);
    for (const o of [scaledOptimizer, plainOptimizer]) o.destroy();
    scaled.destroy();
    plain.destroy();
  });

  it.each(['narrow', 'wide'] as const)(
    'maxGradNorm clips by the global norm on the GPU, matching a float64 reference (%s tiles)',
    async (tileShape) => {
      // Several tiles per tensor in either shape, and tensors shorter than one.
      const lengths = [40, 9, 100, 1500];
      const model = packedModel(device, lengths, 11);
      const maxNorm = 0.5;
      const optimizer = await createRAdam(
        device,
        model.specs,
        { lr: 1e-2, maxGradNorm: maxNorm },
        { tileShape },
      );
      const references = lengths.map((_, i) => newState(initialOf(model, i)));
      for (let t = 1; t <= 12; t++) {
        const grads = model.writeGradients(t);
        optimizer.stepAndSubmit();
        let sum = 0;
        for (const g of grads) for (const value of g) sum += value * value;
        const norm = Math.sqrt(sum);
        const clip = Math.min(1, maxNorm / (norm + 1e-6));
        grads.forEach((g, i) => {
          radamReferenceStep(
            references[i]!,
            Array.from(g, (value) => value * clip),
            { ...TORCH, lr: 1e-2, weightDecay: 0, decoupled: false },
          );
        });
        if (t === 12) {
          const stats = await optimizer.readGradStats();
          expect(stats.gradNorm).toBeCloseTo(norm, 4);
        }
      }
      const params = await model.readParams();
      for (const [i, reference] of references.entries())
        expectClose(params[i]!, reference.params, `tensor ${i}`);
      optimizer.destroy();
      model.destroy();
    },
  );
});

describe('tensors without a gradient this step', () => {
  it('are left untouched and keep their own step count, like torch skipping grad=None', async () => {
    const lengths = [50, 21];
    const model = packedModel(device, lengths, 12);
    const optimizer = await createRAdam(device, model.specs, { lr: 1e-2 });
    const references = lengths.map((_, i) => newState(initialOf(model, i)));
    const options = { ...TORCH, lr: 1e-2, weightDecay: 0, decoupled: false };
    for (let t = 1; t <= 12; t++) {
      const inactive = t >= 3 && t <= 7;
      optimizer.setActive(1, !inactive);
      const grads = model.writeGradients(t);
      optimizer.stepAndSubmit();
      radamReferenceStep(references[0]!, grads[0]!, options);
      if (!inactive) radamReferenceStep(references[1]!, grads[1]!, options);
      if (t === 7) {
        const counts = (await optimizer.readGradStats()).stepCounts;
        expect(Array.from(counts)).toEqual([7, 2]);
        expectClose((await model.readParams())[1]!, references[1]!.params, 'inactive tensor');
      }
    }
    const params = await model.readParams();
    for (const [i, reference] of references.entries())
      expectClose(params[i]!, reference.params, `tensor ${i}`);
    expect(references[1]!.step).toBe(7);
    optimizer.destroy();
    model.destroy();
  });
});

describe('steps beyond the float64 step table', () => {
  it('are computed on the GPU in f32 and stay within 1e-5 of the float64 reference', async () => {
    const model = packedModel(device, [257], 13);
    // b2 = 0.9: rho_inf = 19, so the adaptive switch happens after the 2-step table, on the f32 path.
    const optimizer = await createRAdam(
      device,
      model.specs,
      { lr: 1e-3, betas: [0.9, 0.9] },
      { stepTableLength: 2 },
    );
    const reference = newState(initialOf(model, 0));
    for (let t = 1; t <= 200; t++) {
      const [grad] = model.writeGradients(t);
      optimizer.stepAndSubmit();
      radamReferenceStep(reference, grad!, {
        ...TORCH,
        beta2: 0.9,
        lr: 1e-3,
        weightDecay: 0,
        decoupled: false,
      });
    }
    const [params] = await model.readParams();
    expectClose(params!, reference.params, 'params', 1e-5, 1e-6);
    const m = (await readMoments(device, optimizer, 0)).m;
    expectClose(m, reference.m, 'exp_avg', 1e-5, 1e-6);
    optimizer.destroy();
    model.destroy();
  });
});

describe('readGradStats', () => {
  it('reads step counts without stalling the GPU and leaves stepCount consistent', async () => {
    const model = packedModel(device, [10], 14);
    const optimizer = await createRAdam(device, model.specs);
    for (let t = 1; t <= 3; t++) optimizer.stepAndSubmit();
    const stats = await optimizer.readGradStats();
    expect(Array.from(stats.stepCounts)).toEqual([3]);
    expect(stats.completedSteps).toBe(3);
    expect(await readF32(device, model.param, 0, 1)).toBeDefined();
    optimizer.destroy();
    model.destroy();
  });
});
