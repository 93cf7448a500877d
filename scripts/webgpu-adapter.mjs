// Decides, once per run, which WebGPU adapter everything in this repository uses — the tests (Dawn), the wgpu
// golden runner (Deno), the example, the benchmark (Dawn and Chromium) and the demo's end-to-end test
// (Chromium): a real GPU when the machine has one, SwiftShader (the CPU Vulkan driver shipped in Debian's
// `chromium` package) only when it has none. Nothing is taken from the caller's shell: the decision comes from a
// probe, and the environment each runtime needs is set here, before Dawn, Deno or Chromium starts (the Vulkan
// loader reads VK_ICD_FILENAMES once, when it loads).
//
// WEBGPU_RADAM_ADAPTER=gpu|swiftshader forces a choice (and is how a decision reaches child processes, which then
// skip the probe). From a shell: `node scripts/webgpu-adapter.mjs --run <command...>` runs the command with the
// chosen environment; `eval "$(node scripts/webgpu-adapter.mjs --shell)"` sets it in the shell.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const CHOICE_VARIABLE = 'WEBGPU_RADAM_ADAPTER';

/** @typedef {'gpu' | 'swiftshader'} AdapterKind */
/**
 * @typedef {object} AdapterChoice
 * @property {AdapterKind} kind
 * @property {string} reason Why, in words, e.g. the GPU the probe found.
 */

// Runs in a child process so that probing with the system's Vulkan drivers cannot fix this process's loader to
// the wrong driver set, and so that a driver that crashes while probing costs nothing but the probe.
const PROBE = `
const { create } = await import(process.argv[1]);
const gpu = create([]);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
const info = adapter?.info;
console.log(JSON.stringify(info ? {
  vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
  isFallbackAdapter: info.isFallbackAdapter ?? false,
} : null));
process.exit(0);
`;

/** @param {{ vendor: string, architecture: string, device: string, description: string }} info */
function describe(info) {
  return [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' / ');
}

/** @returns {AdapterChoice} */
function probe() {
  const webgpu = pathToFileURL(createRequire(import.meta.url).resolve('webgpu')).href;
  const env = { ...process.env };
  delete env.VK_ICD_FILENAMES;
  delete env.VK_DRIVER_FILES;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE, webgpu], {
    env,
    encoding: 'utf8',
    timeout: 60_000,
  });
  const line = run.stdout?.trim().split('\n').pop() ?? '';
  /** @type {{ vendor: string, architecture: string, device: string, description: string, isFallbackAdapter: boolean } | null} */
  let info = null;
  try {
    info = JSON.parse(line);
  } catch {
    const why = run.error?.message ?? `exit ${run.status}, signal ${run.signal}`;
    return { kind: 'swiftshader', reason: `the GPU probe failed (${why}), so no GPU is assumed` };
  }
  if (!info) return { kind: 'swiftshader', reason: 'Dawn found no adapter with the system Vulkan drivers' };
  // A CPU driver installed system-wide (lavapipe, SwiftShader) is not a GPU.
  if (info.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe/i.test(describe(info))) {
    return { kind: 'swiftshader', reason: `the system's only adapter is a CPU one (${describe(info)})` };
  }
  return { kind: 'gpu', reason: `GPU found: ${describe(info)}` };
}

/** @type {AdapterChoice | undefined} */
let decided;

/**
 * The adapter kind for this run, decided once (a probe of about 0.2 s) and recorded in the environment for child
 * processes. Also sets, in this process's environment, what Dawn and Deno need for that kind.
 * @returns {AdapterChoice}
 */
export function chooseAdapter() {
  if (!decided) {
    const forced = process.env[CHOICE_VARIABLE];
    if (forced === 'gpu' || forced === 'swiftshader') {
      decided = { kind: forced, reason: `${CHOICE_VARIABLE}=${forced}` };
    } else if (forced !== undefined && forced !== '' && forced !== 'auto') {
      throw new Error(`${CHOICE_VARIABLE}=${forced}: expected gpu, swiftshader or auto`);
    } else {
      decided = probe();
    }
    if (decided.kind === 'swiftshader' && !existsSync(SWIFTSHADER_ICD)) {
      throw new Error(
        `No GPU here (${decided.reason}) and SwiftShader is not installed (${SWIFTSHADER_ICD} is missing): ` +
          'install it with `bash scripts/setup-system.sh` (Debian packages chromium and libvulkan1).',
      );
    }
    process.env[CHOICE_VARIABLE] = decided.kind;
    Object.assign(process.env, vulkanEnvironment(decided));
    if (decided.kind === 'gpu') {
      delete process.env.VK_ICD_FILENAMES;
      delete process.env.VK_DRIVER_FILES;
    }
  }
  return decided;
}

