// A consumer's program, typechecked and run against the packed package by scripts/consumer-smoke.sh (outside the
// repository, strict settings, moduleResolution nodenext and bundler): a few RAdam steps on Dawn, compared with a
// float64 RAdam loop written here, plus a typed error.
import { create, globals } from 'webgpu';
import { createParameterArena, createRAdam, OptimizerConfigError } from 'webgpu-radam';

Object.assign(globalThis, globals);
// Referenced for the whole program: Dawn crashes natively if this object is collected while the device lives.
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) throw new Error('consumer: no WebGPU adapter');
const device = await adapter.requestDevice();

const lengths = [1000, 3] as const;
const arena = createParameterArena(device, [
  { name: 'w', length: lengths[0] },
  { name: 'b', length: lengths[1] },
]);
const [w, b] = arena.specs;
const lr = 1e-2;
const [beta1, beta2] = [0.9, 0.999];
const eps = 1e-8;
const weightDecay = 1e-2;
const radam = await createRAdam(device, [w, b], { lr, betas: [beta1, beta2], eps, weightDecay });

const initial = lengths.map((length, k) => Array.from({ length }, (_, i) => Math.sin(i + 10 * k)));
const gradient = (t: number, k: number, i: number) => Math.cos(0.37 * i * t + k) * (1 + (i % 7));
initial.forEach((values, k) => {
  device.queue.writeBuffer(arena.param, arena.offsets[k] ?? 0, new Float32Array(values));
});

// torch.optim.RAdam (L2 weight decay, eps on the uncorrected sqrt(v), adaptive when rho_t > 5), in float64.
const params = initial.map((values) => values.map((v) => Math.fround(v)));
const m = lengths.map((length) => new Float64Array(length));
const v = lengths.map((length) => new Float64Array(length));
const rhoInf = 2 / (1 - beta2) - 1;
const STEPS = 12;
for (let t = 1; t <= STEPS; t++) {
  const grads = lengths.map((length, k) => Float32Array.from({ length }, (_, i) => gradient(t, k, i)));
  grads.forEach((g, k) => {
    device.queue.writeBuffer(arena.grad, arena.offsets[k] ?? 0, g);
  });
  radam.stepAndSubmit();
  const bc1 = 1 - beta1 ** t;
  const bc2 = 1 - beta2 ** t;
  const rhoT = rhoInf - (2 * t * beta2 ** t) / bc2;
  const expected = rhoT > 5 ? 'adaptive' : 'momentum';
  if (radam.lastStep.branch !== expected) {
    throw new Error(`consumer: step ${t} took ${radam.lastStep.branch}, expected ${expected}`);
  }
  const rect = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
  params.forEach((p, k) => {
    const mk = m[k]!;
    const vk = v[k]!;
    const gk = grads[k]!;
    for (let i = 0; i < p.length; i++) {
      const g = gk[i]! + weightDecay * p[i]!;
      mk[i] = beta1 * mk[i]! + (1 - beta1) * g;
      vk[i] = beta2 * vk[i]! + (1 - beta2) * g * g;
      const update =
        rhoT > 5
          ? ((lr * mk[i]!) / bc1) * rect * (Math.sqrt(bc2) / (Math.sqrt(vk[i]!) + eps))
          : (lr * mk[i]!) / bc1;
      p[i] = p[i]! - update;
    }
  });
}

const readback = device.createBuffer({
  size: arena.param.size,
  usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
});
const encoder = device.createCommandEncoder();
encoder.copyBufferToBuffer(arena.param, 0, readback, 0, arena.param.size);
device.queue.submit([encoder.finish()]);
await readback.mapAsync(GPUMapMode.READ);
const gpuParams = new Float32Array(readback.getMappedRange().slice(0));
readback.unmap();

let worst = 0;
params.forEach((p, k) => {
  const start = (arena.offsets[k] ?? 0) / 4;
  for (let i = 0; i < p.length; i++) {
    const error = Math.abs(gpuParams[start + i]! - p[i]!) / (1e-6 + Math.abs(p[i]!));
    worst = Number.isNaN(error) ? Number.POSITIVE_INFINITY : Math.max(worst, error);
  }
});
if (!(worst < 1e-4)) throw new Error(`consumer: params differ from float64 RAdam by ${worst} (relative)`);

let typedError = false;
try {
  await createRAdam(device, [w], { lr: -1 });
} catch (error) {
  typedError = error instanceof OptimizerConfigError && /lr/.test(error.message);
}
if (!typedError) throw new Error('consumer: lr -1 was not rejected with an OptimizerConfigError naming lr');

radam.destroy();
arena.destroy();
device.destroy();
console.log(
  `consumer: ${STEPS} RAdam steps on ${adapter.info.vendor} / ${adapter.info.architecture} match float64 ` +
    `(max relative error ${worst.toExponential(2)}); lr -1 rejected with OptimizerConfigError`,
);
