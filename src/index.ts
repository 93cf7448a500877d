export { type ArenaTensor, createParameterArena, type ParameterArena, type PerTensor } from './arena';
export {
  createAdam,
  createAdamW,
  createRAdam,
  createSGD,
  type ParamGroup,
  type ParamsOrGroups,
} from './create';
export {
  BufferBindingError,
  OptimizerConfigError,
  OptimizerStateError,
  ShaderCompilationError,
  WebGPURadamError,
} from './errors';
export type {
  ExecutionOptions,
  FusedOptimizer,
  GradStats,
  ParamGroupHandle,
  TrainingOptions,
} from './optimizer';
export {
  type AdamOptions,
  RADAM_PRESETS,
  type RAdamOptions,
  type RAdamPreset,
  type SgdOptions,
} from './options';
export type { ParamSpec } from './params';
export {
  constantSchedule,
  cosineDecay,
  type LrSchedule,
  linearDecay,
  linearWarmup,
  tfaRectifiedAdamSchedule,
  warmupCosine,
} from './schedules';
export {
  deserializeState,
  fromTfjsWeights,
  type OptimizerState,
  STATE_FORMAT,
  STATE_FORMAT_VERSION,
  type StateHeader,
  serializeState,
  type TensorStateHeader,
  toTfjsWeights,
} from './state';
export type { Branch, GroupHyperParameters, StepInfo } from './step-scalars';