/**
 * What the Vulkan loader of a process (Dawn, Deno/wgpu, Chromium) needs for `choice`. For a GPU, the system's
 * drivers: VK_ICD_FILENAMES must then be absent (see `chromiumEnvironment`).
 * @param {AdapterChoice} choice
 * @returns {Record<string, string>}
 */
function vulkanEnvironment(choice) {
  /** @type {Record<string, string>} */
  const env = {
    // The Vulkan loader warns on every device creation without it.
    XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR || mkdtempSync(join(tmpdir(), 'webgpu-radam-xdg-')),
  };
  if (choice.kind === 'swiftshader') env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  return env;
}

/**
 * The environment to launch Chromium with (puppeteer's `env`): this process's, with the Vulkan driver of `choice`.
 * @param {AdapterChoice} choice
 * @returns {Record<string, string | undefined>}
 */
export function chromiumEnvironment(choice) {
  const env = { ...process.env, ...vulkanEnvironment(choice) };
  if (choice.kind === 'gpu') {
    delete env.VK_ICD_FILENAMES;
    delete env.VK_DRIVER_FILES;
  }
  return env;
}

/**
 * Chromium's flags for `choice`. Both run WebGPU on Vulkan, so a page can also present a WebGPU canvas: on
 * SwiftShader, Chromium's default GL compositor cannot take one (every device of the page is lost), and
 * `--use-vulkan=swiftshader` needs SwiftShader's ICD in Chromium's environment (`chromiumEnvironment`).
 * @param {AdapterChoice} choice
 * @returns {string[]}
 */
export function chromiumArgs(choice) {
  const common = [
    '--headless=new',
    '--no-sandbox',
    '--enable-unsafe-webgpu',
    '--enable-features=Vulkan',
    '--use-angle=vulkan',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ];
  if (choice.kind === 'swiftshader') return [...common, '--use-vulkan=swiftshader'];
  // Headless Chromium may block-list a GPU it has not vetted; here the probe just used it through Dawn.
  return [...common, '--use-vulkan=native', '--ignore-gpu-blocklist'];
}

/**
 * The line every entry point prints before it starts.
 * @param {AdapterChoice} choice
 * @returns {string}
 */
export function describeChoice(choice) {
  return choice.kind === 'gpu'
    ? `[webgpu-radam] adapter: the GPU (${choice.reason})`
    : `[webgpu-radam] adapter: SwiftShader, the CPU Vulkan driver (${choice.reason})`;
}

/**
 * An adapter that contradicts the choice (SwiftShader when a GPU was chosen, or the reverse), as a message; or
 * undefined when it matches.
 * @param {AdapterChoice} choice
 * @param {{ vendor?: string, architecture?: string, device?: string, description?: string, isFallbackAdapter?: boolean }} info
 * @returns {string | undefined}
 */
export function adapterMismatch(choice, info) {
  const text = [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' / ');
  const emulated = info.isFallbackAdapter === true || /swiftshader|llvmpipe|lavapipe/i.test(text);
  if (choice.kind === 'gpu' && emulated)
    return `a GPU was chosen (${choice.reason}) but the adapter is ${text}`;
  if (choice.kind === 'swiftshader' && !/swiftshader/i.test(text)) {
    return `SwiftShader was chosen (${choice.reason}) but the adapter is ${text}`;
  }
  return undefined;
}

// Run as a script (not when bundled into another entry point, where import.meta.url names the bundle).
if (/webgpu-adapter\.mjs$/.test(process.argv[1] ?? '')) {
  const [mode, ...command] = process.argv.slice(2);
  const choice = chooseAdapter();
  if (mode === '--shell') {
    console.error(describeChoice(choice));
    const quote = (/** @type {string} */ s) => `'${s.replaceAll("'", "'\\''")}'`;
    const lines = [`export ${CHOICE_VARIABLE}=${choice.kind}`];
    for (const [key, value] of Object.entries(vulkanEnvironment(choice)))
      lines.push(`export ${key}=${quote(value)}`);
    if (choice.kind === 'gpu') lines.push('unset VK_ICD_FILENAMES VK_DRIVER_FILES');
    console.log(lines.join('\n'));
  } else if (mode === '--run' && command.length > 0) {
    console.log(describeChoice(choice));
    const run = spawnSync(command[0] ?? '', command.slice(1), { stdio: 'inherit', env: process.env });
    if (run.error) throw run.error;
    process.exit(run.status ?? 1);
  } else if (mode === undefined) {
    console.log(describeChoice(choice));
  } else {
    throw new Error('usage: node scripts/webgpu-adapter.mjs [--shell | --run <command...>]');
  }
}
