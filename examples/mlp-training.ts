// The MLP of train-mlp.ts as a function, so that a test can train it with other settings (the init seed, the
// optimizer's stateFormat) on the library's sources while the example runs the published entry point.
import type * as Library from 'webgpu-radam';
// The model's own kernels (a Vite `?raw` import; in plain Node, read the file with fs.readFileSync instead).
import mlpWgsl from './mlp.wgsl?raw';

export type MlpApi = Pick<typeof Library, 'createParameterArena' | 'createRAdam' | 'warmupCosine'>;

export interface MlpOptions {
  /** Seeds the initial weights (the data set stays the same). */
  seed: number;
  stateFormat: 'f32' | 'bf16';
  /** Progress lines; silent when left out. */
  log?: (line: string) => void;
}

export interface MlpResult {
  firstLoss: number;
  lastLoss: number;
  completedSteps: number;
  dispatchesPerStep: number;
  hostMsPerStep: number;
}

export const INPUTS = 2;
const HIDDEN = 32;
const CLASSES = 3;
const PER_CLASS = 100;
export const STEPS = 400;

function spiral(seed: number): { points: Float32Array<ArrayBuffer>; labels: Uint32Array<ArrayBuffer> } {
  let state = seed;
  const random = () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 4294967296;
  };
  const points = new Float32Array(PER_CLASS * CLASSES * INPUTS);
  const labels = new Uint32Array(PER_CLASS * CLASSES);
  for (let c = 0; c < CLASSES; c++) {
    for (let k = 0; k < PER_CLASS; k++) {
      const n = c * PER_CLASS + k;
      const radius = k / PER_CLASS;
      const angle = (c * 2 * Math.PI) / CLASSES + radius * 4 + (random() - 0.5) * 0.4;
      points.set([radius * Math.cos(angle), radius * Math.sin(angle)], n * INPUTS);
      labels[n] = c;
    }
  }
  return { points, labels };
}

export async function trainMlp(device: GPUDevice, api: MlpApi, options: MlpOptions): Promise<MlpResult> {
  const log = options.log ?? (() => {});
  // One parameter buffer and one gradient buffer for the whole model; each tensor starts at a binding-aligned offset.
  const arena = api.createParameterArena(device, [
    { name: 'fc1.weight', length: HIDDEN * INPUTS },
    { name: 'fc1.bias', length: HIDDEN },
    { name: 'fc2.weight', length: CLASSES * HIDDEN },
    { name: 'fc2.bias', length: CLASSES },
  ]);
  const [w1, b1, w2, b2] = arena.specs;
  const total = arena.param.size / 4;
  let seed = options.seed;
  const initial = new Float32Array(total).map(() => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return (seed / 4294967296 - 0.5) * 1.2;
  });
  device.queue.writeBuffer(arena.param, 0, initial);

  const radam = await api.createRAdam(
    device,
    [
      { params: [w1, w2], weightDecay: 1e-3, decoupledWeightDecay: true },
      { params: [b1, b2], weightDecay: 0 },
    ],
    {
      lr: 2e-2,
      schedule: api.warmupCosine(20, STEPS, 0.05),
      skipNonFinite: true,
      stateFormat: options.stateFormat,
    },
  );

  const { points, labels } = spiral(1);
  const samples = labels.length;
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
  const storage = (data: ArrayBufferView<ArrayBuffer> | number) => {
    const size = typeof data === 'number' ? data : data.byteLength;
    const buffer = device.createBuffer({ size, usage });
    if (typeof data !== 'number') device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  };
  const shape = device.createBuffer({ size: 32, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(
    shape,
    0,
    // The kernels index the arena in elements.
    Uint32Array.of(samples, INPUTS, HIDDEN, CLASSES, ...arena.offsets.map((bytes) => bytes / 4)),
  );
  const losses = storage(samples * 4);
  const module = device.createShaderModule({ code: mlpWgsl });
  const layout = device.createBindGroupLayout({
    entries: [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      ...[1, 2, 3].map((binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: 'read-only-storage' as const },
      })),
      ...[4, 5, 6, 7].map((binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: 'storage' as const },
      })),
    ],
  });
  const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
  const forward = device.createComputePipeline({
    layout: pipelineLayout,
    compute: { module, entryPoint: 'forward' },
  });
  const backward = device.createComputePipeline({
    layout: pipelineLayout,
    compute: { module, entryPoint: 'parameterGradients' },
  });
  const bindGroup = device.createBindGroup({
    layout,
    entries: [
      shape,
      storage(points),
      storage(labels),
      arena.param,
      storage(samples * HIDDEN * 4),
      storage(samples * CLASSES * 4),
      losses,
      arena.grad,
    ].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const readback = device.createBuffer({
    size: samples * 4,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });

  async function meanLoss(): Promise<number> {
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(losses, 0, readback, 0, samples * 4);
    device.queue.submit([encoder.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const values = new Float32Array(readback.getMappedRange().slice(0));
    readback.unmap();
    return values.reduce((sum, value) => sum + value, 0) / samples;
  }

  log(
    `RAdam: ${radam.tensorCount} tensors in ${radam.paramGroups.length} groups, ${radam.dispatchesPerStep} dispatches per step`,
  );
  let first = Number.NaN;
  let last = Number.NaN;
  let hostMs = 0;
  for (let step = 1; step <= STEPS; step++) {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setBindGroup(0, bindGroup);
    pass.setPipeline(forward);
    pass.dispatchWorkgroups(Math.ceil(samples / 64));
    pass.setPipeline(backward);
    pass.dispatchWorkgroups(Math.ceil(total / 64));
    pass.end();
    const started = performance.now();
    radam.step(encoder);
    hostMs += performance.now() - started;
    device.queue.submit([encoder.finish()]);
    if (step === 1 || step % 50 === 0) {
      // The loss buffer holds the forward pass of this step, i.e. the loss before this step's update.
      last = await meanLoss();
      if (step === 1) first = last;
      const { branch, lr } = radam.lastStep;
      log(
        `step ${String(step).padStart(3)}  loss ${last.toFixed(4)}  lr ${lr.toExponential(2)}  branch ${branch}`,
      );
    }
  }
  const stats = await radam.readGradStats();
  const result = {
    firstLoss: first,
    lastLoss: last,
    completedSteps: stats.completedSteps,
    dispatchesPerStep: radam.dispatchesPerStep,
    hostMsPerStep: hostMs / STEPS,
  };
  radam.destroy();
  arena.destroy();
  return result;
}
