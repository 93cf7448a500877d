// Steps past the float64 step table: the GPU computes the factors in f32, but the RAdam branch is still the float64
// one (decided on the host as the first adaptive step), and the factors stay close to float64 even for beta2
// close to 1. Step counts are loaded through loadStateDict, so step 15 001 costs one step.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAdam, createRAdam, type FusedOptimizer } from '../src/index';
import { firstAdaptiveStep, MAX_STEP_COUNT, NEVER_ADAPTIVE } from '../src/step-scalars';
import { readF32, uploadF32 } from './helpers/buffers';
import { requestTestDevice } from './helpers/webgpu-node';

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

/** Float64 rho_t, written out here independently of src/step-scalars.ts. */
function rho(beta2: number, t: number): { rhoInf: number; rhoT: number } {
  const rhoInf = 2 / (1 - beta2) - 1;
  return { rhoInf, rhoT: rhoInf - (2 * t * beta2 ** t) / (1 - beta2 ** t) };
}

const bits = new DataView(new ArrayBuffer(8));
function nextDouble(x: number, direction: 1 | -1): number {
  bits.setFloat64(0, x);
  bits.setBigUint64(0, bits.getBigUint64(0) + BigInt(direction * (x > 0 ? 1 : -1)));
  return bits.getFloat64(0);
}

interface Case {
  beta1: number;
  beta2: number;
  threshold: number;
  inclusive: boolean;
}

/** The lr-free update of one element with m = v = 0 before the step, gradient 1, lr 1 and eps 0, in float64. */
function expectedUpdate(c: Case, t: number): { update: number; adaptive: boolean } {
  const { rhoInf, rhoT } = rho(c.beta2, t);
  const adaptive = c.inclusive ? rhoT >= c.threshold : rhoT > c.threshold;
  const bc1 = 1 - c.beta1 ** t;
  const bc2 = 1 - c.beta2 ** t;
  const m = Math.fround(1 - c.beta1);
  const v = Math.fround(1 - c.beta2);
  if (!adaptive) return { update: m / bc1, adaptive };
  const rect = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
  return { update: ((rect * Math.sqrt(bc2)) / bc1) * (m / Math.sqrt(v)), adaptive };
}

/**
 * One tensor of one element per step count in `steps`, each loaded at step t - 1 with zero moments; one optimizer
 * step then runs step t for every tensor. Returns each tensor's update (params start at 0, so -param).
 */
async function updatesAt(
  create: (
    specs: { param: GPUBuffer; grad: GPUBuffer; length: number; paramOffset: number; gradOffset: number }[],
  ) => Promise<FusedOptimizer>,
  steps: number[],
): Promise<number[]> {
  const param = uploadF32(device, new Float32Array(steps.length * 4));
  const grad = uploadF32(device, new Float32Array(steps.length * 4).fill(1));
  // 16-byte strides: every tensor gets its own vec4 lane, as a real model's tensors would.
  const specs = steps.map((_, i) => ({ param, grad, length: 1, paramOffset: i * 16, gradOffset: i * 16 }));
  const optimizer = await create(specs);
  const state = await optimizer.stateDict();
  state.header.tensors.forEach((tensor, i) => {
    tensor.step = steps[i]! - 1;
  });
  state.header.step = Math.max(...steps) - 1;
  optimizer.loadStateDict(state);
  optimizer.stepAndSubmit();
  const after = await readF32(device, param);
  expect(Array.from((await optimizer.readGradStats()).stepCounts)).toEqual(steps);
  optimizer.destroy();
  param.destroy();
  grad.destroy();
  return steps.map((_, i) => -after[i * 4]!);
}

