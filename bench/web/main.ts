// The browser side of the benchmark: puppeteer opens this page and calls window.webgpuRadamBench.run() once per
// workload, so every workload gets its own timeout and a failure leaves the page usable for the next one.
import * as lib from '../../src/index';
import type { TimingPlan } from '../measure';
import {
  type BenchRecord,
  type RuntimeSummary,
  requestBenchDevice,
  runSpec,
  summarizeAdapter,
} from '../suite';
import type { WorkloadSpec } from '../workloads';
import { tfjsRunner } from './tfjs-runner';

export interface BenchPageApi {
  runtime: Omit<RuntimeSummary, 'version'>;
  run(spec: WorkloadSpec, plan: TimingPlan, round: number): Promise<BenchRecord>;
}

declare global {
  interface Window {
    webgpuRadamBench?: BenchPageApi;
    webgpuRadamBenchError?: string;
  }
}

const status = document.getElementById('status')!;

async function init(): Promise<BenchPageApi> {
  if (!navigator.gpu)
    throw new Error('navigator.gpu is missing (needs --enable-unsafe-webgpu and http://localhost)');
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('requestAdapter() returned null');
  const { device, timestamps } = await requestBenchDevice(adapter);
  device.addEventListener('uncapturederror', (event) => {
    console.error(`uncaptured WebGPU error: ${(event as GPUUncapturedErrorEvent).error.message}`);
  });
  const context = { device, lib, timestamps };
  return {
    runtime: { name: 'chromium', adapter: summarizeAdapter(adapter), timestampQuery: timestamps },
    run: (spec, plan, round) => runSpec('chromium', context, spec, plan, round, tfjsRunner),
  };
}

init().then(
  (api) => {
    window.webgpuRadamBench = api;
    status.textContent = 'ready';
  },
  (error: unknown) => {
    window.webgpuRadamBenchError = error instanceof Error ? error.message : String(error);
    status.textContent = `failed: ${window.webgpuRadamBenchError}`;
  },
);
