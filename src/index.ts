export { createAdam, createAdamW, createRAdam, createSGD } from './create';
export {
  BufferBindingError,
  OptimizerConfigError,
  OptimizerStateError,
  ShaderCompilationError,
  WebGPURadamError,
} from './errors';
export { foldWorkgroups } from './grid';
export type { ExecutionOptions, FusedOptimizer, ParamSpec } from './optimizer';
export {
  type AdamOptions,
  RADAM_PRESETS,
  type RAdamOptions,
  type RAdamPreset,
  type SgdOptions,
} from './options';
export type { Branch, StepInfo } from './step-scalars';
export {
  createStreamKernel,
  type StreamKernel,
  type StreamKernelName,
  type StreamKernelOptions,
} from './streams';
