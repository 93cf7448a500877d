import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAdam,
  createAdamW,
  createRAdam,
  createSGD,
  type FusedOptimizer,
  type RAdamPreset,
} from '../src/index';
import { mulberry32, readF32, STORAGE_RW } from './helpers/buffers';
import { readMoments } from './helpers/model';
import { requestTestDevice } from './helpers/webgpu-node';
import {
  adamReferenceStep,
  lookaheadReferenceSync,
  type MomentState,
  newState,
  PRESET_SEMANTICS,
  radamReferenceStep,
  sgdReferenceStep,
} from './reference/optimizers';

// FUZZ_RUNS=2000 for a long local run; CI uses the default.
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
// The documented tolerance against float64 (README "Guarantees"): per element,
// |gpu - f64| <= 2e-5 * |f64| + 2e-5 * max|f64 array|, for up to a few hundred steps.
const RTOL = 2e-5;
const SCALE_TOL = 2e-5;

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

const hyper = fc.record({
  algorithm: fc.constantFrom('radam', 'adam', 'adamw', 'sgd'),
  preset: fc.constantFrom<RAdamPreset>('torch', 'paper', 'original', 'tfa', 'optax'),
  n: fc.integer({ min: 1, max: 600 }),
  steps: fc.integer({ min: 1, max: 30 }),
  paramShift: fc.constantFrom(0, 4, 8, 16, 260),
  lr: fc.double({ min: 1e-4, max: 1e-1, noNaN: true }),
  beta1: fc.constantFrom(0, 0.5, 0.9, 0.99),
  beta2: fc.constantFrom(0.5, 0.7, 0.9, 0.99, 0.999, 0.9999),
  eps: fc.constantFrom(1e-8, 1e-6, 1e-3),
  weightDecay: fc.constantFrom(0, 1e-3, 0.1),
  decoupled: fc.boolean(),
  maximize: fc.boolean(),
  degeneratedToSgd: fc.boolean(),
  momentum: fc.constantFrom(0, 0.5, 0.9),
  dampening: fc.constantFrom(0, 0.3),
  nesterov: fc.boolean(),
  gradExponent: fc.integer({ min: -6, max: 3 }),
  seed: fc.integer({ min: 1, max: 2 ** 30 }),
  // Adam/AdamW only; other algorithms ignore it.
  amsgrad: fc.boolean(),
  lookahead: fc.option(
    fc.record({ k: fc.integer({ min: 1, max: 7 }), alpha: fc.constantFrom(0.25, 0.5, 0.8, 1) }),
    { nil: undefined },
  ),
});
type Case = typeof hyper extends fc.Arbitrary<infer T> ? T : never;

async function create(
  c: Case,
  spec: { param: GPUBuffer; grad: GPUBuffer; length: number; paramOffset: number },
): Promise<FusedOptimizer> {
  const common = { lr: c.lr, weightDecay: c.weightDecay, maximize: c.maximize, lookahead: c.lookahead };
  switch (c.algorithm) {
    case 'adam':
    case 'adamw':
      return (c.algorithm === 'adam' ? createAdam : createAdamW)(device, [spec], {
        ...common,
        betas: [c.beta1, c.beta2],
        eps: c.eps,
        amsgrad: c.amsgrad,
      });
    case 'sgd': {
      const nesterov = c.nesterov && c.momentum > 0;
      return createSGD(device, [spec], {
        ...common,
        momentum: c.momentum,
        dampening: nesterov ? 0 : c.dampening,
        nesterov,
      });
    }
    default:
      return createRAdam(device, [spec], {
        ...common,
        preset: c.preset,
        betas: [c.beta1, c.beta2],
        eps: c.eps,
        decoupledWeightDecay: c.decoupled,
        degeneratedToSgd: c.degeneratedToSgd,
      });
  }
}

function referenceStep(c: Case, state: MomentState, grad: Float32Array): void {
  innerReferenceStep(c, state, grad);
  if (c.lookahead) lookaheadReferenceSync(state, c.lookahead.k, c.lookahead.alpha);
}

