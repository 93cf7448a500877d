// Runtime-neutral timing: the same code measures in Node (Dawn) and in the browser, so the two runtimes' numbers
// differ only by the WebGPU implementation underneath.

export interface TimingPlan {
  /** Steps run (and discarded) before the first sample: pipelines compile lazily and caches warm up. */
  warmupSteps: number;
  samples: number;
  /** Each sample runs enough steps to last about this long, so per-step overheads average out. */
  targetSampleMs: number;
  minStepsPerSample: number;
  maxStepsPerSample: number;
}

/** What one batch of steps cost; the runner has waited for the GPU (onSubmittedWorkDone) before returning. */
export interface BatchTiming {
  /** Host time spent recording and submitting (or computing, for the CPU loop). */
  hostMs: number;
  /** GPU time between timestamps written before the first and after the last step, where supported. */
  gpuMs?: number;
}

export interface Runner {
  /** Bytes an ideal kernel reads plus writes per step (28 per f32 parameter for Adam-like steps). */
  bytesPerStep: number;
  dispatchesPerStep?: number;
  /** Bytes of the optimizer's moment buffers (m and v pages), where the row has an optimizer. */
  momentBytes?: number;
  run(steps: number): Promise<BatchTiming>;
  /** Throws if the run did not do what it claims (wrong RAdam branch, non-finite values). */
  verify(): Promise<void>;
  dispose(): void;
}

export interface Measurement {
  /** Median wall-clock ms per step over all samples, submit to onSubmittedWorkDone. */
  msPerStep: number;
  minMsPerStep: number;
  maxMsPerStep: number;
  /** Per-sample raw numbers (ms per step), kept so samples from several rounds can be pooled. */
  samplesMsPerStep: number[];
  samplesHostMsPerStep: number[];
  samplesGpuMsPerStep: number[];
  stepsPerSample: number[];
  bytesPerStep: number;
  /** bytesPerStep / msPerStep. */
  gbps: number;
  hostMsPerStep: number;
  /** Median GPU time per step from timestamps; absent when any sample lacked them. */
  gpuMsPerStep?: number;
  dispatchesPerStep?: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface RawSamples {
  wall: number[];
  host: number[];
  gpu: number[];
  steps: number[];
  bytesPerStep: number;
  dispatchesPerStep?: number | undefined;
}

export function summarize(raw: RawSamples): Measurement {
  const msPerStep = median(raw.wall);
  const result: Measurement = {
    msPerStep,
    minMsPerStep: Math.min(...raw.wall),
    maxMsPerStep: Math.max(...raw.wall),
    samplesMsPerStep: raw.wall,
    samplesHostMsPerStep: raw.host,
    samplesGpuMsPerStep: raw.gpu,
    stepsPerSample: raw.steps,
    bytesPerStep: raw.bytesPerStep,
    gbps: raw.bytesPerStep / (msPerStep * 1e6),
    hostMsPerStep: median(raw.host),
  };
  if (raw.gpu.length === raw.wall.length && raw.gpu.length > 0) result.gpuMsPerStep = median(raw.gpu);
  if (raw.dispatchesPerStep !== undefined) result.dispatchesPerStep = raw.dispatchesPerStep;
  return result;
}

export async function measure(runner: Runner, plan: TimingPlan): Promise<Measurement> {
  await runner.run(plan.warmupSteps);
  // The warm-up includes pipeline compilation and first touches of memory, so it would size samples far too
  // small on a GPU (a few steps of 0.1 ms: launch latency and clock ramps, not the step, would be timed). A
  // timed batch after it, doubled until it lasts a tenth of a sample, gives the step's real cost.
  let calibrationSteps = plan.minStepsPerSample;
  let calibrationMs = 0;
  for (;;) {
    const start = performance.now();
    await runner.run(calibrationSteps);
    calibrationMs = performance.now() - start;
    if (calibrationMs >= plan.targetSampleMs / 10 || calibrationSteps >= plan.maxStepsPerSample) break;
    calibrationSteps = Math.min(plan.maxStepsPerSample, calibrationSteps * 4);
  }
  const msPerStepEstimate = Math.max(calibrationMs / calibrationSteps, 1e-4);
  const stepsPerSample = Math.min(
    plan.maxStepsPerSample,
    Math.max(plan.minStepsPerSample, Math.round(plan.targetSampleMs / msPerStepEstimate)),
  );

  const raw: RawSamples = {
    wall: [],
    host: [],
    gpu: [],
    steps: [],
    bytesPerStep: runner.bytesPerStep,
    dispatchesPerStep: runner.dispatchesPerStep,
  };
  for (let s = 0; s < plan.samples; s++) {
    const start = performance.now();
    const batch = await runner.run(stepsPerSample);
    raw.wall.push((performance.now() - start) / stepsPerSample);
    raw.host.push(batch.hostMs / stepsPerSample);
    if (batch.gpuMs !== undefined) raw.gpu.push(batch.gpuMs / stepsPerSample);
    raw.steps.push(stepsPerSample);
  }
  await runner.verify();
  return summarize(raw);
}
