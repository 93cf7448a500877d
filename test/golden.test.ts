import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as api from '../src/index';
import { generateRows, listGoldenFiles, loadGoldenCase, readGoldenJson } from './helpers/golden';
import { type GoldenReport, type Layout, runGoldenCase } from './helpers/golden-runner';
import { requestTestDevice } from './helpers/webgpu-node';

let device: GPUDevice;
const reports: GoldenReport[] = [];
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => {
  device.destroy();
  // The per-family summary quoted in closing notes: worst error as a fraction of the allowed tolerance.
  const families = new Map<string, { ratio64: number; ratio32: number; rel: number }>();
  for (const report of reports) {
    const family = families.get(report.mode) ?? { ratio64: 0, ratio32: 0, rel: 0 };
    for (const array of report.arrays) {
      family.ratio64 = Math.max(family.ratio64, array.ratioVsF64);
      family.ratio32 = Math.max(family.ratio32, array.ratioVsF32);
      family.rel = Math.max(family.rel, array.maxRelVsF64);
    }
    families.set(report.mode, family);
  }
  const lines = [...families].map(
    ([mode, f]) =>
      `  ${mode.padEnd(9)} max rel err vs f64 ${f.rel.toExponential(2)}   worst err/allowed: vs f64 ${f.ratio64.toFixed(3)}, vs torch f32 ${f.ratio32.toFixed(3)}`,
  );
  console.log(`[golden] ${reports.length} runs\n${lines.join('\n')}`);
});

const files = listGoldenFiles();

describe('golden file format port', () => {
  it('finds golden cases', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  it.each(files.map((file) => [file.label, file.path]))(
    '%s: generator reproduces firstValues and explicit grads',
    (_, file) => {
      const golden = readGoldenJson(file);
      const spec = golden.gradSpec;
      if (typeof spec !== 'object' || spec.type !== 'mulberry32_uniform') return;
      const rows = generateRows(spec, golden.n);
      if (spec.firstValues) expect(rows[0]!.slice(0, spec.firstValues.length)).toEqual(spec.firstValues);
      if (golden.grads) expect(rows).toEqual(golden.grads);
    },
  );
});

describe('golden cases this runner cannot check are rejected, not skipped', () => {
  const vendored = listGoldenFiles().find((file) => file.label === 'adam_basic.json')!;
  const base = JSON.parse(readFileSync(vendored.path, 'utf8')) as Record<string, unknown>;
  const lookaheadCase = listGoldenFiles().find((file) => file.label.endsWith('lookahead_adam_k6.json'))!;
  const rangerCase = listGoldenFiles().find((file) => file.label.endsWith('ranger_defaults.json'))!;
  const read = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  type Case = Record<string, Record<string, unknown>>;
  const variants: [string, string, (c: Case) => void, string][] = [
    [
      'hp.amsgrad on RAdam (torch has none)',
      'torch_small_grads.json',
      (c) => Object.assign(c.hp!, { amsgrad: true }),
      'unknown field hp.amsgrad',
    ],
    [
      'an unknown hp key',
      vendored.path,
      (c) => Object.assign(c.hp!, { nesterov: true }),
      'unknown field hp.nesterov',
    ],
    ['an unknown mode', vendored.path, (c) => Object.assign(c, { mode: 'lamb' }), 'case.mode = "lamb"'],
    [
      'an unknown top-level field',
      vendored.path,
      (c) => Object.assign(c, { slowWeights: [] }),
      'unknown field case.slowWeights',
    ],
    [
      'vmax without amsgrad',
      vendored.path,
      (c) => Object.assign(c.expected!, { vmax: [] }),
      'unknown field expected.vmax',
    ],
    [
      'slow weights outside lookahead',
      vendored.path,
      (c) => Object.assign(c.expected!, { slow: [] }),
      'unknown field expected.slow',
    ],
    [
      'a sync flag outside lookahead',
      vendored.path,
      (c) => Object.assign((c.expected!.stepInfo as object[])[0]!, { sync: true }),
      'unknown field expected.stepInfo[0].sync',
    ],
    [
      'an unknown lookahead inner mode',
      lookaheadCase.path,
      (c) => Object.assign(c.hp!.inner as object, { mode: 'lamb' }),
      'unsupported value hp.inner.mode = "lamb"',
    ],
    [
      'an unknown lookahead key',
      lookaheadCase.path,
      (c) => Object.assign(c.hp!, { resetMoments: true }),
      'unknown field hp.resetMoments',
    ],
    [
      'a lookahead k that is not a positive integer',
      lookaheadCase.path,
      (c) => Object.assign(c.hp!, { k: 2.5 }),
      'unsupported value hp.k = 2.5',
    ],
    [
      'a Ranger case whose inner hp is not Ranger',
      rangerCase.path,
      (c) => Object.assign(c.hp!.inner as object, { thresholdOp: '>=' }),
      'hp.inner.thresholdOp = ">=" is not Ranger\'s ">"',
    ],
    [
      "a Ranger alt run outside the case's tolerance",
      rangerCase.path,
      (c) => {
        const alt = (c.verification as Record<string, Record<string, Record<string, Record<string, number>>>>)
          .alt!;
        alt.refVsAltF32!.slow!.maxAbs = 1;
      },
      'verification.alt.refVsAltF32.slow.maxAbs 1 exceeds',
    ],
  ];
  it.each(variants)('%s', (_, source, edit, message) => {
    const dir = mkdtempSync(join(tmpdir(), 'webgpu-radam-golden-'));
    try {
      const from =
        source.endsWith('.json') && !source.includes('/')
          ? files.find((f) => f.label === source)!.path
          : source;
      const edited = read(from) as Case;
      edit(edited);
      const path = join(dir, 'case.json');
      writeFileSync(path, JSON.stringify(edited));
      expect(() => loadGoldenCase(path)).toThrow(message);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('accepts the unedited cases', () => {
    expect(loadGoldenCase(vendored.path).name).toBe(base.name);
    expect(loadGoldenCase(rangerCase.path).name).toBe('ranger_defaults');
  });
});

const layouts: Layout[] = ['separate', 'unaligned'];
describe.each(layouts)('golden cases through the public API (%s buffers)', (layout) => {
  it.each(files.map((file) => [file.label, file.path]))('%s', async (_, file) => {
    const golden = loadGoldenCase(file);
    const report = await runGoldenCase(api, device, golden, layout);
    reports.push(report);
    expect(report.branchMismatches).toEqual([]);
    for (const array of report.arrays) {
      expect(array.ratioVsF64, `${array.array} vs float64 (err / allowed)`).toBeLessThanOrEqual(1);
      if (golden.expectedF32) {
        expect(array.ratioVsF32, `${array.array} vs torch float32 (err / allowed)`).toBeLessThanOrEqual(1);
      }
    }
  });
});
