// The benchmark's workloads, written once against a GPUDevice and the library's API, so that Node (the built
// dist/ on Dawn) and the browser (src/ served by Vite) time exactly the same code.
import { foldWorkgroups } from '../src/grid';
import type * as Library from '../src/index';
// The roofline kernels are the benchmark's own yardstick, not part of the published entry point: bundled from
// src/ here in both runtimes, while the optimizer under test comes from `lib`.
import { createStreamKernel } from '../src/streams';
import type { Runner } from './measure';
import {
  ADAPTIVE_FROM_STEP,
  BENCH_EPS,
  BENCH_LR,
  betasFor,
  type RAdamBranch,
  radamFactors,
  referenceParams,
} from './radam-reference';
import unfusedWgsl from './unfused.wgsl?raw';

export type WebGpuRadam = typeof Library;

export type WorkloadKind =
  | 'copy'
  | 'sevenStreams'
  | 'fused'
  | 'unfused'
  | 'tfjs'
  | 'js'
  | 'multi'
  | 'adam-amsgrad'
  | 'ranger-sync'
  | 'ranger-plain'
  | 'tfjs-radam'
  | 'tfjs-fit-adam'
  | 'tfjs-fit-radam';

export interface WorkloadSpec {
  /** Row label, e.g. 'fused-adaptive'. */
  workload: string;
  kind: WorkloadKind;
  /** Total f32 parameters. */
  n: number;
  tensors: number;
  branch?: RAdamBranch;
  /** Optimizer moments' storage (fused and multi-tensor rows); f32 when absent. */
  stateFormat?: 'f32' | 'bf16';
  /** Library execution knobs, for the profiling rows (workgroup size, vec4 loads). */
  execution?: { workgroupSize?: number; vectorize?: boolean };
}

export interface GpuContext {
  device: GPUDevice;
  lib: WebGpuRadam;
  /** Present when the device was created with 'timestamp-query'. */
  timestamps: boolean;
}

/** Bytes per f32 parameter of an Adam-like step: read p, g, m, v; write p, m, v. */
export const ADAM_BYTES_PER_PARAM = 28;
/** With bf16 moments (stateFormat: 'bf16') m and v move 2 bytes each way instead of 4. */
export const BF16_STATE_BYTES_PER_PARAM = ADAM_BYTES_PER_PARAM - 8;
/** AMSGrad also reads and writes max_exp_avg_sq. */
export const AMSGRAD_BYTES_PER_PARAM = ADAM_BYTES_PER_PARAM + 8;
/** A Lookahead sync step also reads and writes the slow weights; other steps move no more than RAdam's. */
export const LOOKAHEAD_SYNC_BYTES_PER_PARAM = ADAM_BYTES_PER_PARAM + 8;
const WORKGROUP_SIZE = 256;
/** Multi-tensor layouts start each tensor on a 256-byte boundary (the usual storage offset alignment). */
const TENSOR_ALIGN_FLOATS = 64;

/** Deterministic pseudo-random fill, so every runtime and every peer steps on the same data. */
export function fillRandom(
  target: Float32Array<ArrayBuffer>,
  seed: number,
  scale = 1,
): Float32Array<ArrayBuffer> {
  let state = seed >>> 0 || 1;
  for (let i = 0; i < target.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    target[i] = ((state >>> 0) / 4294967296 - 0.5) * scale;
  }
  return target;
}

function storageBuffer(device: GPUDevice, label: string, floats: number, seed?: number): GPUBuffer {
  const buffer = device.createBuffer({
    label: `bench ${label}`,
    size: Math.max(16, floats * 4),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
  });
  if (seed !== undefined && floats > 0) {
    // Filled in slices so a 16M-parameter buffer never needs a second 64 MB host copy.
    const slice = 1 << 20;
    for (let start = 0; start < floats; start += slice) {
      const part = fillRandom(new Float32Array(Math.min(slice, floats - start)), seed + start);
      device.queue.writeBuffer(buffer, start * 4, part);
    }
  }
  return buffer;
}

/** Splits n parameters (a multiple of 4) into `tensors` vec4-friendly lengths that differ by at most 4. */
export function splitLengths(n: number, tensors: number): number[] {
  const quads = n / 4;
  const base = Math.floor(quads / tensors);
  const extra = quads - base * tensors;
  return Array.from({ length: tensors }, (_, i) => (base + (i < extra ? 1 : 0)) * 4);
}

