// The only module that reaches into @tensorflow/tfjs-backend-webgpu's internals: tfjs exposes no public way to
// write a variable in place, so every private field the fused stepper relies on is looked up here (tested with
// 4.22.0), and a missing one throws an OptimizerStateError naming it instead of stepping wrongly:
//   backend.device                          the GPUDevice tfjs runs on
//   backend.tensorMap.get(dataId)           { resource: GPUBuffer, values, refCount } of a tensor's data
//   backend.uploadToGPU(dataId)             moves data tfjs still keeps on the CPU to a GPU buffer
//   backend.ensureCommandEncoderReady(), endComputePassEncoder(), submitQueue()
//                                           submit tfjs's pending work (the gradients) before the step
// After a step, `values` (tfjs's CPU copy of a tensor read before) is cleared on every written tensor, so tfjs
// reads the new values from the GPU.
import { findBackend, mul, type Tensor, tidy, type Variable } from '@tensorflow/tfjs-core';
import { describeValue, OptimizerStateError } from '../errors';

/** The tfjs versions this stepper was tested with; other versions work as long as the internals exist. */
export const TESTED_TFJS_VERSIONS = ['4.22.0'] as const;

interface TensorData {
  resource?: unknown;
  values?: unknown;
  refCount: number;
}

/** The parts of tfjs-backend-webgpu's WebGPUBackend this stepper uses (see the list above). */
export interface WebGPUBackendInternals {
  device: GPUDevice;
  tensorMap: { get(dataId: object): TensorData | undefined };
  uploadToGPU(dataId: object): void;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

const METHODS = ['uploadToGPU', 'ensureCommandEncoderReady', 'endComputePassEncoder', 'submitQueue'] as const;

/** The webgpu backend's internals, or a typed error naming the first one missing. */
export function webgpuInternals(): WebGPUBackendInternals {
  const backend = findBackend('webgpu') as unknown as Partial<WebGPUBackendInternals> | null;
  const missing = (what: string): never => {
    throw new OptimizerStateError(
      `webgpu-radam/tfjs: the tfjs webgpu backend lacks ${what}, which the fused stepper uses (tested with ` +
        `@tensorflow/tfjs-backend-webgpu ${TESTED_TFJS_VERSIONS.join(', ')}); nothing was changed. Use another ` +
        "tfjs version, or another backend (tf.setBackend('webgl')) where the optimizer steps with tfjs ops",
    );
  };
  if (!backend) return missing('a registered instance (tf.findBackend("webgpu"))');
  const device = backend.device;
  if (typeof device !== 'object' || device === null || typeof device.createBuffer !== 'function') {
    missing('backend.device (a GPUDevice)');
  }
  if (typeof backend.tensorMap?.get !== 'function') missing('backend.tensorMap.get()');
  for (const method of METHODS) if (typeof backend[method] !== 'function') missing(`backend.${method}()`);
  return backend as WebGPUBackendInternals;
}

const dataIdOf = (tensor: Tensor): object => (tensor as unknown as { dataId: object }).dataId;

/** The GPUBuffer holding a tensor's data now, moved to the GPU first when tfjs still keeps it on the CPU. */
export function bufferOf(backend: WebGPUBackendInternals, tensor: Tensor, what: string): GPUBuffer {
  const dataId = dataIdOf(tensor);
  let data = backend.tensorMap.get(dataId);
  if (data && data.resource == null) {
    backend.uploadToGPU(dataId);
    data = backend.tensorMap.get(dataId);
  }
  const resource = data?.resource;
  if (!(typeof resource === 'object' && resource !== null && 'usage' in resource && 'size' in resource)) {
    throw new OptimizerStateError(
      `webgpu-radam/tfjs: ${what} is not held in a GPUBuffer on the webgpu backend (${describeValue(resource)}); nothing was changed`,
    );
  }
  return resource as GPUBuffer;
}

/**
 * A variable written in place must own its data: tfjs shares one buffer between a variable and the tensor it was
 * created from or last assigned (until one of them goes), and that tensor must keep its values.
 */
export function ownData(backend: WebGPUBackendInternals, variable: Variable): void {
  const data = backend.tensorMap.get(dataIdOf(variable));
  if (data && data.refCount > 1) variable.assign(tidy(() => mul(variable, 1)));
}

/** Makes tfjs read a tensor written in place from the GPU, not from its CPU copy of older values. */
export function dropCpuCopy(backend: WebGPUBackendInternals, tensor: Tensor): void {
  const data = backend.tensorMap.get(dataIdOf(tensor));
  if (data && data.values != null) data.values = null;
}

/** Submits tfjs's recorded work (the gradients, uploads), so that work submitted next runs after it. */
export function flushTfjs(backend: WebGPUBackendInternals): void {
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.submitQueue();
}
