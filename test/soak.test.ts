import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosineDecay, createRAdam } from '../src/index';
import { mulberry32, readF32 } from './helpers/buffers';
import { packedModel, readMoments } from './helpers/model';
import { requestTestDevice } from './helpers/webgpu-node';
import { type MomentState, radamReferenceStep, TORCH_RADAM } from './reference/optimizers';

// SOAK_STEPS=100000 for the full soak (run locally and reported in the closing note); CI uses the default.
const STEPS = Number(process.env.SOAK_STEPS ?? 10_000);
const CHECKPOINTS = new Set([1, 5, 6, 7, 100, Math.floor(STEPS / 2), STEPS - 1]);

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

function heapMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

describe(`long run (${STEPS} steps)`, () => {
  it(
    'keeps step counts, branch and schedule exact, and allocates nothing as it goes',
    async () => {
      let liveBuffers = 0;
      const createBuffer = device.createBuffer.bind(device);
      device.createBuffer = (descriptor: GPUBufferDescriptor) => {
        const buffer = createBuffer(descriptor);
        liveBuffers++;
        const destroy = buffer.destroy.bind(buffer);
        let destroyed = false;
        buffer.destroy = () => {
          if (!destroyed) liveBuffers--;
          destroyed = true;
          destroy();
        };
        return buffer;
      };
      const lengths = [37, 64, 3];
      const model = packedModel(device, lengths, 51);
      const schedule = cosineDecay(STEPS, 0.1);
      const lr = 3e-3;
      const optimizer = await createRAdam(device, model.specs, {
        lr,
        weightDecay: 1e-4,
        schedule,
        skipNonFinite: true,
      });
      const torch = { ...TORCH_RADAM, lr, weightDecay: 1e-4, decoupled: false };
      const random = mulberry32(99);
      const gradHost = lengths.map((n) => new Float32Array(n));
      const buffersAtStart = liveBuffers;
      let heapAtStart = 0;
      let checked = 0;

      for (let t = 1; t <= STEPS; t++) {
        if (t === 1000) heapAtStart = heapMb();
        for (const g of gradHost) for (let i = 0; i < g.length; i++) g[i] = 2 * random() - 1;
        model.writeGradients(t, (tensor, values) => values.set(gradHost[tensor]!));
        if (!CHECKPOINTS.has(t)) {
          optimizer.stepAndSubmit();
          continue;
        }
        // One step checked in float64 from the GPU's own state: the step count, branch, rectification, bias
        // corrections and scheduled lr of step t must all be right for this to match to f32 precision.
        const params = await model.readParams();
        const moments = await Promise.all(lengths.map((_, i) => readMoments(device, optimizer, i)));
        const references: MomentState[] = lengths.map((_, i) => ({
          params: Float64Array.from(params[i]!),
          m: Float64Array.from(moments[i]!.m),
          v: Float64Array.from(moments[i]!.v),
          vmax: new Float64Array(0),
          slow: new Float64Array(0),
          step: t - 1,
        }));
        optimizer.stepAndSubmit();
        expect(optimizer.lastStep.step).toBe(t);
        const after = await model.readParams();
        for (const [i, reference] of references.entries()) {
          const branch = radamReferenceStep(reference, gradHost[i]!, { ...torch, lr: lr * schedule(t - 1) });
          expect(optimizer.lastStep.branch === 'momentum' ? 'sgd' : optimizer.lastStep.branch).toBe(branch);
          for (let k = 0; k < reference.params.length; k++) {
            const moved = Math.abs(reference.params[k]! - params[i]![k]!);
            const error = Math.abs(after[i]![k]! - reference.params[k]!);
            // f32 rounding of p itself plus a relative error on the update.
            expect(error).toBeLessThanOrEqual(
              2 * 2 ** -24 * Math.abs(reference.params[k]!) + 1e-5 * moved + 1e-12,
            );
          }
        }
        checked++;
      }
      const stats = await optimizer.readGradStats();
      expect(Array.from(stats.stepCounts)).toEqual([STEPS, STEPS, STEPS]);
      expect(stats.completedSteps).toBe(STEPS);
      expect(liveBuffers).toBe(buffersAtStart);
      const heapGrowth = heapMb() - heapAtStart;
      console.log(
        `[soak] ${STEPS} steps, ${checked} float64 checkpoints, live GPU buffers ${buffersAtStart} -> ${liveBuffers}, ` +
          `JS heap growth ${heapGrowth.toFixed(2)} MB after GC, final lr ${optimizer.lastStep.lr.toExponential(3)}`,
      );
      expect(heapGrowth).toBeLessThan(8);
      expect(Array.from(await readF32(device, model.param)).every(Number.isFinite)).toBe(true);
      optimizer.destroy();
      model.destroy();
      // About 1.5 ms per step on SwiftShader, with room for a loaded machine.
    },
    60_000 + STEPS * 10,
  );
});
