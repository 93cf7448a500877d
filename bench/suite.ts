// What a run measures and the record each measurement becomes; shared by the Node worker, the browser page and
// the report so that all three agree on names.

import type { Runner } from './measure';
import { type Measurement, measure, summarize, type TimingPlan } from './measure';
import { createRunner, type GpuContext, type WorkloadSpec } from './workloads';

export type RuntimeName = 'chromium' | 'node-dawn';

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
}

export interface RuntimeSummary {
  name: RuntimeName;
  /** Browser or Dawn version string. */
  version: string;
  adapter: AdapterSummary;
  timestampQuery: boolean;
}

export interface BenchRecord extends WorkloadSpec, Partial<Measurement> {
  runtime: RuntimeName;
  /** Set when the workload failed; msPerStep etc. are then absent. */
  error?: string;
  /** Which round produced the record; pooled records carry how many rounds they pool. */
  round?: number;
  rounds?: number;
  /** Bytes of the optimizer's moment buffers (fused and multi-tensor rows). */
  momentBytes?: number;
}

export interface SuiteOptions {
  quick: boolean;
  sizes: number[];
  multiSplits: number[];
  /**
   * The whole list runs this many times (alternately forwards and backwards) and each workload's samples are
   * pooled, so load from other processes on a shared machine lands on every workload instead of a few.
   */
  rounds: number;
  /** Per round; plan.samples * rounds samples in all. */
  plan: TimingPlan;
}

const M = 1 << 20;

export function suiteOptions(quick: boolean, sizesOverride?: number[]): SuiteOptions {
  if (quick) {
    return {
      quick,
      sizes: sizesOverride ?? [1 << 18],
      multiSplits: [1, 10, 100, 1000],
      rounds: 2,
      plan: { warmupSteps: 2, samples: 3, targetSampleMs: 150, minStepsPerSample: 2, maxStepsPerSample: 64 },
    };
  }
  return {
    quick,
    sizes: sizesOverride ?? [M, 4 * M, 16 * M],
    multiSplits: [1, 10, 100, 1000],
    rounds: 3,
    plan: { warmupSteps: 2, samples: 2, targetSampleMs: 600, minStepsPerSample: 2, maxStepsPerSample: 2000 },
  };
}

/** Every workload of a run, in the order they execute; tfjs rows are dropped where it cannot run. */
export function buildSpecs(options: SuiteOptions, withTfjs: boolean): WorkloadSpec[] {
  const specs: WorkloadSpec[] = [];
  for (const n of options.sizes) {
    specs.push(
      { workload: 'copy', kind: 'copy', n, tensors: 1 },
      { workload: 'seven-stream', kind: 'sevenStreams', n, tensors: 1 },
      { workload: 'fused-momentum', kind: 'fused', n, tensors: 1, branch: 'momentum' },
      { workload: 'fused-adaptive', kind: 'fused', n, tensors: 1, branch: 'adaptive' },
      { workload: 'unfused-momentum', kind: 'unfused', n, tensors: 1, branch: 'momentum' },
      { workload: 'unfused-adaptive', kind: 'unfused', n, tensors: 1, branch: 'adaptive' },
    );
    if (withTfjs) {
      specs.push(
        { workload: 'tfjs-adam', kind: 'tfjs', n, tensors: 1 },
        { workload: 'tfjs-adam', kind: 'tfjs', n, tensors: 100 },
      );
    }
    specs.push({ workload: 'js-loop', kind: 'js', n, tensors: 1 });
    for (const tensors of options.multiSplits) {
      specs.push({ workload: 'multi-tensor', kind: 'multi', n, tensors, branch: 'adaptive' });
    }
    // bf16 moments: 20 bytes moved per parameter instead of 28.
    specs.push(
      {
        workload: 'fused-adaptive bf16',
        kind: 'fused',
        n,
        tensors: 1,
        branch: 'adaptive',
        stateFormat: 'bf16',
      },
      {
        workload: 'multi-tensor bf16',
        kind: 'multi',
        n,
        tensors: Math.max(...options.multiSplits),
        branch: 'adaptive',
        stateFormat: 'bf16',
      },
    );
  }
  if (withTfjs) specs.push(...tfjsModelSpecs(options));
  // Profiling rows at the largest N: how much the fused step owes to vec4 loads and to its workgroup size.
  const n = Math.max(...options.sizes);
  // The rest of the family: AMSGrad's extra state, and what a Lookahead sync step costs over a plain one.
  specs.push(
    { workload: 'adam-amsgrad', kind: 'adam-amsgrad', n, tensors: 1 },
    { workload: 'ranger-sync', kind: 'ranger-sync', n, tensors: 1 },
    { workload: 'ranger-plain', kind: 'ranger-plain', n, tensors: 1 },
  );
  specs.push(
    {
      workload: 'fused-adaptive scalar',
      kind: 'fused',
      n,
      tensors: 1,
      branch: 'adaptive',
      execution: { vectorize: false },
    },
    {
      workload: 'fused-adaptive wg64',
      kind: 'fused',
      n,
      tensors: 1,
      branch: 'adaptive',
      execution: { workgroupSize: 64 },
    },
  );
  return specs;
}

