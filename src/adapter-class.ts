// Whether the device runs on a CPU (a software Vulkan or D3D driver) or a GPU: the two want opposite tile shapes
// and dispatch splits (see TILE_SHAPES in contract.ts), and WebGPU tells them apart only through adapterInfo.

export type AdapterClass = 'cpu' | 'gpu';

const SOFTWARE_DRIVERS = /swiftshader|llvmpipe|lavapipe|softpipe|\bwarp\b|basic render/i;

/** 'cpu' for SwiftShader, llvmpipe/lavapipe, WARP and fallback adapters; 'gpu' otherwise, or when unknown. */
export function adapterClass(info: Partial<GPUAdapterInfo> | undefined): AdapterClass {
  if (!info) return 'gpu';
  if (info.isFallbackAdapter === true) return 'cpu';
  const names = [info.vendor, info.architecture, info.device, info.description];
  return names.some((name) => typeof name === 'string' && SOFTWARE_DRIVERS.test(name)) ? 'cpu' : 'gpu';
}

/** The class of a device's adapter; devices of implementations without `adapterInfo` count as GPUs. */
export function deviceAdapterClass(device: GPUDevice): AdapterClass {
  // Older implementations (and test doubles) lack adapterInfo; a getter that throws counts as absent too.
  let info: GPUAdapterInfo | undefined;
  try {
    info = (device as { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  } catch {
    info = undefined;
  }
  return adapterClass(info);
}
