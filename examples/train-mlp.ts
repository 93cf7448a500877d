// A small MLP trained on WebGPU with the fused RAdam step: four tensors packed by createParameterArena into one
// parameter buffer and one gradient buffer, two param groups (weight decay on weights only), a warmup + cosine
// schedule and the non-finite-gradient skip. Runs in Node on Dawn (`npm run example`, which bundles it with Vite
// and picks the GPU, or SwiftShader on a machine without one); `webgpu-radam` is imported as a user would.
import { create, globals } from 'webgpu';
import * as api from 'webgpu-radam';
import { trainMlp } from './mlp-training';

// Dawn for Node does not define GPUBufferUsage, GPUShaderStage, ... on globalThis; browsers do.
Object.assign(globalThis, globals);

// Keep the object create() returns referenced for the whole program: if it is garbage-collected while the device
// lives, Dawn crashes the process natively (during a readback or the next submit).
const gpu = create([]);
const adapter = await gpu.requestAdapter();
if (!adapter) {
  throw new Error(
    'No WebGPU adapter: on a machine without a GPU, install chromium + libvulkan1 and set VK_ICD_FILENAMES ' +
      '(see the README: Install and get a device)',
  );
}
const device = await adapter.requestDevice();
const { vendor, architecture, description, isFallbackAdapter } = adapter.info;
console.log(
  `adapter: ${[vendor, architecture, description].filter(Boolean).join(' / ')}${isFallbackAdapter ? ' (CPU)' : ''}`,
);

// Optional: `--seed N` for the initial weights, `--bf16` for bf16 optimizer moments (stateFormat: 'bf16').
const argument = (flag: string) => process.argv[process.argv.indexOf(flag) + 1];
const seed = process.argv.includes('--seed') ? Number(argument('--seed')) : 7;
const stateFormat = process.argv.includes('--bf16') ? 'bf16' : 'f32';
const result = await trainMlp(device, api, { seed, stateFormat, log: (line) => console.log(line) });
const { firstLoss: first, lastLoss: last } = result;
console.log(
  `done: loss ${first.toFixed(4)} -> ${last.toFixed(4)}; ${result.completedSteps} steps taken, ` +
    `${result.dispatchesPerStep} dispatches per step, ${result.hostMsPerStep.toFixed(3)} ms host time per step`,
);
device.destroy();
if (!(last < first * 0.5)) {
  console.error('the loss did not fall by half: something is wrong');
  process.exit(1);
}
