// `npm run bench [-- --quick] [--sizes=1M,4M] [--runtimes=chromium,node-dawn] [--adapter=gpu|swiftshader]
// [--from=results.json]`: runs every workload in Node on Dawn (a child process) and in headless Chromium
// (puppeteer-core, pages served by Vite), on the GPU when there is one (SwiftShader otherwise, see
// scripts/webgpu-adapter.mjs), then prints the table. A full run writes bench/results/<timestamp>.json,
// latest.json, chart.png and bench/RESULTS.md; a quick run writes only bench/results/quick.json, quick.md and
// quick-chart.png, so it never replaces the committed full results. Exits non-zero when any workload failed or
// measured nothing, or ran on another adapter than the one chosen, and never waits forever: every workload has
// a timeout and the browser, the server and the worker are always shut down.
import { execFileSync, fork } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { createServer, type ViteDevServer } from 'vite';
import {
  type AdapterChoice,
  adapterMismatch,
  chooseAdapter,
  chromiumArgs,
  chromiumEnvironment,
  describeChoice,
} from '../scripts/webgpu-adapter.mjs';
import type { WorkerMessage } from './node-worker';
import { type BenchReport, computeRatios, formatMarkdown, formatStdout, type Ratios } from './report';
import {
  type BenchRecord,
  buildSpecs,
  poolRounds,
  type RuntimeName,
  type RuntimeSummary,
  roundOrder,
  type SuiteOptions,
  specKey,
  suiteOptions,
} from './suite';
import type { WorkloadSpec } from './workloads';

const ROOT = process.cwd();
const RESULTS = join(ROOT, 'bench/results');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

interface Args {
  quick: boolean;
  sizes: number[] | undefined;
  runtimes: RuntimeName[];
  /** Extra Chromium flags, after the ones the adapter choice sets. */
  chromiumFlags: string[];
  /** Forces the adapter kind; by default the GPU when there is one, SwiftShader otherwise. */
  adapter: 'gpu' | 'swiftshader' | undefined;
  /** Re-render from this saved results JSON instead of measuring. */
  from: string | undefined;
  /**
   * Writes a full run's report under its own name (bench/results/<label>.json, bench/RESULTS-<label>.md), e.g.
   * for a run on a GPU machine, leaving the committed SwiftShader results alone.
   */
  label: string | undefined;
}

function parseCount(text: string): number {
  const match = /^(\d+)([KM]?)$/i.exec(text.trim());
  if (!match) throw new Error(`bad size "${text}" (expected e.g. 262144, 256K or 4M)`);
  const unit = match[2]!.toUpperCase();
  const n = Number(match[1]) * (unit === 'M' ? 1 << 20 : unit === 'K' ? 1 << 10 : 1);
  if (n % 4 !== 0 || n < 4096) throw new Error(`size ${text}: needs a multiple of 4, at least 4096`);
  return n;
}

