// What a NaN / ±Inf gradient does under each setting of skipNonFinite and maxGradNorm (README, "Mixed precision"):
// with either one the whole step is skipped (torch's AMP recipe; plain clip_grad_norm_ would turn every parameter
// into NaN), with neither the NaN reaches only its own element, as in torch without clipping.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRAdam, type FusedOptimizer } from '../src/index';
import { type PackedModel, packedModel, readMoments } from './helpers/model';
import { requestTestDevice } from './helpers/webgpu-node';

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

async function everything(model: PackedModel, optimizer: FusedOptimizer) {
  const params = await model.readParams();
  const moments = await Promise.all(model.lengths.map((_, i) => readMoments(device, optimizer, i)));
  const stats = await optimizer.readGradStats();
  return {
    flat: [...params.flatMap((p) => Array.from(p)), ...moments.flatMap((m) => [...m.m, ...m.v])],
    counts: Array.from(stats.stepCounts),
    stats,
  };
}

const LENGTHS = [20, 9];

describe.each([
  { skipNonFinite: false, maxGradNorm: 0.5, skips: true },
  { skipNonFinite: true, maxGradNorm: 0.5, skips: true },
  { skipNonFinite: true, maxGradNorm: 0, skips: true },
  { skipNonFinite: false, maxGradNorm: 0, skips: false },
])('skipNonFinite $skipNonFinite, maxGradNorm $maxGradNorm', ({ skipNonFinite, maxGradNorm, skips }) => {
  it.each([Number.NaN, Number.POSITIVE_INFINITY])(
    `a %s gradient ${skips ? 'skips the whole step' : 'reaches only its own element'}`,
    async (bad) => {
      const options = { lr: 1e-2, skipNonFinite, maxGradNorm };
      const dirty = packedModel(device, LENGTHS, 81);
      const clean = packedModel(device, LENGTHS, 81);
      const dirtyOptimizer = await createRAdam(device, dirty.specs, options);
      const cleanOptimizer = await createRAdam(device, clean.specs, options);
      for (let t = 1; t <= 3; t++) {
        dirty.writeGradients(t);
        clean.writeGradients(t);
        dirtyOptimizer.stepAndSubmit();
        cleanOptimizer.stepAndSubmit();
      }
      const before = await everything(dirty, dirtyOptimizer);
      dirty.writeGradients(4, (tensor, values) => {
        if (tensor === 1) values[4] = bad;
      });
      dirtyOptimizer.stepAndSubmit();
      const after = await everything(dirty, dirtyOptimizer);
      if (skips) {
        expect(after.stats.nonFinite).toBe(true);
        expect(after.flat).toEqual(before.flat);
        expect(after.counts).toEqual([3, 3]);
        expect(after.stats.completedSteps).toBe(3);
        // Training goes on as if the step had never been recorded.
        for (let t = 5; t <= 7; t++) {
          dirty.writeGradients(t);
          clean.writeGradients(t);
          dirtyOptimizer.stepAndSubmit();
          cleanOptimizer.stepAndSubmit();
        }
        expect((await everything(dirty, dirtyOptimizer)).flat).toEqual(
          (await everything(clean, cleanOptimizer)).flat,
        );
      } else {
        expect(after.counts).toEqual([4, 4]);
        const [params0, params1] = await dirty.readParams();
        expect(params0!.every((value) => Number.isFinite(value))).toBe(true);
        // Step 4 is still RAdam's momentum branch: the bad element becomes NaN or ±Inf, no other one moves off.
        expect(Number.isFinite(params1![4]!)).toBe(false);
        expect(params1!.filter((value) => !Number.isFinite(value)).length).toBe(1);
      }
      for (const o of [dirtyOptimizer, cleanOptimizer]) o.destroy();
      dirty.destroy();
      clean.destroy();
    },
  );
});
