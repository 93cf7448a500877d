import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { type PreviewServer, preview } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainResult } from '../hook';
import { RUNS } from '../runs';

// Opens the BUILT demo (npm run build:demo) in headless Chromium on SwiftShader, trains a fixed number of
// steps at two learning rates through window.__demo and checks the reported losses.
const STEPS = Number(process.env.DEMO_E2E_STEPS ?? 150);
const LRS = [1e-3, 3e-2];
const root = fileURLToPath(new URL('..', import.meta.url));

let server: PreviewServer;
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
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('vite preview reported no local URL');
  userDataDir = mkdtempSync(join(tmpdir(), 'webgpu-radam-e2e-'));
  browser = await puppeteer.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    userDataDir,
    protocolTimeout: 280_000,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--enable-unsafe-webgpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
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
  it('trains the four optimizers and reports their losses', async () => {
    const state = await page.evaluate(() => ({
      status: window.__demo?.status,
      message: window.__demo?.message,
    }));
    expect(state, `page state: ${JSON.stringify(state)}`).toEqual({ status: 'ready', message: '' });

    const results: TrainResult[] = [];
    for (const lr of LRS) {
      const result = await page.evaluate((steps, rate) => window.__demo!.sweep!([rate], steps), STEPS, lr);
      results.push(...result);
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

    for (const result of results) {
      expect(result.steps).toBe(STEPS);
      const radam = result.final.radam.loss;
      expect(Number.isFinite(radam), `RAdam loss at lr ${result.lr} is ${radam}`).toBe(true);
      // At lr 1e-3 RAdam starts slowly by design (its rectification acts as a built-in warmup), so ask for a
      // clear fall, not a large one.
      expect(radam, `RAdam loss at lr ${result.lr} did not fall`).toBeLessThan(
        result.first.radam.loss * 0.95,
      );
      for (const run of RUNS) {
        const loss = result.final[run.id].loss;
        // Only a large lr may make plain Adam (no warmup) diverge; anything else producing NaN is a bug.
        const mayDiverge = run.id === 'adam' && result.lr >= 1e-2;
        if (!mayDiverge) expect(Number.isFinite(loss), `${run.label} at lr ${result.lr}: ${loss}`).toBe(true);
      }
    }

    await page.evaluate(() => window.__demo!.playgroundSteps!(60));
    await page.screenshot({ path: join(root, 'screenshot.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