describe('RAdam branch past the float64 step table', () => {
  const cases: (Case & { label: string; steps: number[] })[] = [];
  for (const crossing of [10_001, 12_001, 15_001]) {
    const at = rho(0.999, crossing).rhoT;
    const steps = [crossing - 2, crossing - 1, crossing, crossing + 1, crossing + 2];
    const base = { beta1: 0.9, beta2: 0.999, steps };
    cases.push(
      { ...base, label: `just below rho_${crossing}, '>'`, threshold: nextDouble(at, -1), inclusive: false },
      { ...base, label: `just above rho_${crossing}, '>'`, threshold: nextDouble(at, 1), inclusive: false },
      { ...base, label: `exactly rho_${crossing}, '>'`, threshold: at, inclusive: false },
      { ...base, label: `exactly rho_${crossing}, '>='`, threshold: at, inclusive: true },
      { ...base, label: `just above rho_${crossing}, '>='`, threshold: nextDouble(at, 1), inclusive: true },
    );
  }

  it.each(cases)('threshold $label: the GPU takes the float64 branch at every step', async (c) => {
    const got = await updatesAt(
      (specs) =>
        createRAdam(device, specs, {
          lr: 1,
          eps: 0,
          betas: [c.beta1, c.beta2],
          threshold: c.threshold,
          thresholdComparison: c.inclusive ? '>=' : '>',
        }),
      c.steps,
    );
    const expected = c.steps.map((t) => expectedUpdate(c, t));
    // Both branches occur among the steps, so a wrong one (update 0.1 vs ~3.16) cannot pass.
    expect(new Set(expected.map((e) => e.adaptive)).size).toBe(2);
    got.forEach((update, i) => {
      const want = expected[i]!.update;
      expect(Math.abs(update - want) / want, `step ${c.steps[i]}`).toBeLessThan(1e-6);
    });
  });

  it('firstAdaptiveStep is where a linear scan of float64 rho_t first takes the adaptive branch', () => {
    for (const beta2 of [0.6, 0.7, 0.9, 0.99, 0.995, 0.999, 0.9995]) {
      const { rhoInf } = rho(beta2, 1);
      for (const threshold of [
        4,
        5,
        6,
        rhoInf / 2,
        rhoInf - 1,
        rhoInf - 1e-3,
        nextDouble(rhoInf, -1),
        rhoInf,
        rhoInf + 1,
      ]) {
        if (threshold < 4) continue;
        for (const inclusive of [false, true]) {
          const hp = {
            kind: 'rectified' as const,
            lr: 1,
            beta1: 0.9,
            beta2,
            eps: 0,
            weightDecay: 0,
            decoupledWeightDecay: false,
            maximize: false,
            threshold,
            thresholdComparison: inclusive ? ('>=' as const) : ('>' as const),
            epsMode: 'uncorrected' as const,
            degeneratedToSgd: true,
            amsgrad: false,
            lookaheadK: 0,
            lookaheadAlpha: 0,
          };
          let scanned = NEVER_ADAPTIVE;
          for (let t = 1; t <= 40_000; t++) {
            const { rhoT } = rho(beta2, t);
            if (rhoInf > 4 && (inclusive ? rhoT >= threshold : rhoT > threshold)) {
              scanned = t;
              break;
            }
          }
          const first = firstAdaptiveStep(hp);
          const label = `beta2 ${beta2}, threshold ${threshold} ${hp.thresholdComparison}`;
          if (scanned !== NEVER_ADAPTIVE) expect(first, label).toBe(scanned);
          else expect(first > 40_000, label).toBe(true);
          // The decision flips once: from the first adaptive step on it stays adaptive.
          if (first !== NEVER_ADAPTIVE) {
            for (const t of [first, first + 1, first + 1000, MAX_STEP_COUNT]) {
              const { rhoT } = rho(beta2, t);
              expect(inclusive ? rhoT >= threshold : rhoT > threshold, `${label} at ${t}`).toBe(true);
            }
          }
        }
      }
    }
  });

  it('a group whose rho_inf is exactly 4 never takes the adaptive branch (no 0/0 rectification)', async () => {
    // beta2 0.6: rho_inf = 4; with threshold 4 and '>=', float64 rounds rho_t up to 4 from step ~100 on.
    const c = { beta1: 0.9, beta2: 0.6, threshold: 4, inclusive: true };
    const steps = [50, 100, 101, 500, 4096, 4097, 100_000];
    const got = await updatesAt(
      (specs) =>
        createRAdam(device, specs, {
          lr: 1,
          eps: 0,
          betas: [0.9, 0.6],
          threshold: 4,
          thresholdComparison: '>=',
        }),
      steps,
    );
    got.forEach((update, i) => {
      const bc1 = 1 - c.beta1 ** steps[i]!;
      expect(update, `step ${steps[i]}`).toBeCloseTo(Math.fround(1 - c.beta1) / bc1, 6);
    });
  });
});

describe('factors past the float64 step table', () => {
  const steps = [4097, 5000, 8000, 10_001, 20_000, 50_000, 100_000, 1_000_000, 10_000_000, MAX_STEP_COUNT];
  // beta2 close to 1 keeps 1 - beta2^t small for thousands of steps: a plain f32 1 - exp(...) lost up to 2e-3 there.
  it.each([
    [0.9, 0.999],
    [0.9, 0.9999],
    [0.9, 0.99999],
    [0.9, 0.999999],
    [0.99999, 0.999999],
  ])(
    'RAdam betas [%f, %f]: the adaptive factor is within 1e-6 of float64 up to step 2^31 - 1',
    async (beta1, beta2) => {
      const c = { beta1, beta2, threshold: 5, inclusive: false };
      const got = await updatesAt(
        (specs) => createRAdam(device, specs, { lr: 1, eps: 0, betas: [beta1, beta2] }),
        steps,
      );
      got.forEach((update, i) => {
        const want = expectedUpdate(c, steps[i]!);
        expect(want.adaptive).toBe(true);
        expect(Math.abs(update - want.update) / want.update, `step ${steps[i]}`).toBeLessThan(1e-6);
      });
    },
  );

  it('Adam with beta2 0.999999: bias corrections within 1e-6 of float64', async () => {
    const got = await updatesAt(
      (specs) => createAdam(device, specs, { lr: 1, eps: 0, betas: [0.9, 0.999999] }),
      steps,
    );
    got.forEach((update, i) => {
      const t = steps[i]!;
      const want =
        (Math.sqrt(1 - 0.999999 ** t) / (1 - 0.9 ** t)) *
        (Math.fround(0.1) / Math.sqrt(Math.fround(1 - 0.999999)));
      expect(Math.abs(update - want) / want, `step ${t}`).toBeLessThan(1e-6);
    });
  });
});
