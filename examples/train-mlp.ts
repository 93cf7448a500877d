// A small MLP trained on WebGPU with the fused RAdam step: four tensors packed in one buffer, two param groups
// (weight decay on weights only), a warmup + cosine schedule and the non-finite-gradient skip. Runs in Node on
// Dawn (`npm run example`): on a machine without a GPU, Dawn runs on the SwiftShader CPU driver.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, globals } from 'webgpu';
import { createRAdam, type ParamSpec, warmupCosine } from '../src/index';
import mlpWgsl from './mlp.wgsl?raw';

Object.assign(globalThis, globals);
// Read by the Vulkan loader when the GPU instance is created below; the loader warns without a runtime dir.
process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
process.env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'webgpu-radam-'));

const INPUTS = 2;
const HIDDEN = 32;
const CLASSES = 3;
const PER_CLASS = 100;
const STEPS = 400;

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

// The GPU object must outlive the device (see WEBGPU-ON-CPU notes: Dawn crashes if it is collected).
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter)
  throw new Error('No WebGPU adapter: install chromium + libvulkan1 (see README) or run on a GPU');
const device = await adapter.requestDevice();
console.log(`adapter: ${adapter.info.vendor} / ${adapter.info.architecture} / ${adapter.info.description}`);

// Pack the four tensors into one parameter buffer (and one gradient buffer) at 256-byte boundaries.
const lengths = { w1: HIDDEN * INPUTS, b1: HIDDEN, w2: CLASSES * HIDDEN, b2: CLASSES };
const offsets: Record<keyof typeof lengths, number> = { w1: 0, b1: 0, w2: 0, b2: 0 };
let cursor = 0;
for (const name of Object.keys(lengths) as (keyof typeof lengths)[]) {
  offsets[name] = cursor;
  cursor += Math.ceil(lengths[name] / 64) * 64;
}
const total = cursor;
const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC;
const paramBuffer = device.createBuffer({ size: total * 4, usage });
const gradBuffer = device.createBuffer({ size: total * 4, usage });
let seed = 7;
const initial = new Float32Array(total).map(() => {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return (seed / 4294967296 - 0.5) * 1.2;
});
device.queue.writeBuffer(paramBuffer, 0, initial);
const spec = (name: keyof typeof lengths): ParamSpec => ({
  param: paramBuffer,
  grad: gradBuffer,
  length: lengths[name],
  paramOffset: offsets[name] * 4,
  gradOffset: offsets[name] * 4,
  name,
});

const radam = await createRAdam(
  device,
  [
    { params: [spec('w1'), spec('w2')], weightDecay: 1e-3, decoupledWeightDecay: true },
    { params: [spec('b1'), spec('b2')], weightDecay: 0 },
  ],
  { lr: 2e-2, schedule: warmupCosine(20, STEPS, 0.05), skipNonFinite: true },
);

const { points, labels } = spiral(1);
const samples = labels.length;
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
  Uint32Array.of(samples, INPUTS, HIDDEN, CLASSES, offsets.w1, offsets.b1, offsets.w2, offsets.b2),
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
    paramBuffer,
    storage(samples * HIDDEN * 4),
    storage(samples * CLASSES * 4),
    losses,
    gradBuffer,
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

console.log(
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
    console.log(
      `step ${String(step).padStart(3)}  loss ${last.toFixed(4)}  lr ${lr.toExponential(2)}  branch ${branch}`,
    );
  }
}
const stats = await radam.readGradStats();
console.log(
  `done: loss ${first.toFixed(4)} -> ${last.toFixed(4)}; ${stats.completedSteps} steps taken, ` +
    `${radam.dispatchesPerStep} dispatches per step, ${(hostMs / STEPS).toFixed(3)} ms host time per step`,
);
radam.destroy();
device.destroy();
if (!(last < first * 0.5)) {
  console.error('the loss did not fall by half: something is wrong');
  process.exit(1);
}