async function readFloats(device: GPUDevice, source: GPUBuffer, count: number): Promise<Float32Array> {
  const readback = device.createBuffer({
    size: count * 4,
    usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ,
  });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(source, 0, readback, 0, count * 4);
  device.queue.submit([encoder.finish()]);
  await readback.mapAsync(GPUMapMode.READ);
  const values = new Float32Array(readback.getMappedRange().slice(0));
  readback.unmap();
  readback.destroy();
  return values;
}

const PARAM_SEED = 11;
const GRAD_SEED = 12;
const CHECKED_ELEMENTS = 16;

/** Compares the first parameters after `steps` steps with the float64 reference (both buffers start seeded). */
async function assertMatchesReference(
  device: GPUDevice,
  param: GPUBuffer,
  steps: number,
  branch: RAdamBranch,
  what: string,
  stateFormat: 'f32' | 'bf16' = 'f32',
): Promise<void> {
  const actual = await readFloats(device, param, CHECKED_ELEMENTS);
  const expected = referenceParams(
    fillRandom(new Float32Array(CHECKED_ELEMENTS), PARAM_SEED),
    fillRandom(new Float32Array(CHECKED_ELEMENTS), GRAD_SEED),
    steps,
    betasFor(branch),
  );
  // f32 kernels drift from the f64 reference by about one rounding per step; 1e-4 is far above that and far
  // below what a wrong formula or a skipped step produces (lr = 1e-3 per step).
  // bf16 moments: each update may be off by its moments' rounding, under 2^-7 relative for m and half that via
  // sqrt(v); at most lr * 2^-6 per step, still well below a wrong formula's lr.
  const allowed = 1e-4 + (stateFormat === 'bf16' ? steps * BENCH_LR * 2 ** -6 : 0);
  const worst = Math.max(...actual.map((a, i) => Math.abs(a - expected[i]!)));
  if (!(worst <= allowed)) {
    throw new Error(
      `${what}: after ${steps} steps the parameters differ from the reference by ${worst} ` +
        `(got ${Array.from(actual.subarray(0, 4))}, expected ${Array.from(expected.subarray(0, 4))})`,
    );
  }
}

async function assertFinite(device: GPUDevice, buffer: GPUBuffer, what: string): Promise<void> {
  const values = await readFloats(device, buffer, 16);
  if (!values.every(Number.isFinite)) throw new Error(`${what}: non-finite values after the run: ${values}`);
}

/**
 * Wraps "record one step into an encoder" as a Runner: one command buffer and one submit per step (a training
 * loop submits every iteration), onSubmittedWorkDone at the end, and GPU timestamps from empty passes placed
 * before the first and after the last step where the device has timestamp-query (the library records its own
 * pass, so the timestamps cannot go inside it).
 */
function gpuRunner(
  context: GpuContext,
  options: {
    bytesPerStep: number;
    dispatchesPerStep: number;
    recordStep: (encoder: GPUCommandEncoder) => void;
    verify: () => Promise<void>;
    dispose: () => void;
  },
): Runner {
  const { device } = context;
  const querySet = context.timestamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : undefined;
  const resolve = querySet
    ? device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC })
    : undefined;
  const readback = querySet
    ? device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ })
    : undefined;
  const marker = (encoder: GPUCommandEncoder, index: 0 | 1) => {
    if (!querySet) return;
    const pass = encoder.beginComputePass({
      timestampWrites:
        index === 0 ? { querySet, beginningOfPassWriteIndex: 0 } : { querySet, endOfPassWriteIndex: 1 },
    });
    pass.end();
  };
  return {
    bytesPerStep: options.bytesPerStep,
    dispatchesPerStep: options.dispatchesPerStep,
    async run(steps) {
      let hostMs = 0;
      for (let s = 0; s < steps; s++) {
        const start = performance.now();
        const encoder = device.createCommandEncoder();
        if (s === 0) marker(encoder, 0);
        options.recordStep(encoder);
        if (s === steps - 1 && querySet && resolve && readback) {
          marker(encoder, 1);
          encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
          encoder.copyBufferToBuffer(resolve, 0, readback, 0, 16);
        }
        device.queue.submit([encoder.finish()]);
        hostMs += performance.now() - start;
      }
      await device.queue.onSubmittedWorkDone();
      if (!readback || steps === 0) return { hostMs };
      await readback.mapAsync(GPUMapMode.READ);
      const [begin, end] = new BigUint64Array(readback.getMappedRange().slice(0));
      readback.unmap();
      // A zero or backwards pair means the adapter did not write real timestamps; report none then.
      if (begin === undefined || end === undefined || begin === 0n || end <= begin) return { hostMs };
      return { hostMs, gpuMs: Number(end - begin) / 1e6 };
    },
    verify: options.verify,
    dispose() {
      options.dispose();
      querySet?.destroy();
      resolve?.destroy();
      readback?.destroy();
    },
  };
}

