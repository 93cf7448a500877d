export {
  BufferBindingError,
  OptimizerConfigError,
  OptimizerStateError,
  ShaderCompilationError,
  WebGPURadamError,
} from './errors';
export { foldWorkgroups } from './grid';
export {
  createStreamKernel,
  type StreamKernel,
  type StreamKernelName,
  type StreamKernelOptions,
} from './streams';