function innerReferenceStep(c: Case, state: MomentState, grad: Float32Array): void {
  switch (c.algorithm) {
    case 'adam':
    case 'adamw':
      adamReferenceStep(state, grad, { ...c, decoupled: c.algorithm === 'adamw' });
      return;
    case 'sgd': {
      const nesterov = c.nesterov && c.momentum > 0;
      sgdReferenceStep(state, grad, { ...c, nesterov, dampening: nesterov ? 0 : c.dampening });
      return;
    }
    default:
      radamReferenceStep(state, grad, { ...c, ...PRESET_SEMANTICS[c.preset] });
  }
}

function worst(got: ArrayLike<number>, expected: Float64Array): number {
  const scale = expected.reduce((max, value) => Math.max(max, Math.abs(value)), 0);
  let ratio = 0;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(got[i]! - expected[i]!);
    ratio = Math.max(
      ratio,
      Number.isNaN(error)
        ? Number.POSITIVE_INFINITY
        : error / (RTOL * Math.abs(expected[i]!) + SCALE_TOL * scale + 1e-30),
    );
  }
  return ratio;
}

describe(`property: any hyper-parameters, sizes and gradient streams match float64 (${RUNS} runs)`, () => {
  it('GPU = float64 reference within the documented tolerance', async () => {
    let worstSeen = 0;
    await fc.assert(
      fc.asyncProperty(hyper, async (c) => {
        const random = mulberry32(c.seed);
        const initial = Float32Array.from({ length: c.n }, () => 2 * random() - 1);
        const param = device.createBuffer({ size: c.paramShift + c.n * 4, usage: STORAGE_RW });
        const grad = device.createBuffer({ size: c.n * 4, usage: STORAGE_RW });
        device.queue.writeBuffer(param, c.paramShift, initial);
        const optimizer = await create(c, { param, grad, length: c.n, paramOffset: c.paramShift });
        const reference = newState(initial);
        const scale = 10 ** c.gradExponent;
        const g = new Float32Array(c.n);
        for (let t = 1; t <= c.steps; t++) {
          for (let i = 0; i < c.n; i++) g[i] = scale * (2 * random() - 1);
          device.queue.writeBuffer(grad, 0, g);
          optimizer.stepAndSubmit();
          referenceStep(c, reference, g);
        }
        const params = await readF32(device, param, c.paramShift, c.n);
        const { m, v } = await readMoments(device, optimizer, 0);
        const at = optimizer.stateLocation(0);
        const amsgrad = c.amsgrad && (c.algorithm === 'adam' || c.algorithm === 'adamw');
        const vmax = at.expAvgSqMax && (await readF32(device, at.expAvgSqMax, at.byteOffset, c.n));
        const slow = at.slow && (await readF32(device, at.slow, at.slowByteOffset, c.n));
        // The extra buffers exist exactly when asked for: otherwise nothing binds or moves them.
        expect(vmax !== undefined, 'max_exp_avg_sq kept').toBe(amsgrad);
        expect(slow !== undefined, 'slow weights kept').toBe(c.lookahead !== undefined);
        optimizer.destroy();
        param.destroy();
        grad.destroy();
        const ratios = [worst(params, reference.params)];
        // torch's SGD keeps no buffer without momentum; SGD has no second moment at all.
        if (c.algorithm !== 'sgd' || c.momentum > 0) ratios.push(worst(m, reference.m));
        if (c.algorithm !== 'sgd') ratios.push(worst(v, reference.v));
        if (vmax) ratios.push(worst(vmax, reference.vmax));
        if (slow) ratios.push(worst(slow, reference.slow));
        const ratio = Math.max(...ratios);
        worstSeen = Math.max(worstSeen, ratio);
        expect(ratio, JSON.stringify(c)).toBeLessThanOrEqual(1);
      }),
      { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 20261125) },
    );
    console.log(`[fuzz] ${RUNS} cases, worst error / tolerance ${worstSeen.toFixed(3)}`);
  });
});
