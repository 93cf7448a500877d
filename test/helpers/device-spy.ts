// Counts the GPU objects a piece of code creates, by wrapping the device's create* methods while it runs: the
// tests that promise "step() creates nothing" in a warm loop all measure it this way.

const CREATE_METHODS = [
  'createBuffer',
  'createBindGroup',
  'createBindGroupLayout',
  'createPipelineLayout',
  'createComputePipeline',
  'createComputePipelineAsync',
  'createShaderModule',
  'createQuerySet',
  'createTexture',
] as const;

/** Runs `body` and returns how many objects of each kind it created on `device` (kinds with none are absent). */
export function countGpuObjectsCreated(device: GPUDevice, body: () => void): Record<string, number> {
  const counts = new Map<string, number>();
  const methods = device as unknown as Record<string, unknown>;
  const originals = CREATE_METHODS.map((name) => [name, device[name]] as const);
  for (const name of CREATE_METHODS) {
    const original = device[name] as (...args: unknown[]) => unknown;
    methods[name] = (...args: unknown[]) => {
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return original.apply(device, args);
    };
  }
  try {
    body();
  } finally {
    for (const [name, original] of originals) methods[name] = original;
  }
  return Object.fromEntries(counts);
}
