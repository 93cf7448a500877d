// The tfjs optimizers on tfjs's webgpu backend in headless Chromium (the GPU when there is one, SwiftShader
// otherwise: scripts/webgpu-adapter.mjs): every golden case through applyGradients within its tolerances,
// model.fit fused against the op path, a variable reassigned between fused steps, and no GPU buffer left behind.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { createServer, type ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseAdapter, chromiumArgs, chromiumEnvironment } from '../../scripts/webgpu-adapter.mjs';
import {
  gradientSource,
  initialParams,
  listGoldenFiles,
  loadGoldenCase,
  worstRatio,
} from '../helpers/golden';
import { tfjsImplements } from '../tfjs/golden-optimizer';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let server: ViteDevServer;
let browser: Browser;
let page: Page;
let userDataDir: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  server = await createServer({
    configFile: false,
    root: join(ROOT, 'test/tfjs-browser'),
    // Inside this checkout (node_modules may be shared with other checkouts), where git ignores it.
    cacheDir: join(ROOT, 'dist/.vite-tfjs-browser'),
    logLevel: 'warn',
    clearScreen: false,
    server: { host: 'localhost', port: 5318, strictPort: false, fs: { allow: [ROOT] }, hmr: false },
    // Pre-bundled up front so Vite never reloads the page mid-run after discovering a dependency.
    optimizeDeps: {
      include: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu'],
      entries: ['index.html'],
    },
  });
  await server.listen();
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('vite reported no local URL');
  userDataDir = mkdtempSync(join(tmpdir(), 'webgpu-radam-tfjs-'));
  const choice = chooseAdapter();
  browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    userDataDir,
    protocolTimeout: 240_000,
    args: chromiumArgs(choice),
    env: chromiumEnvironment(choice),
  });
  page = await browser.newPage();
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  await page.goto(url, { waitUntil: 'load', timeout: 60_000 });
  await page.waitForFunction(() => window.tfjsHarness !== undefined, { timeout: 90_000 });
  expect(await page.evaluate(() => window.tfjsHarness!.init())).toBe('webgpu');
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

describe('golden cases through applyGradients on the webgpu backend (fused)', () => {
  // AMSGrad and Lookahead cases run on the core's fused path (test/golden.test.ts); the tfjs optimizers refuse
  // those options with a typed error (test/tfjs/golden.test.ts checks the refusal).
  const files = listGoldenFiles().filter((file) => tfjsImplements(loadGoldenCase(file.path)));
  it('finds golden cases', () => expect(files.length).toBeGreaterThan(0));
  it.each(files.map((file) => [file.label, file.path]))('%s', async (_, file) => {
    const golden = loadGoldenCase(file);
    const gradientAt = gradientSource(golden);
    const tolerance = golden.tolerances.float32_vs_expected_or_expectedF32;
    const arrays = (['params', 'm', 'v'] as const).filter((a) => tolerance[a] !== undefined);
    await page.evaluate(
      (g, initial) => window.tfjsHarness!.startCase(g, initial),
      golden,
      initialParams(golden),
    );
    const lastStep = Math.max(...golden.expected.atSteps);
    const branches = new Map(golden.expected.stepInfo.map((info) => [info.t, info.branch]));
    let params = new Float32Array(initialParams(golden));
    for (let t = 1; t <= lastStep; t++) {
      const gradient = gradientAt(t, params);
      const info = await page.evaluate((g, step) => window.tfjsHarness!.step(g, step), gradient, t);
      if (t > 1) expect(info.stepper, `step ${t}`).toBe('webgpu');
      const expectedBranch = branches.get(t);
      if (expectedBranch) {
        const branch = info.branch === 'momentum' || info.branch === 'nesterov' ? 'sgd' : info.branch;
        expect(`${info.step} ${branch}`).toBe(`${t} ${expectedBranch}`);
      }
      const at = golden.expected.atSteps.indexOf(t);
      if (at < 0) {
        if (golden.name === 'rosenbrock')
          params = new Float32Array(await page.evaluate(() => window.tfjsHarness!.params()));
        continue;
      }
      const state = await page.evaluate(() => window.tfjsHarness!.state());
      params = new Float32Array(state.params);
      for (const array of arrays) {
        const got = state[array];
        const expected64 = golden.expected[array]?.[at];
        if (!got || !expected64) throw new Error(`${golden.name}: missing ${array} at step ${t}`);
        expect(
          worstRatio(got, expected64, tolerance[array]!),
          `${array} at step ${t} vs float64`,
        ).toBeLessThanOrEqual(1);
        const f32At = golden.expectedF32?.atSteps.indexOf(t) ?? -1;
        const expected32 = f32At >= 0 ? golden.expectedF32?.[array]?.[f32At] : undefined;
        if (expected32) {
          expect(
            worstRatio(got, expected32, tolerance[array]!),
            `${array} at step ${t} vs torch f32`,
          ).toBeLessThanOrEqual(1);
        }
      }
    }
    const left = await page.evaluate(() => window.tfjsHarness!.endCase());
    expect(left).toEqual({ tensorsLeft: 0, buffersLeft: 0 });
  });
});

