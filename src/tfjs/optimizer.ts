// The tfjs optimizers' shared base class: the live state of a tfjs optimizer — its variable slots, which stepper
// runs them on the current backend, validation of each call — and nothing else. Translating state to and from
// tfjs weights and the package's format lives in state-conversion.ts, the four concrete classes in algorithms.ts.
import {
  engine,
  getBackend,
  type NamedTensorMap,
  Optimizer,
  type serialization,
  Tensor,
  tidy,
  type Variable,
  variable,
  zerosLike,
} from '@tensorflow/tfjs-core';
import { describeValue, OptimizerConfigError, OptimizerStateError } from '../errors';
import { guardedRead, validateLearningRate } from '../options';
import type { OptimizerState } from '../state';
import { type GroupHyperParameters, newStepInfo, type StepInfo, stepFactors } from '../step-scalars';
import { opStepperProvider } from './op-stepper';
import {
  type NamedTensor,
  sameShape,
  shapeText,
  slotsFromState,
  slotsFromWeights,
  stateOf,
  weightsOf,
} from './state-conversion';
import type { Algorithm, OptimizerStepper, StepperProvider, StepRequest, VariableSlot } from './stepper';
import { webgpuStepperProvider } from './webgpu-stepper';

// Tried in order for the current tfjs backend; the op-based stepper supports every backend, so it comes last.
const STEPPER_PROVIDERS: readonly StepperProvider[] = [webgpuStepperProvider, opStepperProvider];

function providerFor(backendName: string, fused: boolean): StepperProvider {
  if (!fused) return opStepperProvider;
  return STEPPER_PROVIDERS.find((provider) => provider.supports(backendName)) ?? opStepperProvider;
}

/**
 * The shared part of the four tfjs optimizers: per-variable state (created zero on a variable's first step,
 * keyed by the variable's name), validation, tfjs weights and the package's state format. The arithmetic of a
 * step is the stepper's.
 */
export abstract class WebGPURadamTfjsOptimizer<
  HP extends GroupHyperParameters = GroupHyperParameters,