function parseArgs(argv: string[]): Args {
  const args: Args = {
    quick: false,
    sizes: undefined,
    runtimes: ['node-dawn', 'chromium'],
    chromiumFlags: [],
    adapter: undefined,
    from: undefined,
    label: undefined,
  };
  for (const arg of argv) {
    const [key, value] = arg.split(/=(.*)/s, 2) as [string, string | undefined];
    if (key === '--quick') args.quick = true;
    else if (key === '--sizes' && value) args.sizes = value.split(',').map(parseCount);
    else if (key === '--runtimes' && value) {
      args.runtimes = value.split(',').map((name) => {
        if (name !== 'chromium' && name !== 'node-dawn') throw new Error(`unknown runtime ${name}`);
        return name;
      });
    } else if (key === '--chromium-flag' && value) args.chromiumFlags.push(value);
    else if (key === '--adapter' && (value === 'gpu' || value === 'swiftshader')) args.adapter = value;
    else if (key === '--from' && value) args.from = value;
    else if (key === '--label' && value && /^[a-z0-9][a-z0-9-]*$/.test(value)) args.label = value;
    else throw new Error(`unknown argument ${arg}`);
  }
  return args;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${(ms / 1000).toFixed(0)} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function progress(record: BenchRecord): void {
  const what = `[${record.runtime} round ${(record.round ?? 0) + 1}] ${specKey(record)}`;
  if (record.error !== undefined) console.log(`${what}: FAILED ${record.error}`);
  else console.log(`${what}: ${record.msPerStep?.toFixed(3)} ms/step, ${record.gbps?.toFixed(2)} GB/s`);
}

function failedRecord(runtime: RuntimeName, spec: WorkloadSpec, error: string): BenchRecord {
  return { runtime, ...spec, error };
}

/** After an aborted runtime: a failed record for every workload that did not complete all its rounds. */
function failIncomplete(
  runtime: RuntimeName,
  specs: readonly WorkloadSpec[],
  records: BenchRecord[],
  rounds: number,
  error: string,
): void {
  for (const spec of specs) {
    const done = records.filter((r) => specKey(r) === specKey(spec)).length;
    if (done < rounds) records.push(failedRecord(runtime, spec, error));
  }
}

/** The Dawn worker: results stream back over IPC; silence for longer than one workload's timeout kills it. */
function runNode(
  options: SuiteOptions,
  workloadTimeoutMs: number,
): Promise<{ runtime?: RuntimeSummary; records: BenchRecord[]; fatal?: string }> {
  // chooseAdapter() has set this process's environment (VK_ICD_FILENAMES for SwiftShader, none for the GPU).
  const env = { ...process.env };
  const specs = buildSpecs(options, false);
  const records: BenchRecord[] = [];
  let runtime: RuntimeSummary | undefined;
  return new Promise((resolveRun) => {
    const child = fork(join(ROOT, 'bench/dist/node/node-worker.js'), [], { env, stdio: 'inherit' });
    let fatal: string | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        fatal = `node-dawn: no result for ${(workloadTimeoutMs / 1000).toFixed(0)} s; worker killed`;
        child.kill('SIGKILL');
      }, workloadTimeoutMs);
    };
    child.on('message', (message: WorkerMessage) => {
      arm();
      if (message.type === 'runtime') runtime = message.runtime;
      else if (message.type === 'record') {
        records.push(message.record);
        progress(message.record);
      } else fatal = message.message;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (records.length < specs.length * options.rounds) {
        fatal ??= `node-dawn worker exited early (code ${code}, signal ${signal})`;
        failIncomplete('node-dawn', specs, records, options.rounds, fatal);
      }
      resolveRun({ records, ...(runtime ? { runtime } : {}), ...(fatal ? { fatal } : {}) });
    });
    arm();
    child.send(options);
  });
}

async function startServer(): Promise<ViteDevServer> {
  const server = await createServer({
    configFile: false,
    root: join(ROOT, 'bench/web'),
    // Kept inside this checkout (node_modules may be shared with other checkouts), where git and biome ignore it.
    cacheDir: join(ROOT, 'bench/dist/.vite-web'),
    logLevel: 'warn',
    clearScreen: false,
    server: {
      host: 'localhost',
      port: 5317,
      strictPort: false,
      fs: { allow: [ROOT] },
      hmr: false,
      // Cross-origin isolation gives performance.now() 5 µs resolution instead of 100 µs (host ms column).
      headers: {
        'Cross-Origin-Opener-Policy': 'same-origin',
        'Cross-Origin-Embedder-Policy': 'require-corp',
      },
    },
    // Pre-bundled up front so Vite never reloads the page mid-run after discovering a dependency.
    optimizeDeps: {
      include: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu'],
      entries: ['index.html', 'chart.html'],
    },
  });
  await server.listen();
  return server;
}

