// The host's float64 step factors against an independent reference written here from the papers' formulas (RAdam:
// Liu et al. 2019, Algorithm 2; Adam: Kingma & Ba), and the packing of the step table and group configs.
import { describe, expect, it } from 'vitest';
import { BRANCH, GROUP_CONFIG, KIND, readStruct, STEP_FACTORS } from '../../src/contract';
import { packGroupConfig, packStepTable } from '../../src/layouts';
import { resolveAdamOptions, resolveRAdamOptions } from '../../src/options';
import { firstAdaptiveStep, stepFactors } from '../../src/step-scalars';

function reference(beta1: number, beta2: number, t: number, threshold: number, strict: boolean) {
  const rhoInf = 2 / (1 - beta2) - 1;
  const rhoT = rhoInf - (2 * t * beta2 ** t) / (1 - beta2 ** t);
  const adaptive = strict ? rhoT > threshold : rhoT >= threshold;
  const bc1 = 1 - beta1 ** t;
  const bc2 = 1 - beta2 ** t;
  const rect = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
  return { adaptive, bc1, bc2, rhoT, adaptiveFactor: adaptive ? (rect * Math.sqrt(bc2)) / bc1 : 0 };
}

describe('stepFactors', () => {
  for (const preset of ['torch', 'paper', 'original', 'tfa', 'optax'] as const) {
    it(`RAdam (${preset}) matches the float64 reference for steps 1..400`, () => {
      const hp = resolveRAdamOptions({ preset, betas: [0.9, 0.99] });
      for (let t = 1; t <= 400; t++) {
        const ref = reference(0.9, 0.99, t, hp.threshold, hp.thresholdComparison === '>');
        const got = stepFactors(hp, t);
        expect(got.branch).toBe(ref.adaptive ? 'adaptive' : 'momentum');
        expect(got.bc1).toBeCloseTo(ref.bc1, 14);
        expect(got.bc2).toBeCloseTo(ref.bc2, 14);
        expect(got.rhoT).toBeCloseTo(ref.rhoT, 9);
        expect(got.adaptiveFactor).toBeCloseTo(ref.adaptiveFactor, 12);
        expect(got.momentumFactor).toBeCloseTo(1 / ref.bc1, 12);
        expect(t >= firstAdaptiveStep(hp)).toBe(ref.adaptive);
      }
    });
  }

  it('Adam is adaptive from step 1 with factor sqrt(bc2)/bc1', () => {
    const hp = resolveAdamOptions({}, false);
    for (let t = 1; t <= 50; t++) {
      const bc1 = 1 - 0.9 ** t;
      const bc2 = 1 - 0.999 ** t;
      expect(stepFactors(hp, t).adaptiveFactor).toBeCloseTo(Math.sqrt(bc2) / bc1, 12);
      expect(stepFactors(hp, t).denomEps).toBeCloseTo(1e-8 * Math.sqrt(bc2), 20);
    }
  });
});

describe('packing by field name', () => {
  it('the step table round-trips through StepFactors', () => {
    const hp = resolveRAdamOptions({});
    const view = new DataView(new ArrayBuffer(20 * STEP_FACTORS.bytes));
    packStepTable(hp, 20, view, 0);
    for (let t = 1; t <= 20; t++) {
      const row = readStruct(STEP_FACTORS, view, (t - 1) * STEP_FACTORS.bytes);
      const factors = stepFactors(hp, t);
      expect(row.branch).toBe(BRANCH.code[factors.branch]);
      expect(row.adaptiveFactor).toBe(Math.fround(factors.adaptiveFactor));
      expect(row.momentumFactor).toBe(Math.fround(factors.momentumFactor));
      expect(row.denomEps).toBe(Math.fround(factors.denomEps));
    }
  });

  it('a group config round-trips through GroupConfig', () => {
    const hp = resolveRAdamOptions({ preset: 'tfa', weightDecay: 0.1, maximize: true });
    const view = new DataView(new ArrayBuffer(2 * GROUP_CONFIG.bytes));
    packGroupConfig(hp, 7, 9, view, GROUP_CONFIG.bytes);
    const config = readStruct(GROUP_CONFIG, view, GROUP_CONFIG.bytes);
    expect(config.kind).toBe(KIND.code.rectified);
    expect(config.flags).toBe(1 | 2 | 8 | 16);
    expect(config.beta1).toBe(Math.fround(0.9));
    expect(config.eps).toBe(Math.fround(1e-7));
    expect(config.weightDecay).toBe(Math.fround(0.1));
    expect([config.tableStart, config.tableLength, config.firstAdaptiveStep]).toEqual([
      7,
      9,
      firstAdaptiveStep(hp),
    ]);
    expect(config._pad0).toBe(0);
    // The first struct is untouched.
    expect(new Uint8Array(view.buffer, 0, GROUP_CONFIG.bytes).every((byte) => byte === 0)).toBe(true);
  });
});