> extends Optimizer {
  readonly algorithm: Algorithm;
  /** Resolved hyper-parameters in the core's form; `lr` changes through `learningRate`. */
  protected readonly hyperParameters: HP;
  readonly #slots = new Map<string, VariableSlot>();
  /** Slots from setWeights() not yet matched to a variable by a step (see #checkGradients). */
  readonly #unmatched = new Set<VariableSlot>();
  #stepper: { backend: string; provider: StepperProvider; stepper: OptimizerStepper } | undefined;
  #disposed = false;
  readonly #info: StepInfo = newStepInfo();

  /** Whether the webgpu backend steps with the fused kernel (the `fused` option). */
  readonly fused: boolean;

  protected constructor(algorithm: Algorithm, hyperParameters: HP, fused: boolean) {
    super();
    this.algorithm = algorithm;
    this.hyperParameters = hyperParameters;
    this.fused = fused;
  }

  /** Creates an optimizer from getConfig()'s output (what tfjs calls when it loads a saved model). */
  static override fromConfig<T extends serialization.Serializable>(
    cls: serialization.SerializableConstructor<T>,
    config: serialization.ConfigDict,
  ): T {
    // tfjs-layers adds the custom-object table to every config it deserializes; it is not an option.
    const { customObjects: _, ...options } = config;
    return new cls(options);
  }

  /** Read and assignable between steps (tfjs optimizers keep it as a field too); validated like the core's `lr`. */
  get learningRate(): number {
    return this.hyperParameters.lr;
  }

  set learningRate(value: number) {
    this.#assertUsable('learningRate');
    this.hyperParameters.lr = validateLearningRate(value, 'learningRate', this.hyperParameters);
  }

  /** The step that the last applyGradients() applied to its first variable: branch, bias corrections, rho_t. */
  get lastStep(): StepInfo {
    return { ...this.#info };
  }

  /**
   * Which implementation steps on the current tfjs backend: 'webgpu' (the fused kernel, on tfjs's webgpu
   * backend) or 'ops' (tfjs ops: every other backend, and on webgpu the steps of a set of variables whose fused
   * kernels are still compiling; see ready()). After a step it names the path that step took.
   */
  get stepperName(): string {
    return this.#stepper?.backend === getBackend()
      ? this.#stepper.stepper.name
      : providerFor(getBackend(), this.fused).name;
  }

  /**
   * Resolves when the current backend's stepper has finished background work: on webgpu, compiling the fused
   * kernels for the variables seen so far, after which their steps run fused.
   */
  async ready(): Promise<void> {
    this.#assertUsable('ready');
    await this.#stepper?.stepper.ready?.();
  }

  /** Names of the variables this optimizer holds state for, in getWeights() order. */
  get variableNames(): string[] {
    return [...this.#slots.keys()];
  }

  /**
   * Updates each named variable from its gradient. Accepts tfjs's map form `{ [variableName]: gradient }` and
   * its array form `[{ name, tensor }]`; a null or undefined gradient leaves that variable (and its step count)
   * alone, as in tfjs and torch. Every argument is checked before anything changes: an unknown or disposed
   * variable, a gradient that is not a live float32 tensor of the variable's shape, a name given twice, or a
   * variable whose shape differs from its saved state throws a typed error.
   */
  override applyGradients(variableGradients: NamedTensorMap | NamedTensor[]): void {
    this.#assertUsable('applyGradients');
    const requests = this.#checkGradients(variableGradients);
    const hasSecondMoment = this.hyperParameters.kind !== 'sgd';
    const steps: StepRequest[] = requests.map(({ variable: target, gradient, slot }) => {
      const ready =
        slot === undefined
          ? this.#createSlot(target, hasSecondMoment)
          : this.#unmatched.has(slot)
            ? this.#matchSlot(slot, target)
            : slot;
      return { variable: target, gradient, slot: ready, t: ready.step + 1 };
    });
    if (steps.length > 0) {
      this.#currentStepper().step(steps, this.hyperParameters);
      for (const request of steps) request.slot.step = request.t;
      this.#describe(steps[0]!.t);
    }
    this.incrementIterations();
  }

  /**
   * tfjs order: the iteration count (an int32 scalar named 'iter'), every variable's first moment
   * (`${name}/m`), every second moment (`${name}/v`, not for SGD), as tf.train.adam does, followed by a
   * `${name}/step` int32 scalar for each variable whose own step count differs from the iteration count (a
   * variable that was skipped or joined late). The moments are the optimizer's live variables (do not dispose
   * them); the scalars are new tensors the caller owns.
   */
  override async getWeights(): Promise<NamedTensor[]> {
    this.#assertUsable('getWeights');
    this.#syncStepper();
    return weightsOf([...this.#slots.values()], this.iterations);
  }

  /**
   * The inverse of getWeights(); also takes tf.train.adam's weights (and, for SGD, tf.train.momentum's
   * `/momentum` entries). A variable without a `/step` entry gets the iteration count as its step count.
   * The state meets its variables at the next step: by name, and otherwise in order (as tfjs's own
   * optimizers match them), because tf.loadLayersModel renames a model's variables (`kernel_1`) when a model
   * of the same names is alive; a shape that does not fit then throws rather than stepping with wrong state.
   * Everything is checked before the state is replaced; a bad entry throws an OptimizerStateError and nothing
   * changes. The caller may dispose the tensors afterwards.
   */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    this.#assertUsable('setWeights');
    const { slots, iterations } = await slotsFromWeights(this.algorithm, this.hyperParameters, weightValues);
    this.#replaceSlots(slots);
    for (const slot of slots) this.#unmatched.add(slot);
    this.iterations_ = iterations;
  }

  /**
   * The optimizer state in the package's format (the same as the WebGPU optimizers' stateDict(): torch names,
   * per-variable step counts, a float32 payload), so it converts with serializeState, toTfjsWeights and the
   * torch scripts, and loads into a WebGPU optimizer over the same tensors. Tensor names are variable names.
   */
  async stateDict(): Promise<OptimizerState> {
    this.#assertUsable('stateDict');
    this.#syncStepper();
    return stateOf(this.algorithm, this.hyperParameters, [...this.#slots.values()], this.iterations);
  }

  /**
   * Restores a state from stateDict() (this class's or a WebGPU optimizer's). Tensor i belongs to
   * `variables[i]` when given, else to the registered variable named `tensors[i].name`. Format, version, the
   * second moment, lengths against the variables' sizes, step counts, payload bounds and the learning rate are
   * checked first; a mismatch throws an OptimizerStateError and nothing changes.
   */
  loadStateDict(state: OptimizerState, variables?: readonly Variable[]): void {
    this.#assertUsable('loadStateDict');
    const { slots, iterations, lr } = slotsFromState(this.algorithm, this.hyperParameters, state, variables);
    this.#replaceSlots(slots);
    this.iterations_ = iterations;
    this.hyperParameters.lr = lr;
  }

  /**
   * Forgets the state (moments and step count) of the named variables, or of all: their next step starts from
   * zero state, as for a variable never seen. The way to go on after a variable changed shape.
   */
  resetState(variableNames?: readonly string[]): void {
    this.#assertUsable('resetState');
    const names = variableNames === undefined ? [...this.#slots.keys()] : variableNames;
    if (!Array.isArray(names) || names.some((name) => typeof name !== 'string')) {
      throw new OptimizerConfigError(
        'variableNames',
        `Invalid variableNames: ${describeValue(variableNames)} (expected an array of variable names)`,
      );
    }
    const keep = [...this.#slots.values()].filter((slot) => !names.includes(slot.variableName));
    this.#replaceSlots(keep, new Set(keep));
  }

  /** Frees every state tensor; idempotent. Using the optimizer afterwards throws an OptimizerStateError. */
  override dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#replaceSlots([]);
    super.dispose();
  }

  #assertUsable(what: string): void {
    if (this.#disposed) {
      throw new OptimizerStateError(`${this.algorithm}.${what}: the optimizer was disposed`);
    }
  }

  /** Reads the caller's gradients once and checks every one before anything is changed. */
  #checkGradients(
    variableGradients: unknown,
  ): { variable: Variable; gradient: Tensor; slot: VariableSlot | undefined }[] {
    const field = 'variableGradients';
    const pairs = guardedRead(field, (): [string, unknown][] => {
      if (Array.isArray(variableGradients)) {
        return variableGradients.map((entry: unknown, i) => {
          const name = (entry as NamedTensor | null)?.name;
          if (typeof entry !== 'object' || entry === null || typeof name !== 'string') {
            throw new OptimizerConfigError(
              `${field}[${i}]`,
              `Invalid ${field}[${i}]: ${describeValue(entry)} (expected { name: string, tensor: Tensor })`,
            );
          }
          return [name, (entry as NamedTensor).tensor];
        });
      }
      if (typeof variableGradients === 'object' && variableGradients !== null) {
        const map = variableGradients as Record<string, unknown>;
        return Object.keys(map).map((name) => [name, map[name]]);
      }
      throw new OptimizerConfigError(
        field,
        `Invalid ${field}: ${describeValue(variableGradients)} (expected { [variableName]: Tensor } or [{ name, tensor }])`,
      );
    });
    const seen = new Set<string>();
    const checked: { variable: Variable; gradient: Tensor; slot: VariableSlot | undefined }[] = [];
    for (const [name, gradient] of pairs) {
      const at = `${field}[${JSON.stringify(name)}]`;
      const bad: (why: string) => never = (why) => {
        throw new OptimizerConfigError(at, `Invalid ${at}: ${why}`);
      };
      if (seen.has(name)) bad('the variable is named twice in one call');
      seen.add(name);
      if (gradient === null || gradient === undefined) continue;
      if (!(gradient instanceof Tensor)) bad(`${describeValue(gradient)} is not a tfjs Tensor`);
      const grad = gradient as Tensor;
      if (grad.isDisposed) bad('the gradient tensor is disposed');
      if (grad.dtype !== 'float32') bad(`the gradient is ${grad.dtype} (expected float32)`);
      const target = engine().registeredVariables[name];
      if (!target) bad('no variable of that name is registered (never created, or disposed)');
      if (target.dtype !== 'float32') bad(`the variable is ${target.dtype} (expected float32)`);
      if (!sameShape(grad.shape, target.shape)) {
        bad(`the gradient has shape ${shapeText(grad.shape)}, the variable ${shapeText(target.shape)}`);
      }
      checked.push({ variable: target, gradient: grad, slot: this.#slots.get(name) });
    }
    // State from setWeights() that no variable claimed by name goes, in order, to the variables without state.
    const claimed = new Set(checked.map((entry) => entry.slot));
    const leftover = [...this.#unmatched].filter((slot) => !claimed.has(slot));
    for (const entry of checked) {
      if (entry.slot === undefined && leftover.length > 0) entry.slot = leftover.shift();
    }
    for (const { variable: target, slot } of checked) {
      if (slot && !sameShape(slot.shape, target.shape)) {
        const whose =
          slot.variableName === target.name
            ? 'its optimizer state'
            : `the state set for ${slot.variableName}`;
        throw new OptimizerStateError(
          `${this.algorithm}.applyGradients: the variable ${target.name} has shape ${shapeText(target.shape)} ` +
            `but ${whose} has ${shapeText(slot.shape)}; nothing was changed. Call ` +
            `resetState([${JSON.stringify(slot.variableName)}]) to start it from zero state, or ` +
            'setWeights()/loadStateDict() with matching state',
        );
      }
    }
    return checked;
  }

  #createSlot(target: Variable, hasSecondMoment: boolean): VariableSlot {
    const zeros = () => tidy(() => variable(zerosLike(target), false));
    const slot: VariableSlot = {
      variableName: target.name,
      shape: [...target.shape],
      step: 0,
      m: zeros(),
      v: hasSecondMoment ? zeros() : undefined,
    };
    this.#slots.set(target.name, slot);
    return slot;
  }

  /** Binds a slot from setWeights() to the variable that claimed it, keeping its place in getWeights() order. */
  #matchSlot(slot: VariableSlot, target: Variable): VariableSlot {
    this.#unmatched.delete(slot);
    if (slot.variableName === target.name) return slot;
    const renamed: VariableSlot = { ...slot, variableName: target.name };
    const entries = [...this.#slots.values()].map((s) => (s === slot ? renamed : s));
    this.#slots.clear();
    for (const entry of entries) this.#slots.set(entry.variableName, entry);
    return renamed;
  }

  /** Swaps the whole state; a stepper may hold on to slots, so it starts over with the new ones. */
  #replaceSlots(slots: VariableSlot[], kept: ReadonlySet<VariableSlot> = new Set()): void {
    if (kept.size > 0) this.#syncStepper();
    for (const slot of this.#slots.values()) {
      if (kept.has(slot)) continue;
      slot.m.dispose();
      slot.v?.dispose();
    }
    this.#slots.clear();
    for (const slot of slots) this.#slots.set(slot.variableName, slot);
    for (const slot of this.#unmatched) if (!kept.has(slot)) this.#unmatched.delete(slot);
    this.#stepper?.stepper.dispose();
    this.#stepper = undefined;
  }

  #currentStepper(): OptimizerStepper {
    const backend = getBackend();
    if (this.#stepper?.backend !== backend) {
      const provider = providerFor(backend, this.fused);
      if (this.#stepper !== undefined && this.#stepper.provider === provider) {
        this.#stepper.backend = backend;
      } else {
        // The state goes back into the slots' variables, which tfjs moves to the new backend.
        this.#syncStepper();
        this.#stepper?.stepper.dispose();
        this.#stepper = {
          backend,
          provider,
          stepper: provider.create({ algorithm: this.algorithm, hp: this.hyperParameters }),
        };
      }
    }
    return this.#stepper!.stepper;
  }

  /** Brings the slots up to date with state a stepper keeps elsewhere (the fused stepper's GPU pages). */
  #syncStepper(): void {
    this.#stepper?.stepper.syncState?.();
  }

  #describe(t: number): void {
    const factors = stepFactors(this.hyperParameters, t);
    Object.assign(this.#info, {
      step: t,
      lr: this.hyperParameters.lr,
      branch: factors.branch,
      bc1: factors.bc1,
      bc2: factors.bc2,
      rhoT: factors.rhoT,
      rect: factors.rect,
    });
  }
}
