// Runs the workloads in Node on Dawn (npm `webgpu`) against the built library (dist/index.js), in a child
// process of bench/run.ts so that a Dawn crash or hang costs one runtime's results, not the whole run.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { create, globals } from 'webgpu';
import {
  buildSpecs,
  requestBenchDevice,
  roundOrder,
  runSpec,
  type SuiteOptions,
  summarizeAdapter,
} from './suite';
import type { WebGpuRadam } from './workloads';

export type WorkerMessage =
  | { type: 'runtime'; runtime: import('./suite').RuntimeSummary }
  | { type: 'record'; record: import('./suite').BenchRecord }
  | { type: 'fatal'; message: string };

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    process.send?.(message, undefined, {}, (error) => (error ? reject(error) : resolve()));
  });
}

// Dawn crashes on the next submit if the GPU object is garbage-collected while a device lives.
let gpu: GPU | undefined;

async function main(options: SuiteOptions): Promise<void> {
  Object.assign(globalThis, globals);
  const root = process.cwd();
  const lib = (await import(pathToFileURL(join(root, 'dist/index.js')).href)) as WebGpuRadam;
  gpu = create([]);
  const adapter = await gpu.requestAdapter();
  if (!adapter) {
    throw new Error(
      `Dawn found no adapter (chosen: ${process.env.WEBGPU_RADAM_ADAPTER ?? 'none'}, ` +
        `VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? 'unset'}); install chromium and libvulkan1 (npm run setup)`,
    );
  }
  const { device, timestamps } = await requestBenchDevice(adapter);
  device.addEventListener('uncapturederror', (event) => {
    console.error(`[node-dawn] uncaptured WebGPU error: ${(event as GPUUncapturedErrorEvent).error.message}`);
  });
  const webgpuVersion = (
    JSON.parse(readFileSync(join(root, 'node_modules/webgpu/package.json'), 'utf8')) as { version: string }
  ).version;
  await send({
    type: 'runtime',
    runtime: {
      name: 'node-dawn',
      version: `Node ${process.version}, webgpu (Dawn) ${webgpuVersion}`,
      adapter: summarizeAdapter(adapter),
      timestampQuery: timestamps,
    },
  });
  const specs = buildSpecs(options, false);
  for (let round = 0; round < options.rounds; round++) {
    for (const spec of roundOrder(specs, round)) {
      const record = await runSpec('node-dawn', { device, lib, timestamps }, spec, options.plan, round);
      await send({ type: 'record', record });
    }
  }
  device.destroy();
}

// If the orchestrator dies (Ctrl-C, timeout), stop rather than keep a CPU busy for nobody.
process.once('disconnect', () => process.exit(1));

process.once('message', (options: SuiteOptions) => {
  main(options)
    .catch(async (error: unknown) => {
      await send({
        type: 'fatal',
        message: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
    })
    .finally(() => {
      process.disconnect?.();
      process.exit(0);
    });
});
