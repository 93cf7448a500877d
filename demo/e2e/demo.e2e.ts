import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { type PreviewServer, preview } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adapterMismatch,
  chooseAdapter,
  chromiumArgs,
  chromiumEnvironment,
} from '../../scripts/webgpu-adapter.mjs';
import type { TrainResult } from '../hook';
import { RUNS } from '../runs';

// Opens the BUILT demo (npm run build:demo) in headless Chromium, on the GPU when there is one and on SwiftShader
// otherwise (scripts/webgpu-adapter.mjs, chosen in the vitest config), trains a fixed number of
// steps at each learning rate through window.__demo (the page's sweep), checks the reported losses and saves
// demo/screenshot.png. DEMO_E2E_LRS (comma-separated) and DEMO_E2E_STEPS override the defaults, e.g. to take
// the README screenshot with a full sweep.
const STEPS = Number(process.env.DEMO_E2E_STEPS ?? 150);
const LRS = (process.env.DEMO_E2E_LRS ?? '1e-3,3e-2').split(',').map(Number);
// Limits against hangs, not expected durations: a 2-core machine under load trains about 3 steps per second.
const SECONDS_PER_LR = 60 + STEPS;
const root = fileURLToPath(new URL('..', import.meta.url));

let server: PreviewServer;
let url: string;
let browser: Browser;
let page: Page;
let userDataDir: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  server = await preview({
    configFile: join(root, 'vite.config.ts'),
    preview: { port: 4173, strictPort: false, host: 'localhost' },
    logLevel: 'warn',
  });
  const local = server.resolvedUrls?.local[0];
  if (!local) throw new Error('vite preview reported no local URL');
  url = local;
  userDataDir = mkdtempSync(join(tmpdir(), 'webgpu-radam-e2e-'));
  browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    userDataDir,
    protocolTimeout: SECONDS_PER_LR * 1000,
    // Vulkan flags either way: presenting a WebGPU canvas through the default (GL) compositor fails on
    // SwiftShader, and every device of the page is lost.
    args: chromiumArgs(chooseAdapter()),
    env: chromiumEnvironment(chooseAdapter()),
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 1200, deviceScaleFactor: 1 });
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
  await page.goto(`${url}?manual`, { waitUntil: 'load', timeout: 30_000 });
  await page.waitForFunction(() => window.__demo && window.__demo.status !== 'loading', {
    timeout: 60_000,
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

describe('demo in headless Chromium', () => {
  it('runs on the adapter chosen for this machine', async () => {
    const info = await page.evaluate(async () => {
      const adapter = await navigator.gpu?.requestAdapter();
      if (!adapter) return null;
      const { vendor, architecture, device, description, isFallbackAdapter } = adapter.info;
      return { vendor, architecture, device, description, isFallbackAdapter };
    });
    expect(info, 'requestAdapter() in the page').not.toBeNull();
    console.log(`[demo e2e] page adapter: ${JSON.stringify(info)}`);
    expect(adapterMismatch(chooseAdapter(), info!)).toBeUndefined();
  });

  it(
    'trains the four optimizers and reports their losses',
    async () => {
      const state = await page.evaluate(() => ({
        status: window.__demo?.status,
        message: window.__demo?.message,
      }));
      expect(state, `page state: ${JSON.stringify(state)}`).toEqual({ status: 'ready', message: '' });

      const results: TrainResult[] = [];
      for (const lr of LRS) {
        const appended = await page.evaluate(
          (rate, steps) => window.__demo!.sweep!([rate], steps, true),
          lr,
          STEPS,
        );
        results.push(...appended);
      }
      for (const result of results) {
        const line = RUNS.map(
          (run) =>
            `${run.label}: ${result.first[run.id].loss.toFixed(4)} -> ${result.final[run.id].loss.toFixed(4)} ` +
            `(acc ${(result.final[run.id].accuracy * 100).toFixed(1)}%)`,
        ).join('; ');
        console.log(
          `lr ${result.lr}, ${result.steps} steps, ${(result.milliseconds / 1000).toFixed(1)} s: ${line}`,
        );
      }

      // The screenshot comes before the checks, so that a failing run leaves a picture of what went wrong.
      await page.evaluate(() => window.__demo!.playgroundSteps!(160));
      await page.screenshot({ path: join(root, 'screenshot.png'), fullPage: true });
      for (const result of results) {
        expect(result.steps).toBe(STEPS);
        const radam = result.final.radam.loss;
        expect(Number.isFinite(radam), `RAdam loss at lr ${result.lr} is ${radam}`).toBe(true);
        // At lr 1e-3 RAdam starts slowly by design (its rectification acts as a built-in warmup), so ask for a
        // clear fall, not a large one.
        if (result.lr >= 1e-3)
          expect(radam, `RAdam loss at lr ${result.lr} did not fall`).toBeLessThan(
            result.first.radam.loss * 0.95,
          );
        for (const run of RUNS) {
          const loss = result.final[run.id].loss;
          // Only a large lr may make plain Adam (no warmup) diverge; anything else producing NaN is a bug.
          const mayDiverge = run.id === 'adam' && result.lr >= 1e-2;
          if (!mayDiverge)
            expect(Number.isFinite(loss), `${run.label} at lr ${result.lr}: ${loss}`).toBe(true);
        }
      }

      expect(pageErrors).toEqual([]);
    },
    (LRS.length * SECONDS_PER_LR + 60) * 1000,
  );

  it('trains the MLP in TensorFlow.js with tf.train.adam and with webgpu-radam/tfjs, timing each step', async () => {
    const tfjsPage = await browser.newPage();
    const errors: string[] = [];
    tfjsPage.on('pageerror', (error) => errors.push(String(error)));
    try {
      await tfjsPage.goto(`${url}tfjs.html`, { waitUntil: 'load', timeout: 30_000 });
      await tfjsPage.waitForFunction(() => window.__tfjsDemo && window.__tfjsDemo.status !== 'loading', {
        timeout: 60_000,
      });
      const runs = await tfjsPage.evaluate(() => window.__tfjsDemo!.train!(80));
      for (const run of runs) {
        console.log(
          `[demo e2e] tfjs ${run.optimizer} (${run.path}): loss ${run.firstLoss.toFixed(4)} -> ` +
            `${run.lastLoss.toFixed(4)}, ${run.medianMsPerStep.toFixed(2)} ms/step`,
        );
        expect(run.steps).toBe(80);
        expect(run.lastLoss, `${run.optimizer}: the loss did not fall`).toBeLessThan(run.firstLoss * 0.95);
        expect(run.medianMsPerStep).toBeGreaterThan(0);
      }
      expect(runs.map((run) => run.path)).toEqual(['webgpu', 'webgpu']);
      const table = await tfjsPage.$$eval('#tfjs-results tbody tr', (rows) => rows.length);
      expect(table).toBe(2);
      expect(errors).toEqual([]);
    } finally {
      await tfjsPage.close();
    }
  }, 180_000);

  it('explains what is needed when the browser has no WebGPU', async () => {
    const bare = await browser.newPage();
    try {
      // Hide WebGPU before any page script runs, as in a browser that does not ship it.
      await bare.evaluateOnNewDocument(() => {
        Reflect.deleteProperty(Navigator.prototype, 'gpu');
      });
      await bare.goto(url, { waitUntil: 'load', timeout: 30_000 });
      await bare.waitForFunction(() => window.__demo && window.__demo.status !== 'loading', {
        timeout: 30_000,
      });
      const shown = await bare.evaluate(() => ({
        status: window.__demo?.status,
        visible: !document.getElementById('no-webgpu')?.hidden,
        text: document.getElementById('no-webgpu')?.textContent ?? '',
      }));
      expect(shown.status).toBe('no-webgpu');
      expect(shown.visible).toBe(true);
      expect(shown.text).toContain('--enable-unsafe-webgpu');
    } finally {
      await bare.close();
    }
  });
});
