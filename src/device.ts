import { describeValue, OptimizerConfigError, OptimizerStateError } from './errors';

/** Appended to every "no usable device" error: the two ways people get a GPUDevice. */
export const HOW_TO_GET_A_DEVICE =
  'To get a GPUDevice in a browser (WebGPU needs a secure context: https or localhost): ' +
  '`const adapter = await navigator.gpu.requestAdapter(); const device = await adapter.requestDevice();` ' +
  '(navigator.gpu is undefined where WebGPU is unavailable, and requestAdapter() resolves to null without a ' +
  "usable GPU). In Node: `npm i webgpu`, then `import { create, globals } from 'webgpu'; " +
  'Object.assign(globalThis, globals); const gpu = create([]); ' +
  'const device = await (await gpu.requestAdapter()).requestDevice();` and keep `gpu` referenced for as long ' +
  'as the device is in use.';

// What this package calls on a device: anything lacking one of these is not a GPUDevice it can use.
const DEVICE_METHODS = [
  'createBuffer',
  'createBindGroup',
  'createBindGroupLayout',
  'createPipelineLayout',
  'createShaderModule',
  'createComputePipeline',
  'createCommandEncoder',
  'pushErrorScope',
  'popErrorScope',
] as const;
const QUEUE_METHODS = ['writeBuffer', 'submit'] as const;
// The WebGPU enums are globals in browsers; Node's `webgpu` package exports them in `globals` instead.
const WEBGPU_GLOBALS = ['GPUBufferUsage', 'GPUShaderStage', 'GPUMapMode'] as const;

function whyUnusable(device: unknown): string | undefined {
  const missingGlobals = WEBGPU_GLOBALS.filter((name) => {
    const value: unknown = Reflect.get(globalThis, name);
    // A namespace object in browsers; Dawn for Node exports classes with static members.
    return (typeof value !== 'object' && typeof value !== 'function') || value === null;
  });
  if (missingGlobals.length > 0) {
    return (
      `the WebGPU globals ${missingGlobals.join(', ')} are not defined (in Node, ` +
      "`Object.assign(globalThis, globals)` with `globals` from the 'webgpu' package defines them)"
    );
  }
  if (typeof device !== 'object' || device === null)
    return `got ${describeValue(device)} instead of a GPUDevice`;
  const record = device as Record<string, unknown>;
  const limits = record.limits;
  if (typeof limits !== 'object' || limits === null) return `got ${describeValue(device)} without limits`;
  const missing: string[] = DEVICE_METHODS.filter((name) => typeof record[name] !== 'function');
  const queue = record.queue as Record<string, unknown> | null | undefined;
  if (typeof queue !== 'object' || queue === null) missing.push('queue');
  else
    missing.push(
      ...QUEUE_METHODS.filter((name) => typeof queue[name] !== 'function').map((n) => `queue.${n}`),
    );
  const lost = record.lost as { then?: unknown } | null | undefined;
  if (typeof lost !== 'object' || lost === null || typeof lost.then !== 'function') missing.push('lost');
  if (missing.length > 0) return `got ${describeValue(device)}, which lacks ${missing.join(', ')}`;
  return undefined;
}

/** Throws an OptimizerConfigError saying how to get a device when `device` cannot be used as a GPUDevice. */
export function assertDevice(device: unknown, caller: string): asserts device is GPUDevice {
  let why: string | undefined;
  try {
    why = whyUnusable(device);
  } catch (error) {
    why = `reading it threw (${error instanceof Error ? error.message : describeValue(error)})`;
  }
  if (why !== undefined) {
    throw new OptimizerConfigError(
      'device',
      `${caller}: no usable GPUDevice: ${why}. ${HOW_TO_GET_A_DEVICE}`,
    );
  }
}

/**
 * Follows `device.lost` from now on. Creation awaits the GPU several times, so a device that is already lost
 * (destroyed, or its adapter gone) is seen as lost before creation returns.
 */
export function watchDeviceLoss(device: GPUDevice): () => GPUDeviceLostInfo | undefined {
  let info: GPUDeviceLostInfo | undefined;
  try {
    device.lost.then(
      (lostInfo) => {
        info = lostInfo;
      },
      () => undefined,
    );
  } catch {
    // A `lost` whose then() throws cannot report a loss; creation itself then fails or succeeds on its own.
  }
  return () => info;
}

export function deviceLostError(
  caller: string,
  info: GPUDeviceLostInfo,
  cause?: unknown,
): OptimizerStateError {
  return new OptimizerStateError(
    `${caller}: the GPUDevice is lost (${info.reason}: ${info.message}); request a new one. ${HOW_TO_GET_A_DEVICE}`,
    cause === undefined ? undefined : { cause },
  );
}
