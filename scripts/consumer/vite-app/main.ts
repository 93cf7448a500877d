// A browser app importing the packed package by its name; scripts/consumer-smoke.sh builds it with Vite and
// checks that the kernels' WGSL is in the bundle.
import { createRAdam } from 'webgpu-radam';

const status = document.getElementById('status')!;
const adapter = await navigator.gpu?.requestAdapter();
if (!adapter) {
  status.textContent = 'No WebGPU here: use a browser with WebGPU, on https:// or localhost.';
} else {
  const device = await adapter.requestDevice();
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const param = device.createBuffer({ size: 4096, usage });
  const grad = device.createBuffer({ size: 4096, usage });
  const radam = await createRAdam(device, [{ param, grad, length: 1024 }], { lr: 1e-3 });
  radam.stepAndSubmit();
  status.textContent = `one RAdam step, branch ${radam.lastStep.branch}`;
}
