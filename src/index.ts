// The public entry point: re-exports only, plus one global declaration the published declarations need.
// The WebGPU types (GPUDevice, GPUBuffer, ...) come from TypeScript's DOM lib from TypeScript 6 on, and from
// @webgpu/types (a peer dependency) before that: package.json sends TypeScript 5 to dist/ts5/index.d.ts, which
// references @webgpu/types and re-exports this entry (scripts/build-declarations.mjs writes it).

declare global {
  // FusedOptimizer has a `[Symbol.dispose]()` (for `using`). Declaring the symbol here keeps the declarations
  // valid for consumers whose `lib` lacks esnext.disposable (identical to, and merged with, TypeScript's own).
  interface SymbolConstructor {
    readonly dispose: unique symbol;
  }
}

export { type ArenaTensor, createParameterArena, type ParameterArena, type PerTensor } from './arena';
export type { TileShape } from './contract';
export {
  createAdam,
  createAdamW,
  createRAdam,
  createRanger,
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
  StepOptions,
  TrainingOptions,
} from './optimizer';
export {
  type AdamOptions,
  type LookaheadOptions,
  RADAM_PRESETS,
  type RAdamOptions,
  type RAdamPreset,
  RANGER_DEFAULTS,
  type RangerOptions,
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
  type OptimizerState,
  STATE_FORMAT,
  STATE_FORMAT_VERSION,
  type StateHeader,
  serializeState,
  type TensorStateHeader,
} from './state';
export { fromTfjsWeights, toTfjsWeights } from './state-tfjs';
export type {
  AdaptiveHyperParameters,
  Branch,
  GroupHyperParameters,
  LookaheadFields,
  SgdHyperParameters,
  StepInfo,
} from './step-scalars';
export type { StateFormat } from './training-options';