async function openPage(browser: Browser, url: string, ready: string, timeoutMs: number): Promise<Page> {
  const page = await browser.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warn')
      console.log(`[chromium ${message.type()}] ${message.text()}`);
  });
  page.on('pageerror', (error) => console.log(`[chromium page error] ${String(error)}`));
  await page.goto(url, { waitUntil: 'load', timeout: timeoutMs });
  await page.waitForFunction(ready, { timeout: timeoutMs, polling: 100 });
  return page;
}

async function runChromium(
  browser: Browser,
  baseUrl: string,
  options: SuiteOptions,
  workloadTimeoutMs: number,
): Promise<{ runtime?: RuntimeSummary; records: BenchRecord[]; fatal?: string }> {
  const specs = buildSpecs(options, true);
  const records: BenchRecord[] = [];
  const page = await openPage(
    browser,
    baseUrl,
    'window.webgpuRadamBench !== undefined || window.webgpuRadamBenchError !== undefined',
    60_000,
  );
  const initError = await page.evaluate(() => window.webgpuRadamBenchError);
  if (initError !== undefined) {
    return {
      records: specs.map((spec) => failedRecord('chromium', spec, initError)),
      fatal: `chromium: ${initError}`,
    };
  }
  const partial = await page.evaluate(() => window.webgpuRadamBench!.runtime);
  const runtime: RuntimeSummary = { ...partial, version: await browser.version() };
  for (let round = 0; round < options.rounds; round++) {
    for (const spec of roundOrder(specs, round)) {
      try {
        const record = await withTimeout(
          page.evaluate((s, p, r) => window.webgpuRadamBench!.run(s, p, r), spec, options.plan, round),
          workloadTimeoutMs,
          `chromium ${specKey(spec)}`,
        );
        records.push(record);
        progress(record);
      } catch (error) {
        // A timed-out evaluate keeps the page busy, so the remaining workloads cannot be trusted to run.
        const message = error instanceof Error ? error.message : String(error);
        failIncomplete('chromium', specs, records, options.rounds, message);
        await page.close().catch(() => {});
        return { runtime, records, fatal: message };
      }
    }
  }
  await page.close();
  return { runtime, records };
}

async function renderChart(
  browser: Browser,
  baseUrl: string,
  report: BenchReport,
  path: string,
): Promise<void> {
  const page = await openPage(browser, `${baseUrl}chart.html`, 'window.drawBenchChart !== undefined', 60_000);
  await page.setViewport({ width: 1200, height: 800, deviceScaleFactor: 1 });
  await page.evaluate((data) => window.drawBenchChart!(data), report);
  const canvas = await page.$('#chart');
  if (!canvas) throw new Error('chart page has no #chart canvas');
  await canvas.screenshot({ path: path as `${string}.png` });
  await page.close();
}

function invalid(record: BenchRecord): string | undefined {
  if (record.error !== undefined) return record.error;
  for (const key of ['msPerStep', 'gbps'] as const) {
    const value = record[key];
    if (value === undefined || !Number.isFinite(value) || value <= 0) return `${key} = ${value}`;
  }
  return undefined;
}

// Known to the overall deadline, which must not leave a Chromium behind when it ends the process.
let launchedBrowser: Browser | undefined;

/** Starts the page server and the browser, hands them to `use`, and always shuts both down. */
async function withBrowser<T>(
  args: Args,
  adapter: AdapterChoice,
  protocolTimeoutMs: number,
  use: (browser: Browser, baseUrl: string) => Promise<T>,
): Promise<T> {
  let server: ViteDevServer | undefined;
  let browser: Browser | undefined;
  const userDataDir = mkdtempSync(join(tmpdir(), 'webgpu-radam-chromium-'));
  try {
    server = await startServer();
    const baseUrl = server.resolvedUrls?.local[0];
    if (!baseUrl) throw new Error('Vite did not report a local URL');
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      userDataDir,
      // A hung protocol call surfaces as an error after this long instead of blocking forever.
      protocolTimeout: protocolTimeoutMs,
      env: chromiumEnvironment(adapter),
      args: [
        ...chromiumArgs(adapter),
        // Full-resolution GPU timestamps instead of Chrome's 100 µs quantization.
        '--enable-webgpu-developer-features',
        ...args.chromiumFlags,
      ],
    });
    launchedBrowser = browser;
    return await use(browser, baseUrl);
  } finally {
    launchedBrowser = undefined;
    await browser?.close().catch(() => {});
    await server?.close().catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
  }
}

