// Every golden case through the tfjs optimizers' applyGradients on the cpu backend: fixed gradients (or
// rosenbrock's, computed from the current parameters) in, variables and moments out, within each case's f32
// tolerance against float64 and torch float32.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GoldenCase,
  gradientSource,
  initialParams,
  listGoldenFiles,
  loadGoldenCase,
  maxRelativeError,
  worstRatio,
} from '../helpers/golden';
import { optimizerFor, tfjsImplements } from './golden-optimizer';

interface ArrayReport {
  array: 'params' | 'm' | 'v';
  ratioVsF64: number;
  ratioVsF32: number;
  maxAbsVsF64: number;
  maxRelVsF64: number;
}

interface Report {
  name: string;
  mode: string;
  arrays: ArrayReport[];
  branchMismatches: string[];
}

const reports: Report[] = [];

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterAll(() => {
  const families = new Map<string, { abs: number; rel: number; ratio64: number; ratio32: number }>();
  for (const report of reports) {
    // Rosenbrock's closed loop amplifies errors (and its v reaches 1e6): reported apart from its family.
    const key = report.name === 'rosenbrock' ? `${report.mode} (rosenbrock)` : report.mode;
    const family = families.get(key) ?? { abs: 0, rel: 0, ratio64: 0, ratio32: 0 };
    for (const array of report.arrays) {
      family.abs = Math.max(family.abs, array.maxAbsVsF64);
      family.rel = Math.max(family.rel, array.maxRelVsF64);
      family.ratio64 = Math.max(family.ratio64, array.ratioVsF64);
      family.ratio32 = Math.max(family.ratio32, array.ratioVsF32);
    }
    families.set(key, family);
  }
  const lines = [...families].map(
    ([mode, f]) =>
      `  ${mode.padEnd(20)} max abs err vs f64 ${f.abs.toExponential(2)}, max rel ${f.rel.toExponential(2)}   ` +
      `worst err/allowed: vs f64 ${f.ratio64.toFixed(3)}, vs torch f32 ${f.ratio32.toFixed(3)}`,
  );
  console.log(`[tfjs golden, ${tf.getBackend()} backend] ${reports.length} cases\n${lines.join('\n')}`);
});

let caseIndex = 0;

async function runCase(golden: GoldenCase): Promise<Report> {
  const optimizer = optimizerFor(golden);
  const name = `golden_${caseIndex++}_${golden.name}`;
  const param = tf.tidy(() => tf.variable(tf.tensor1d(initialParams(golden), 'float32'), true, name));
  const gradientAt = gradientSource(golden);
  const tolerance = golden.tolerances.float32_vs_expected_or_expectedF32;
  const arrays = (['params', 'm', 'v'] as const).filter((a) => tolerance[a] !== undefined);
  const reports = new Map<string, ArrayReport>(
    arrays.map((array) => [array, { array, ratioVsF64: 0, ratioVsF32: 0, maxAbsVsF64: 0, maxRelVsF64: 0 }]),
  );
  const stepInfoByT = new Map(golden.expected.stepInfo.map((info) => [info.t, info]));
  const branchMismatches: string[] = [];
  const lastStep = Math.max(...golden.expected.atSteps);

  for (let t = 1; t <= lastStep; t++) {
    const gradient = tf.tensor1d(gradientAt(t, param.dataSync() as Float32Array), 'float32');
    // Both argument forms tfjs uses: minimize() without a varList passes the map, with one the array.
    optimizer.applyGradients(t % 2 === 1 ? { [name]: gradient } : [{ name, tensor: gradient }]);
    gradient.dispose();

    const expectedInfo = stepInfoByT.get(t);
    if (expectedInfo) {
      const got = optimizer.lastStep;
      const gotBranch = got.branch === 'momentum' || got.branch === 'nesterov' ? 'sgd' : got.branch;
      if (got.step !== t || gotBranch !== expectedInfo.branch) {
        branchMismatches.push(`t=${t}: expected ${expectedInfo.branch}, got step ${got.step} ${got.branch}`);
      }
    }
    const at = golden.expected.atSteps.indexOf(t);
    if (at < 0) continue;
    const weights = await optimizer.getWeights();
    const weight = (suffix: string) => weights.find((w) => w.name === `${name}/${suffix}`)?.tensor.dataSync();
    const got = { params: param.dataSync(), m: weight('m'), v: weight('v') };
    tf.dispose(weights.filter((w) => !w.name.endsWith('/m') && !w.name.endsWith('/v')).map((w) => w.tensor));
    if (golden.mode === 'sgd' && got.v !== undefined) throw new Error('SGD must keep no second moment');
    for (const array of arrays) {
      const report = reports.get(array)!;
      const values = got[array];
      const expectedF64 = golden.expected[array]?.[at];
      if (!values || !expectedF64) throw new Error(`${golden.name}: missing ${array} at step ${t}`);
      report.ratioVsF64 = Math.max(report.ratioVsF64, worstRatio(values, expectedF64, tolerance[array]!));
      report.maxRelVsF64 = Math.max(report.maxRelVsF64, maxRelativeError(values, expectedF64));
      for (let i = 0; i < expectedF64.length; i++) {
        report.maxAbsVsF64 = Math.max(report.maxAbsVsF64, Math.abs(values[i]! - expectedF64[i]!));
      }
      const f32Index = golden.expectedF32?.atSteps.indexOf(t) ?? -1;
      const expectedF32 = f32Index >= 0 ? golden.expectedF32?.[array]?.[f32Index] : undefined;
      if (expectedF32) {
        report.ratioVsF32 = Math.max(report.ratioVsF32, worstRatio(values, expectedF32, tolerance[array]!));
      }
    }
  }
  optimizer.dispose();
  param.dispose();
  return { name: golden.name, mode: golden.mode, arrays: [...reports.values()], branchMismatches };
}

// AMSGrad and Lookahead cases run on the fused path only (test/golden.test.ts); the op-based optimizers refuse them.
const allFiles = listGoldenFiles();
const files = allFiles.filter((file) => tfjsImplements(loadGoldenCase(file.path)));

describe('golden cases the tfjs op-based optimizers do not implement', () => {
  const refused = allFiles.filter((file) => !tfjsImplements(loadGoldenCase(file.path)));
  it.each(refused.map((file) => [file.label, file.path]))(
    '%s is refused, not run as something else',
    (_, file) => {
      expect(() => optimizerFor(loadGoldenCase(file))).toThrow(/not implemented/);
    },
  );
});

describe('golden cases through the tfjs optimizers (applyGradients, cpu backend)', () => {
  it('finds golden cases', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  it.each(files.map((file) => [file.label, file.path]))('%s', async (_, file) => {
    const golden = loadGoldenCase(file);
    const before = tf.memory().numTensors;
    const report = await runCase(golden);
    reports.push(report);
    expect(tf.memory().numTensors, 'tensors left behind').toBe(before);
    expect(report.branchMismatches).toEqual([]);
    for (const array of report.arrays) {
      expect(array.ratioVsF64, `${array.array} vs float64 (err / allowed)`).toBeLessThanOrEqual(1);
      if (golden.expectedF32) {
        expect(array.ratioVsF32, `${array.array} vs torch float32 (err / allowed)`).toBeLessThanOrEqual(1);
      }
    }
  });
});