describe('model.fit on the webgpu backend', () => {
  it('120 steps: the loss falls, the fused and the op trajectories agree, no buffer is left behind', async () => {
    const fused = await page.evaluate(() => window.tfjsHarness!.fit(true, 30));
    const ops = await page.evaluate(() => window.tfjsHarness!.fit(false, 30));
    expect(fused.steps).toBe(120);
    expect(fused.steppers).toContain('webgpu');
    expect(ops.steppers).toEqual(['ops']);
    expect(fused.losses.at(-1)!).toBeLessThan(fused.losses[0]! * 0.5);
    let worst = 0;
    fused.weights.forEach((w, i) => {
      w.forEach((value, j) => {
        worst = Math.max(
          worst,
          Math.abs(value - ops.weights[i]![j]!) / (1e-3 + Math.abs(ops.weights[i]![j]!)),
        );
      });
    });
    console.log(
      `[tfjs fit] loss ${fused.losses[0]!.toFixed(4)} → ${fused.losses.at(-1)!.toFixed(4)}; fused vs ops max rel weight diff ${worst.toExponential(2)}`,
    );
    expect(worst).toBeLessThan(1e-4);
    for (const [i, loss] of fused.losses.entries()) {
      expect(Math.abs(loss - ops.losses[i]!)).toBeLessThanOrEqual(1e-5 * (1 + ops.losses[i]!));
    }
    expect(fused.buffersLeft).toBe(0);
  });
});

describe('a variable reassigned by user code between fused steps', () => {
  it('is stepped from its new value, like the op path, and the user tensor keeps its values', async () => {
    const { fused, ops } = await page.evaluate(() => window.tfjsHarness!.reassigned());
    expect(fused.stepper).toBe('webgpu');
    expect(fused.keptAfter).toEqual([10, 20, 30, 40, 50]);
    expect(ops.keptAfter).toEqual([10, 20, 30, 40, 50]);
    expect(fused.trace[3]![0]).toBeGreaterThan(9);
    for (const [t, row] of fused.trace.entries()) {
      for (const [i, value] of row.entries()) expect(value).toBeCloseTo(ops.trace[t]![i]!, 5);
    }
  });

  it('times one application on 1M parameters as 1 and as 100 variables against tf.train.adam (reported)', async () => {
    for (const count of [1, 100]) {
      const t = await page.evaluate((c) => window.tfjsHarness!.timing(1 << 20, c, 5), count);
      console.log(
        `[tfjs timing] 1M params as ${count} variable(s): ours ${t.ours.toFixed(1)} ms, tf.train.adam ` +
          `${t.tfjsAdam.toFixed(1)} ms per applyGradients (drained): ${t.ratio.toFixed(2)}x`,
      );
      expect(t.ours).toBeGreaterThan(0);
    }
  });

  it('raised no page errors', () => expect(pageErrors).toEqual([]));
});