async function streamRunner(context: GpuContext, spec: WorkloadSpec): Promise<Runner> {
  const { device } = context;
  const kernel = spec.kind === 'copy' ? 'copy' : 'sevenStreams';
  const count = kernel === 'copy' ? 2 : 4;
  const buffers = Array.from({ length: count }, (_, i) =>
    storageBuffer(device, `${kernel} ${i}`, spec.n, i + 1),
  );
  const stream = await createStreamKernel(device, {
    kernel,
    buffers,
    length: spec.n,
    elementWidth: 4,
    workgroupSize: WORKGROUP_SIZE,
    // Keeps repeated seven-stream steps bounded: y, z, w grow by at most a factor (1 + alpha) per step.
    alpha: 1e-6,
  });
  return gpuRunner(context, {
    bytesPerStep: stream.bytesMoved,
    dispatchesPerStep: 1,
    recordStep: (encoder) => stream.record(encoder),
    verify: () => assertFinite(device, buffers[1]!, spec.workload),
    dispose() {
      stream.destroy();
      for (const buffer of buffers) buffer.destroy();
    },
  });
}

/** The sizes of the distinct buffers holding an optimizer's m and v (its other buffers do not depend on them). */
function momentBytes(optimizer: Awaited<ReturnType<WebGpuRadam['createRAdam']>>): number {
  const buffers = new Set<GPUBuffer>();
  for (let i = 0; i < optimizer.tensorCount; i++) {
    const { expAvg, expAvgSq } = optimizer.stateLocation(i);
    buffers.add(expAvg);
    if (expAvgSq) buffers.add(expAvgSq);
  }
  return [...buffers].reduce((sum, buffer) => sum + buffer.size, 0);
}

/** One RAdam over `lengths` tensors packed at 256-byte-aligned offsets of one param and one grad buffer. */
async function fusedRunner(context: GpuContext, spec: WorkloadSpec, lengths: number[]): Promise<Runner> {
  const { device, lib } = context;
  const branch = spec.branch ?? 'adaptive';
  const offsets: number[] = [];
  let floats = 0;
  for (const length of lengths) {
    offsets.push(floats * 4);
    floats += Math.ceil(length / TENSOR_ALIGN_FLOATS) * TENSOR_ALIGN_FLOATS;
  }
  const param = storageBuffer(device, 'param', floats, PARAM_SEED);
  const grad = storageBuffer(device, 'grad', floats, GRAD_SEED);
  const optimizer = await lib.createRAdam(
    device,
    lengths.map((length, i) => ({ param, grad, length, paramOffset: offsets[i]!, gradOffset: offsets[i]! })),
    { lr: BENCH_LR, betas: betasFor(branch), eps: BENCH_EPS, stateFormat: spec.stateFormat ?? 'f32' },
    spec.execution,
  );
  // The default betas take the momentum branch for the first steps; skip them so every timed step is adaptive.
  if (branch === 'adaptive') {
    for (let t = 0; t < ADAPTIVE_FROM_STEP; t++) optimizer.stepAndSubmit();
    await device.queue.onSubmittedWorkDone();
  }
  const bf16 = spec.stateFormat === 'bf16';
  const runner = await gpuRunner(context, {
    bytesPerStep: spec.n * (bf16 ? BF16_STATE_BYTES_PER_PARAM : ADAM_BYTES_PER_PARAM),
    dispatchesPerStep: optimizer.dispatchesPerStep,
    recordStep: (encoder) => optimizer.step(encoder),
    async verify() {
      if (optimizer.lastStep.branch !== branch) {
        throw new Error(`${spec.workload}: expected the ${branch} branch, ran ${optimizer.lastStep.branch}`);
      }
      await assertMatchesReference(
        device,
        param,
        optimizer.stepCount,
        branch,
        spec.workload,
        spec.stateFormat,
      );
    },
    dispose() {
      optimizer.destroy();
      param.destroy();
      grad.destroy();
    },
  });
  return Object.assign(runner, { momentBytes: momentBytes(optimizer) });
}