/** Where a run's report goes: a quick run never touches the committed full-run files, nor does a labelled one. */
function outputsFor(
  mode: BenchReport['mode'],
  label?: string,
): { json: string[]; markdown: string; chart: string } {
  if (label !== undefined) {
    return {
      json: [`${label}.json`],
      markdown: join(ROOT, `bench/RESULTS-${label}.md`),
      chart: join(RESULTS, `${label}-chart.png`),
    };
  }
  if (mode === 'quick') {
    return {
      json: ['quick.json'],
      markdown: join(RESULTS, 'quick.md'),
      chart: join(RESULTS, 'quick-chart.png'),
    };
  }
  return {
    json: ['latest.json'],
    markdown: join(ROOT, 'bench/RESULTS.md'),
    chart: join(RESULTS, 'chart.png'),
  };
}

async function chartOrFailure(browser: Browser, baseUrl: string, report: BenchReport): Promise<string[]> {
  try {
    await withTimeout(
      renderChart(browser, baseUrl, report, outputsFor(report.mode, report.label).chart),
      60_000,
      'chart',
    );
    return [];
  } catch (error) {
    return [`chart: ${error instanceof Error ? error.message : String(error)}`];
  }
}

function writeSummary(report: BenchReport): void {
  const { markdown } = outputsFor(report.mode, report.label);
  writeFileSync(markdown, formatMarkdown(report, report.command));
  // The repository's biome config formats markdown too; formatting the generated file keeps `npm run lint` clean.
  if (report.mode === 'full') {
    try {
      execFileSync(join(ROOT, 'node_modules/.bin/biome'), ['format', '--write', markdown], {
        stdio: 'ignore',
      });
    } catch {
      console.warn('bench: could not format bench/RESULTS.md with biome (left as generated)');
    }
  }
  console.log(formatStdout(report));
}

/** `--from=<results.json>`: redraws the table, the report and the chart of a saved run without measuring. */
async function rerender(args: Args, adapter: AdapterChoice, from: string): Promise<number> {
  const report = JSON.parse(readFileSync(from, 'utf8')) as BenchReport;
  const problems = await withBrowser(args, adapter, 120_000, (browser, baseUrl) =>
    chartOrFailure(browser, baseUrl, report),
  );
  writeSummary(report);
  const { markdown, chart } = outputsFor(report.mode, report.label);
  console.log(`\nredrew ${relative(ROOT, markdown)} and ${relative(ROOT, chart)} from ${from}`);
  for (const problem of problems) console.error(problem);
  return problems.length > 0 ? 1 : 0;
}

