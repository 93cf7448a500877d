import { ShaderCompilationError } from './errors';

// Keyed by device through a WeakMap so that a destroyed or lost device takes its pipelines with it.
const pipelinesByDevice = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();
const layoutsByDevice = new WeakMap<GPUDevice, Map<string, GPUBindGroupLayout>>();
const modulesByDevice = new WeakMap<GPUDevice, Map<string, GPUShaderModule>>();

function cached<T>(
  table: WeakMap<GPUDevice, Map<string, T>>,
  device: GPUDevice,
  key: string,
  make: () => T,
): T {
  let byKey = table.get(device);
  if (!byKey) {
    byKey = new Map();
    table.set(device, byKey);
  }
  let value = byKey.get(key);
  if (value === undefined) {
    value = make();
    byKey.set(key, value);
  }
  return value;
}

export function getBindGroupLayout(
  device: GPUDevice,
  key: string,
  entries: GPUBindGroupLayoutEntry[],
): GPUBindGroupLayout {
  return cached(layoutsByDevice, device, key, () =>
    device.createBindGroupLayout({ label: `webgpu-radam ${key} layout`, entries }),
  );
}

export interface PipelineSpec {
  /** Everything that changes the compiled code, e.g. `optimizer|width=4|wg=256|entry=step`. */
  key: string;
  code: string;
  entryPoint: string;
  layout: GPUBindGroupLayout;
  constants: Record<string, number>;
}

export function getComputePipeline(device: GPUDevice, spec: PipelineSpec): GPUComputePipeline {
  return cached(pipelinesByDevice, device, spec.key, () => {
    const module = cached(modulesByDevice, device, spec.code, () =>
      device.createShaderModule({ label: `webgpu-radam ${spec.key} module`, code: spec.code }),
    );
    return device.createComputePipeline({
      label: `webgpu-radam ${spec.key} pipeline`,
      layout: device.createPipelineLayout({ bindGroupLayouts: [spec.layout] }),
      compute: { module, entryPoint: spec.entryPoint, constants: spec.constants },
    });
  });
}

/**
 * Compiles a pipeline inside a validation error scope and rejects with the compiler's message when it fails.
 * Error scopes (not getCompilationInfo) because wgpu/naga reports compile errors only through them.
 * Meant for creation time and debug mode, never for the per-step path.
 */
export async function checkedComputePipeline(
  device: GPUDevice,
  spec: PipelineSpec,
): Promise<GPUComputePipeline> {
  device.pushErrorScope('validation');
  let pipeline: GPUComputePipeline;
  try {
    pipeline = getComputePipeline(device, spec);
  } catch (thrown) {
    // Never leave the scope pushed: it would swallow the caller's validation errors from then on.
    device.popErrorScope().catch(() => null);
    throw thrown;
  }
  const error = await device.popErrorScope();
  if (error) {
    pipelinesByDevice.get(device)?.delete(spec.key);
    modulesByDevice.get(device)?.delete(spec.code);
    throw new ShaderCompilationError(`WGSL for ${spec.key} failed to compile or validate: ${error.message}`);
  }
  return pipeline;
}
