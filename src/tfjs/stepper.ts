// The seam between the tfjs optimizer classes (bookkeeping: which variables, their state, iterations,
// serialization) and the code that does the arithmetic of one step. The op-based stepper works on every tfjs
// backend; a fused WebGPU stepper can be put in front of it for the webgpu backend without touching the classes.
import type { Tensor, Variable } from '@tensorflow/tfjs-core';
import type { GroupHyperParameters } from '../step-scalars';

/**
 * The optimizer state of one tfjs variable, keyed by the variable's name. Between two `applyGradients` calls
 * `m` and `v` hold the state: a stepper that keeps it elsewhere (its own GPU buffers) must either make these
 * variables alias that memory or write the state back before it returns or is disposed, so that getWeights,
 * stateDict and a switch to another stepper always read current values here.
 */
export interface VariableSlot {
  readonly variableName: string;
  /** The variable's shape when the slot was created; a variable whose shape changes is rejected, not reset. */
  readonly shape: readonly number[];
  /** Steps this variable has taken (torch's state['step']); step t of the next update is step + 1. */
  step: number;
  /** First moment (exp_avg); for SGD the momentum buffer. */
  m: Variable;
  /** Second moment (exp_avg_sq); undefined for SGD. */
  v: Variable | undefined;
}

/** One variable to update in this call, already validated: gradient and variable are live float32 tensors of equal shape. */
export interface StepRequest {
  readonly variable: Variable;
  readonly gradient: Tensor;
  readonly slot: VariableSlot;
  /** The step this update is (1-based): slot.step + 1. The caller advances slot.step after a successful call. */
  readonly t: number;
}

/** Applies one step's arithmetic to a variable and its state; one per backend family. */
export interface OptimizerStepper {
  /** Shown as `optimizer.stepperName`: 'ops' for the op-based path, 'webgpu' for the fused one. */
  readonly name: string;
  /** Updates every request's variable and slot moments in place. `hp.lr` is this step's learning rate. */
  step(requests: readonly StepRequest[], hp: GroupHyperParameters): void;
  /**
   * Writes state the stepper keeps elsewhere back into the slots' `m` and `v` (a stepper whose slots are always
   * current needs none). The optimizer calls it before reading the slots or replacing the stepper.
   */
  syncState?(): void;
  /** Resolves when work the stepper started in the background (compiling kernels) is done. */
  ready?(): Promise<void>;
  /** Frees what the stepper allocated itself (never the slots, which belong to the optimizer). */
  dispose(): void;
}

/** The core optimizer whose semantics a class follows; also the `optimizer` field of its stateDict(). */
export type Algorithm = 'RAdam' | 'Adam' | 'AdamW' | 'SGD';

/** What a stepper is created for. */
export interface StepperContext {
  algorithm: Algorithm;
  /** The optimizer's resolved hyper-parameters; only `lr` changes after creation. */
  hp: GroupHyperParameters;
}

/** Chooses and creates the stepper for the active tfjs backend. */
export interface StepperProvider {
  readonly name: string;
  /** Whether this provider can step on the tfjs backend registered under `backendName` right now. */
  supports(backendName: string): boolean;
  /** A new stepper for one optimizer. */
  create(context: StepperContext): OptimizerStepper;
}