interface UnfusedOp {
  entry: 'mulScalar' | 'addScalar' | 'sqrtOp' | 'add' | 'sub' | 'mul' | 'div';
  a: string;
  b?: string;
  out: string;
  /** The op's constant for step factors f. */
  scalar?: (f: ReturnType<typeof radamFactors>) => number;
}

// RAdam written as an op-by-op engine runs it, with a two-temporary buffer pool (A, B); "next" buffers are the
// ping-pong partners, as an op may not read and write the same buffer in one dispatch.
const MOMENT_OPS: UnfusedOp[] = [
  { entry: 'mulScalar', a: 'g', out: 'A', scalar: (f) => 1 - f.beta1 },
  { entry: 'mulScalar', a: 'm', out: 'B', scalar: (f) => f.beta1 },
  { entry: 'add', a: 'B', b: 'A', out: 'mNext' },
  { entry: 'mul', a: 'g', b: 'g', out: 'A' },
  { entry: 'mulScalar', a: 'A', out: 'B', scalar: (f) => 1 - f.beta2 },
  { entry: 'mulScalar', a: 'v', out: 'A', scalar: (f) => f.beta2 },
  { entry: 'add', a: 'A', b: 'B', out: 'vNext' },
];
const UNFUSED_OPS: Record<RAdamBranch, UnfusedOp[]> = {
  momentum: [
    ...MOMENT_OPS,
    { entry: 'mulScalar', a: 'mNext', out: 'A', scalar: (f) => f.scale },
    { entry: 'sub', a: 'p', b: 'A', out: 'pNext' },
  ],
  adaptive: [
    ...MOMENT_OPS,
    { entry: 'sqrtOp', a: 'vNext', out: 'A' },
    { entry: 'addScalar', a: 'A', out: 'B', scalar: (f) => f.eps },
    { entry: 'div', a: 'mNext', b: 'B', out: 'A' },
    { entry: 'mulScalar', a: 'A', out: 'B', scalar: (f) => f.scale },
    { entry: 'sub', a: 'p', b: 'B', out: 'pNext' },
  ],
};