/** The size of the TensorFlow.js rows' model, in every mode: what a user of `webgpu-radam/tfjs` trains in a page. */
export const TFJS_MODEL_PARAMS = 1 << 20;
/** The fit rows' model: Dense(2048, relu) then Dense(256, softmax) on 256 inputs, no biases: 2^20 weights. */
export const TFJS_FIT_VARIABLES = 2;

/**
 * The TensorFlow.js user's view, at TFJS_MODEL_PARAMS in quick and full mode alike: one optimizer application
 * by `webgpu-radam/tfjs`'s radam (fused) and by tf.train.adam, as 1 and as 100 variables, and one model.fit
 * batch with each.
 */
function tfjsModelSpecs(options: SuiteOptions): WorkloadSpec[] {
  const n = TFJS_MODEL_PARAMS;
  const specs: WorkloadSpec[] = [];
  // A full run already has tf.train.adam at this N among its per-size rows.
  if (!options.sizes.includes(n)) {
    specs.push(
      { workload: 'tfjs-adam', kind: 'tfjs', n, tensors: 1 },
      { workload: 'tfjs-adam', kind: 'tfjs', n, tensors: 100 },
    );
  }
  specs.push(
    { workload: 'tfjs-radam', kind: 'tfjs-radam', n, tensors: 1 },
    { workload: 'tfjs-radam', kind: 'tfjs-radam', n, tensors: 100 },
    { workload: 'tfjs-fit-adam', kind: 'tfjs-fit-adam', n, tensors: TFJS_FIT_VARIABLES },
    { workload: 'tfjs-fit-radam', kind: 'tfjs-fit-radam', n, tensors: TFJS_FIT_VARIABLES },
  );
  return specs;
}

/** Round r's order: even rounds run the list forwards, odd rounds backwards. */
export function roundOrder<T>(specs: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...specs] : [...specs].reverse();
}

/** Pools one workload's records from every round into one; a failure in any round fails the workload. */
export function poolRounds(records: readonly BenchRecord[]): BenchRecord[] {
  const groups = new Map<string, BenchRecord[]>();
  for (const record of records) {
    const key = `${record.runtime}|${specKey(record)}`;
    groups.set(key, [...(groups.get(key) ?? []), record]);
  }
  return [...groups.values()].map((group) => {
    const first = group[0]!;
    const spec: WorkloadSpec = {
      workload: first.workload,
      kind: first.kind,
      n: first.n,
      tensors: first.tensors,
      ...(first.branch ? { branch: first.branch } : {}),
      ...(first.execution ? { execution: first.execution } : {}),
      ...(first.stateFormat ? { stateFormat: first.stateFormat } : {}),
    };
    const failed = group.find((r) => r.error !== undefined);
    if (failed) return { runtime: first.runtime, ...spec, error: failed.error!, rounds: group.length };
    const raw = {
      wall: group.flatMap((r) => r.samplesMsPerStep ?? []),
      host: group.flatMap((r) => r.samplesHostMsPerStep ?? []),
      gpu: group.flatMap((r) => r.samplesGpuMsPerStep ?? []),
      steps: group.flatMap((r) => r.stepsPerSample ?? []),
      bytesPerStep: first.bytesPerStep ?? 0,
      dispatchesPerStep: first.dispatchesPerStep,
    };
    const momentBytes = first.momentBytes === undefined ? {} : { momentBytes: first.momentBytes };
    return { runtime: first.runtime, ...spec, ...summarize(raw), ...momentBytes, rounds: group.length };
  });
}

export function specKey(spec: WorkloadSpec): string {
  return `${spec.workload} n=${spec.n} tensors=${spec.tensors}`;
}

/** Measures one workload and always disposes what it allocated; failures become records, not exceptions. */
export async function runSpec(
  runtime: RuntimeName,
  context: GpuContext,
  spec: WorkloadSpec,
  plan: TimingPlan,
  round: number,
  tfjs?: (spec: WorkloadSpec) => Promise<Runner>,
): Promise<BenchRecord> {
  let runner: Runner | undefined;
  try {
    runner = await createRunner(context, spec, tfjs);
    const measurement = await measure(runner, plan);
    const momentBytes = runner.momentBytes === undefined ? {} : { momentBytes: runner.momentBytes };
    return { runtime, ...spec, ...measurement, ...momentBytes, round };
  } catch (error) {
    return { runtime, ...spec, error: error instanceof Error ? error.message : String(error), round };
  } finally {
    runner?.dispose();
  }
}

export function summarizeAdapter(adapter: GPUAdapter): AdapterSummary {
  // adapter.info exposes getters only (JSON.stringify gives {} on Dawn), so copy the fields one by one.
  const info = adapter.info;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: info.isFallbackAdapter ?? false,
    features: [...adapter.features].sort(),
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
  };
}

/** Requests the device every workload uses: the adapter's largest buffers, and timestamps where offered. */
export async function requestBenchDevice(
  adapter: GPUAdapter,
): Promise<{ device: GPUDevice; timestamps: boolean }> {
  const timestamps = adapter.features.has('timestamp-query');
  const device = await adapter.requestDevice({
    requiredFeatures: timestamps ? ['timestamp-query'] : [],
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
    },
  });
  return { device, timestamps };
}