async function main(): Promise<number> {
  const started = performance.now();
  const args = parseArgs(process.argv.slice(2));
  if (args.adapter) process.env.WEBGPU_RADAM_ADAPTER = args.adapter;
  const adapter = chooseAdapter();
  console.log(describeChoice(adapter));
  mkdirSync(RESULTS, { recursive: true });
  if (args.from) return rerender(args, adapter, args.from);
  const options = suiteOptions(args.quick, args.sizes);
  const workloadTimeoutMs = args.quick ? 45_000 : 420_000;
  // Belt and braces for CI: whatever hangs, the quick run ends (with status 1) within 5 minutes.
  if (args.quick) {
    setTimeout(() => {
      console.error('bench: --quick passed its 5-minute deadline; aborting');
      launchedBrowser?.process()?.kill('SIGKILL');
      process.exit(1);
    }, 300_000).unref();
  }
  const timestamp = new Date().toISOString();
  const loadAverageBefore = loadavg();
  if (!existsSync(join(ROOT, 'dist/index.js'))) {
    throw new Error('dist/index.js is missing: run `npx vite build`');
  }

  const runtimes: RuntimeSummary[] = [];
  const records: BenchRecord[] = [];
  const failures: string[] = [];
  const collect = (run: { runtime?: RuntimeSummary; records: BenchRecord[]; fatal?: string }) => {
    if (run.runtime) runtimes.push(run.runtime);
    records.push(...poolRounds(run.records));
    if (run.fatal) failures.push(run.fatal);
  };

  if (args.runtimes.includes('node-dawn')) {
    console.log('--- node-dawn (Dawn via npm webgpu, library from dist/index.js)');
    collect(await runNode(options, workloadTimeoutMs));
  }

  const assemble = (): BenchReport => {
    for (const record of records) {
      const problem = invalid(record);
      if (problem !== undefined) failures.push(`${record.runtime} ${specKey(record)}: ${problem}`);
    }
    for (const name of args.runtimes) {
      if (!runtimes.some((r) => r.name === name)) failures.push(`${name}: the runtime did not start`);
    }
    // Numbers from SwiftShader on a GPU machine (or the reverse) would be reported under the wrong adapter.
    for (const runtime of runtimes) {
      const mismatch = adapterMismatch(adapter, runtime.adapter);
      if (mismatch) failures.push(`${runtime.name}: ${mismatch}`);
    }
    const largest = Math.max(...options.sizes);
    const ratiosByRuntime: Partial<Record<RuntimeName, Ratios>> = {};
    for (const runtime of runtimes) {
      ratiosByRuntime[runtime.name] = computeRatios(records, runtime.name, largest);
    }
    const primary = runtimes.find((r) => r.name === 'chromium') ?? runtimes[0] ?? null;
    return {
      schema: 1,
      timestamp,
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      mode: args.quick ? 'quick' : 'full',
      ...(args.label !== undefined ? { label: args.label } : {}),
      sizes: options.sizes,
      durationS: (performance.now() - started) / 1000,
      timing: { rounds: options.rounds, plan: options.plan },
      host: {
        platform: `${process.platform} ${process.arch}`,
        cpus: cpus().length,
        loadAverageBefore,
        loadAverageAfter: loadavg(),
      },
      runtime: primary,
      adapter: primary?.adapter ?? null,
      runtimes,
      results: records,
      ratios: primary ? ratiosByRuntime[primary.name]! : computeRatios([], 'chromium', largest),
      ratiosByRuntime,
      failures,
    };
  };

  let report: BenchReport;
  const browserAvailable = args.runtimes.includes('chromium') || existsSync(CHROMIUM);
  if (browserAvailable) {
    report = await withBrowser(args, adapter, workloadTimeoutMs + 60_000, async (browser, baseUrl) => {
      if (args.runtimes.includes('chromium')) {
        console.log('--- chromium (headless, puppeteer-core, library from src/ via Vite)');
        collect(await runChromium(browser, baseUrl, options, workloadTimeoutMs));
      }
      const measured = assemble();
      failures.push(...(await chartOrFailure(browser, baseUrl, measured)));
      return measured;
    });
  } else {
    // A Node-only run on a machine without Chromium (a GPU server, say): the report without its chart.
    report = { ...assemble(), chart: false };
    console.warn(`bench: no browser at ${CHROMIUM}; the chart is not drawn`);
  }

  const json = `${JSON.stringify(report, null, 2)}\n`;
  const outputs = outputsFor(report.mode, report.label);
  const written = outputs.json.map((name) => join(RESULTS, name));
  if (report.mode === 'full' && report.label === undefined)
    written.push(join(RESULTS, `${timestamp.replaceAll(':', '-')}.json`));
  for (const path of written) writeFileSync(path, json);
  writeSummary(report);
  console.log(
    `\nwrote ${[...written, ...(browserAvailable ? [outputs.chart] : []), outputs.markdown].map((path) => relative(ROOT, path)).join(', ')} in ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  if (failures.length > 0) {
    console.error(`bench: ${failures.length} failure(s); exiting with status 1`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
