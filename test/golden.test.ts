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
  const variants: [string, (c: Record<string, unknown>) => void, string][] = [
    [
      'hp.amsgrad true',
      (c) => Object.assign(c.hp as object, { amsgrad: true }),
      'unsupported value hp.amsgrad = true',
    ],
    [
      'an unknown hp key',
      (c) => Object.assign(c.hp as object, { nesterov: true }),
      'unknown field hp.nesterov',
    ],
    ['an unknown mode', (c) => Object.assign(c, { mode: 'lookahead' }), 'case.mode = "lookahead"'],
    [
      'an unknown top-level field',
      (c) => Object.assign(c, { slowWeights: [] }),
      'unknown field case.slowWeights',
    ],
    [
      'an unknown expected array',
      (c) => Object.assign(c.expected as object, { vmax: [] }),
      'unknown field expected.vmax',
    ],
  ];
  it.each(variants)('%s', (_, edit, message) => {
    const dir = mkdtempSync(join(tmpdir(), 'webgpu-radam-golden-'));
    try {
      const edited = structuredClone(base);
      edit(edited);
      const path = join(dir, 'case.json');
      writeFileSync(path, JSON.stringify(edited));
      expect(() => loadGoldenCase(path)).toThrow(message);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('accepts the unedited case', () => {
    expect(loadGoldenCase(vendored.path).name).toBe(base.name);
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
