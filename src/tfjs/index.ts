// webgpu-radam/tfjs: RAdam, AdamW, Adam and SGD as TensorFlow.js optimizers (tf.Optimizer subclasses), with
// the semantics and the state format of the package's WebGPU optimizers. Needs @tensorflow/tfjs-core (an
// optional peer dependency of the package); the main entry never imports it.
export {
  BufferBindingError,
  OptimizerConfigError,
  OptimizerStateError,
  WebGPURadamError,
} from '../errors';
export { RADAM_PRESETS, type RAdamPreset } from '../options';
export {
  deserializeState,
  type OptimizerState,
  type StateHeader,
  serializeState,
  type TensorStateHeader,
} from '../state';
export { fromTfjsWeights, toTfjsWeights } from '../state-tfjs';
export type { Branch, StepInfo } from '../step-scalars';
export {
  AdamOptimizer,
  AdamWOptimizer,
  adam,
  adamw,
  RAdamOptimizer,
  radam,
  SGDOptimizer,
  sgd,
} from './algorithms';
export { WebGPURadamTfjsOptimizer } from './optimizer';
export type { TfjsAdamOptions, TfjsRAdamOptions, TfjsSgdOptions } from './options';
export type { NamedTensor } from './state-conversion';
export type {
  Algorithm,
  OptimizerStepper,
  StepperContext,
  StepperProvider,
  StepRequest,
  VariableSlot,
} from './stepper';
