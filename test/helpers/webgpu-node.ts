import './install-globals';
import { create } from 'webgpu';

const INSTALL_HINT =
  'No WebGPU adapter found. Tests run real WGSL on the GPU, or on a CPU Vulkan driver where there is none: ' +
  'install it with `sudo apt-get install -y --no-install-recommends chromium libvulkan1` (or `npm run setup` ' +
  `as root). Adapter chosen by scripts/webgpu-adapter.mjs: ${process.env.WEBGPU_RADAM_ADAPTER ?? 'none'}, ` +
  `VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? 'unset'}.`;

// The GPU object must stay referenced while any device lives: if it is garbage-collected, Dawn crashes the
// process on the next queue.submit.
let gpuInstance: GPU | undefined;

export function nodeGpu(): GPU {
  gpuInstance ??= create([]);
  return gpuInstance;
}

export async function requestNodeAdapter(): Promise<GPUAdapter> {
  const adapter = await nodeGpu().requestAdapter();
  if (!adapter) throw new Error(INSTALL_HINT);
  return adapter;
}

export function describeAdapter(adapter: GPUAdapter): string {
  // adapter.info exposes getters only, so JSON.stringify(adapter.info) would print "{}".
  const { vendor, architecture, description, device } = adapter.info;
  const parts = [vendor, architecture, device, description].filter((s) => s && s.length > 0);
  return `${parts.join(' / ')}${adapter.info.isFallbackAdapter ? ' (fallback adapter)' : ''}`;
}

export interface TestDeviceOptions {
  requiredLimits?: Record<string, number>;
  requiredFeatures?: GPUFeatureName[];
}

export async function requestTestDevice(options: TestDeviceOptions = {}): Promise<GPUDevice> {
  const adapter = await requestNodeAdapter();
  const device = await adapter.requestDevice({
    requiredLimits: options.requiredLimits ?? {},
    requiredFeatures: options.requiredFeatures ?? [],
  });
  device.addEventListener('uncapturederror', (event) => {
    // Surfacing these makes a WebGPU validation error fail loudly instead of leaving a silent zero buffer.
    const message = (event as GPUUncapturedErrorEvent).error.message;
    console.error(`[webgpu uncaptured error] ${message}`);
  });
  return device;
}