async function unfusedRunner(context: GpuContext, spec: WorkloadSpec): Promise<Runner> {
  const { device } = context;
  const branch = spec.branch ?? 'adaptive';
  const [beta1, beta2] = betasFor(branch);
  const n = spec.n;
  const owned: GPUBuffer[] = [];
  const make = (label: string, seed?: number) => {
    const buffer = storageBuffer(device, `unfused ${label}`, n, seed);
    owned.push(buffer);
    return buffer;
  };
  const g = make('g', GRAD_SEED);
  const pair = (name: string, seed?: number) => [make(`${name}0`, seed), make(`${name}1`)] as const;
  const p = pair('p', PARAM_SEED);
  const m = pair('m');
  const v = pair('v');
  const temps = { A: make('A'), B: make('B') };
  const dummy = make('unused b');

  const module = device.createShaderModule({ label: 'bench unfused RAdam', code: unfusedWgsl });
  const layout = device.createBindGroupLayout({
    entries: [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
      { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
      { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
    ],
  });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
  device.pushErrorScope('validation');
  const pipelines = new Map<UnfusedOp['entry'], GPUComputePipeline>();
  for (const op of [...UNFUSED_OPS.momentum, ...UNFUSED_OPS.adaptive]) {
    if (pipelines.has(op.entry)) continue;
    const pipeline = await device.createComputePipelineAsync({
      layout: pipelineLayout,
      compute: { module, entryPoint: op.entry, constants: { WORKGROUP_SIZE } },
    });
    pipelines.set(op.entry, pipeline);
  }
  const count = n / 4;
  // Step t reads state[(t - 1) % 2] (step 1 the seeded buffers) and writes the other; both parities' bind groups
  // are built up front.
  const resolveName = (name: string, parity: 0 | 1): GPUBuffer => {
    const other = parity === 0 ? 1 : 0;
    switch (name) {
      case 'g':
        return g;
      case 'p':
        return p[parity];
      case 'm':
        return m[parity];
      case 'v':
        return v[parity];
      case 'pNext':
        return p[other];
      case 'mNext':
        return m[other];
      case 'vNext':
        return v[other];
      case 'A':
        return temps.A;
      case 'B':
        return temps.B;
      default:
        throw new Error(`unknown unfused buffer ${name}`);
    }
  };
  // Like a tensor engine running torch's RAdam, the host picks the branch each step and issues that branch's ops.
  const programs = Object.fromEntries(
    (['momentum', 'adaptive'] as const).map((name) => {
      const ops = UNFUSED_OPS[name];
      const uniforms = ops.map(() => {
        const buffer = device.createBuffer({
          size: 16,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        });
        device.queue.writeBuffer(buffer, 0, new Uint32Array([count, 0, 0, 0]));
        owned.push(buffer);
        return buffer;
      });
      const bindGroups = ([0, 1] as const).map((parity) =>
        ops.map((op, i) =>
          device.createBindGroup({
            layout,
            entries: [
              { binding: 0, resource: { buffer: uniforms[i]! } },
              { binding: 1, resource: { buffer: resolveName(op.a, parity) } },
              { binding: 2, resource: { buffer: op.b ? resolveName(op.b, parity) : dummy } },
              { binding: 3, resource: { buffer: resolveName(op.out, parity) } },
            ],
          }),
        ),
      );
      return [name, { ops, uniforms, bindGroups }];
    }),
  ) as Record<RAdamBranch, { ops: UnfusedOp[]; uniforms: GPUBuffer[]; bindGroups: GPUBindGroup[][] }>;
  const error = await device.popErrorScope();
  if (error) throw new Error(`unfused RAdam setup: ${error.message}`);

  const workgroups = foldWorkgroups(
    Math.ceil(count / WORKGROUP_SIZE),
    device.limits.maxComputeWorkgroupsPerDimension,
  );
  const scalarWord = new Float32Array(1);
  let t = 0;
  const recordStep = (encoder: GPUCommandEncoder) => {
    t++;
    const factors = radamFactors(t, beta1, beta2);
    const program = programs[factors.branch];
    const parity = ((t - 1) % 2) as 0 | 1;
    const pass = encoder.beginComputePass({ label: 'bench unfused RAdam step' });
    program.ops.forEach((op, i) => {
      if (op.scalar) {
        // Written before this step's submit, so the step sees its own factors (the same per-step host work
        // the fused optimizer does for its uniform ring).
        scalarWord[0] = op.scalar(factors);
        device.queue.writeBuffer(program.uniforms[i]!, 4, scalarWord);
      }
      pass.setPipeline(pipelines.get(op.entry)!);
      pass.setBindGroup(0, program.bindGroups[parity]![i]!);
      pass.dispatchWorkgroups(workgroups[0], workgroups[1]);
    });
    pass.end();
  };
  // As for the fused step: with the default betas the first steps are momentum steps; skip them untimed.
  if (branch === 'adaptive') {
    for (let s = 0; s < ADAPTIVE_FROM_STEP; s++) {
      const encoder = device.createCommandEncoder();
      recordStep(encoder);
      device.queue.submit([encoder.finish()]);
    }
    await device.queue.onSubmittedWorkDone();
  }
  return gpuRunner(context, {
    bytesPerStep: n * ADAM_BYTES_PER_PARAM,
    dispatchesPerStep: UNFUSED_OPS[branch].length,
    recordStep,
    async verify() {
      const last = radamFactors(t, beta1, beta2).branch;
      if (last !== branch) throw new Error(`${spec.workload}: expected the ${branch} branch, ran ${last}`);
      await assertMatchesReference(device, p[(t % 2) as 0 | 1], t, branch, spec.workload);
    },
    dispose() {
      for (const buffer of owned) buffer.destroy();
    },
  });
}

/** The CPU peer: the adaptive RAdam step over Float32Arrays, the loop a JavaScript trainer would write. */
function jsRunner(spec: WorkloadSpec): Runner {
  const n = spec.n;
  const p = fillRandom(new Float32Array(n), PARAM_SEED);
  const g = fillRandom(new Float32Array(n), GRAD_SEED);
  const m = new Float32Array(n);
  const v = new Float32Array(n);
  const [beta1, beta2] = betasFor('adaptive');
  let t = ADAPTIVE_FROM_STEP;
  return {
    bytesPerStep: n * ADAM_BYTES_PER_PARAM,
    async run(steps) {
      const start = performance.now();
      for (let s = 0; s < steps; s++) {
        t++;
        const f = radamFactors(t, beta1, beta2);
        const c1 = 1 - f.beta1;
        const c2 = 1 - f.beta2;
        for (let i = 0; i < n; i++) {
          const gi = g[i]!;
          const mi = f.beta1 * m[i]! + c1 * gi;
          const vi = f.beta2 * v[i]! + c2 * gi * gi;
          m[i] = mi;
          v[i] = vi;
          p[i] = p[i]! - (f.scale * mi) / (Math.sqrt(vi) + f.eps);
        }
      }
      return { hostMs: performance.now() - start };
    },
    async verify() {
      if (!p.subarray(0, 16).every(Number.isFinite)) throw new Error(`${spec.workload}: non-finite values`);
    },
    dispose() {},
  };
}

/**
 * The rest of the family on one tensor: Adam with AMSGrad, and Ranger on a sync step (k = 1: every step syncs) and
 * on a plain step (k far beyond the run: the slow weights are written once, at the first warm-up step).
 */
async function familyRunner(context: GpuContext, spec: WorkloadSpec): Promise<Runner> {
  const { device, lib } = context;
  const param = storageBuffer(device, 'param', spec.n, PARAM_SEED);
  const grad = storageBuffer(device, 'grad', spec.n, GRAD_SEED);
  const params = [{ param, grad, length: spec.n }];
  const optimizer =
    spec.kind === 'adam-amsgrad'
      ? await lib.createAdam(device, params, { lr: BENCH_LR, eps: BENCH_EPS, amsgrad: true }, spec.execution)
      : await lib.createRanger(
          device,
          params,
          { lr: BENCH_LR, lookahead: { k: spec.kind === 'ranger-sync' ? 1 : 2 ** 30, alpha: 0.5 } },
          spec.execution,
        );
  const sync = spec.kind === 'ranger-sync';
  // Ranger's betas take the momentum branch for its first 5 steps: time adaptive steps only.
  for (let t = 0; t < ADAPTIVE_FROM_STEP; t++) optimizer.stepAndSubmit();
  await device.queue.onSubmittedWorkDone();
  const bytesPerParam =
    spec.kind === 'adam-amsgrad'
      ? AMSGRAD_BYTES_PER_PARAM
      : sync
        ? LOOKAHEAD_SYNC_BYTES_PER_PARAM
        : ADAM_BYTES_PER_PARAM;
  return gpuRunner(context, {
    bytesPerStep: spec.n * bytesPerParam,
    dispatchesPerStep: optimizer.dispatchesPerStep,
    recordStep: (encoder) => optimizer.step(encoder),
    async verify() {
      const { branch, sync: synced } = optimizer.lastStep;
      if (branch !== 'adaptive' || synced !== (spec.kind === 'ranger-sync')) {
        throw new Error(`${spec.workload}: ran the ${branch} branch, sync ${synced}`);
      }
      await assertFinite(device, param, spec.workload);
    },
    dispose() {
      optimizer.destroy();
      param.destroy();
      grad.destroy();
    },
  });
}

/** Builds the runner for a workload; tfjs is browser-only and is handed in by the page. */
export async function createRunner(
  context: GpuContext,
  spec: WorkloadSpec,
  tfjs?: (spec: WorkloadSpec) => Promise<Runner>,
): Promise<Runner> {
  switch (spec.kind) {
    case 'copy':
    case 'sevenStreams':
      return streamRunner(context, spec);
    case 'fused':
      return fusedRunner(context, spec, [spec.n]);
    case 'multi':
      return fusedRunner(context, spec, splitLengths(spec.n, spec.tensors));
    case 'adam-amsgrad':
    case 'ranger-sync':
    case 'ranger-plain':
      return familyRunner(context, spec);
    case 'unfused':
      return unfusedRunner(context, spec);
    case 'js':
      return jsRunner(spec);
    case 'tfjs':
    case 'tfjs-radam':
    case 'tfjs-fit-adam':
    case 'tfjs-fit-radam':
      if (!tfjs) throw new Error('tfjs workloads run only in the browser');
      return tfjs(spec);
  }
}
