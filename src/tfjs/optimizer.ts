import {
  engine,
  getBackend,
  type NamedTensorMap,
  Optimizer,
  scalar,
  serialization,
  Tensor,
  tensor,
  tidy,
  Variable,
  variable,
  zerosLike,
} from '@tensorflow/tfjs-core';
import { describeValue, OptimizerConfigError, OptimizerStateError } from '../errors';
import { guardedRead, type RAdamPreset, validateLearningRate } from '../options';
import {
  type OptimizerState,
  STATE_FORMAT,
  STATE_FORMAT_VERSION,
  type StateHeader,
  type TensorStateHeader,
} from '../state';
import {
  type AdaptiveHyperParameters,
  type GroupHyperParameters,
  newStepInfo,
  type SgdHyperParameters,
  type StepInfo,
  stepFactors,
} from '../step-scalars';
import { opStepperProvider } from './op-stepper';
import {
  resolveFused,
  resolveTfjsAdam,
  resolveTfjsRAdam,
  resolveTfjsSgd,
  type TfjsAdamOptions,
  type TfjsRAdamOptions,
  type TfjsSgdOptions,
} from './options';
import type { OptimizerStepper, StepperProvider, StepRequest, VariableSlot } from './stepper';
import { webgpuStepperProvider } from './webgpu-stepper';

/** A gradient (or state tensor) with the name of the variable it belongs to, as tfjs passes them. */
export interface NamedTensor {
  name: string;
  tensor: Tensor;
}

/** The core optimizer whose semantics a class follows; also the `optimizer` field of its stateDict(). */
export type Algorithm = 'RAdam' | 'Adam' | 'AdamW' | 'SGD';

// Tried in order for the current tfjs backend; the op-based stepper supports every backend, so it comes last.
const STEPPER_PROVIDERS: readonly StepperProvider[] = [webgpuStepperProvider, opStepperProvider];

function providerFor(backendName: string, fused: boolean): StepperProvider {
  if (!fused) return opStepperProvider;
  return STEPPER_PROVIDERS.find((provider) => provider.supports(backendName)) ?? opStepperProvider;
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((size, i) => size === b[i]);
const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;
const elementCount = (shape: readonly number[]) => shape.reduce((count, size) => count * size, 1);
const isCount = (value: unknown): value is number =>
  Number.isInteger(value) && (value as number) >= 0 && (value as number) < 2 ** 31;

/** How getWeights()/setWeights() name each variable's entries: `${variableName}/m`, `/v`, `/step`. */
type WeightKind = 'm' | 'v' | 'step';

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
    const slots = [...this.#slots.values()];
    const iterations = this.iterations;
    const entries: NamedTensor[] = [{ name: 'iter', tensor: scalar(iterations, 'int32') }];
    for (const slot of slots) entries.push({ name: `${slot.variableName}/m`, tensor: slot.m });
    for (const slot of slots) if (slot.v) entries.push({ name: `${slot.variableName}/v`, tensor: slot.v });
    for (const slot of slots) {
      if (slot.step !== iterations) {
        entries.push({ name: `${slot.variableName}/step`, tensor: scalar(slot.step, 'int32') });
      }
    }
    return entries;
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
    // Annotated, not inferred: TypeScript narrows after a call only through a declared `never` type.
    const fail: (why: string) => never = (why) => {
      throw new OptimizerStateError(`${this.algorithm}.setWeights: ${why}; nothing was changed`);
    };
    if (!Array.isArray(weightValues) || weightValues.length === 0) {
      fail(`expected [iterations, ...first moments, ...second moments], got ${describeValue(weightValues)}`);
    }
    const entries = weightValues.map((entry, i) => {
      const name = (entry as NamedTensor | null)?.name;
      const value = (entry as NamedTensor | null)?.tensor;
      if (typeof name !== 'string') fail(`weightValues[${i}].name is ${describeValue(name)}, not a string`);
      if (!(value instanceof Tensor) || value.isDisposed) {
        fail(`weightValues[${i}] (${name}) is not a live tensor`);
      }
      return { name, tensor: value as Tensor };
    });
    const iterations = await this.#readCount(entries[0]!, 'weightValues[0] (the iteration count)', fail);
    const hasSecondMoment = this.hyperParameters.kind !== 'sgd';
    const byVariable = new Map<string, Partial<Record<WeightKind, Tensor>>>();
    const steps = new Map<string, number>();
    for (const [i, entry] of entries.entries()) {
      if (i === 0) continue;
      const cut = entry.name.lastIndexOf('/');
      const variableName = entry.name.slice(0, Math.max(cut, 0));
      let kind = entry.name.slice(cut + 1);
      if (kind === 'momentum' && !hasSecondMoment) kind = 'm';
      const kinds = hasSecondMoment ? ['m', 'v', 'step'] : ['m', 'step'];
      if (cut <= 0 || !kinds.includes(kind)) {
        fail(
          `weightValues[${i}] is named ${describeValue(entry.name)}; ${this.algorithm} expects ` +
            `${kinds.map((k) => `"<variable>/${k}"`).join(', ')}${hasSecondMoment ? '' : ' or "<variable>/momentum"'}`,
        );
      }
      const parts = byVariable.get(variableName) ?? {};
      if (parts[kind as WeightKind] !== undefined) fail(`${variableName} has two "${kind}" entries`);
      parts[kind as WeightKind] = entry.tensor;
      byVariable.set(variableName, parts);
      if (kind === 'step') steps.set(variableName, await this.#readCount(entry, `weightValues[${i}]`, fail));
    }
    const checked: { name: string; m: Tensor; v: Tensor | undefined; step: number }[] = [];
    for (const [name, parts] of byVariable) {
      const { m, v } = parts;
      if (!m) fail(`${name} has no first moment ("${name}/m")`);
      if (hasSecondMoment && !v) fail(`${name} has no second moment ("${name}/v")`);
      for (const moment of [m, v]) {
        if (moment && moment.dtype !== 'float32')
          fail(`${name}'s moments must be float32, not ${moment.dtype}`);
      }
      if (v && !sameShape(m.shape, v.shape)) {
        fail(`${name}/m has shape ${shapeText(m.shape)} but ${name}/v has ${shapeText(v.shape)}`);
      }
      checked.push({ name, m, v, step: steps.get(name) ?? iterations });
    }
    const slots = checked.map((entry) => ({
      variableName: entry.name,
      shape: [...entry.m.shape],
      step: entry.step,
      // A variable shares its initial tensor's data until assigned, so the caller may dispose theirs.
      m: variable(entry.m, false),
      v: entry.v ? variable(entry.v, false) : undefined,
    }));
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
    const slots = [...this.#slots.values()];
    // Every read starts now, before any later step could swap a variable's data.
    const reads = slots.map((slot) => [slot.m.data(), slot.v?.data()] as const);
    const total = slots.reduce((sum, slot) => sum + elementCount(slot.shape), 0);
    const payload = new Float32Array(total * (this.hyperParameters.kind === 'sgd' ? 1 : 2));
    let offset = 0;
    const tensors: TensorStateHeader[] = [];
    for (const [i, slot] of slots.entries()) {
      const [m, v] = reads[i]!;
      const length = elementCount(slot.shape);
      const entry: TensorStateHeader = { name: slot.variableName, length, step: slot.step, exp_avg: offset };
      payload.set(await m, offset);
      offset += length;
      if (v) {
        entry.exp_avg_sq = offset;
        payload.set(await v, offset);
        offset += length;
      }
      tensors.push(entry);
    }
    const header: StateHeader = {
      format: STATE_FORMAT,
      version: STATE_FORMAT_VERSION,
      optimizer: this.algorithm,
      step: this.iterations,
      paramGroups: [{ lr: this.hyperParameters.lr, params: slots.map((_, i) => i) }],
      tensors,
    };
    return { header, payload };
  }

  /**
   * Restores a state from stateDict() (this class's or a WebGPU optimizer's). Tensor i belongs to
   * `variables[i]` when given, else to the registered variable named `tensors[i].name`. Format, version, the
   * second moment, lengths against the variables' sizes, step counts, payload bounds and the learning rate are
   * checked first; a mismatch throws an OptimizerStateError and nothing changes.
   */
  loadStateDict(state: OptimizerState, variables?: readonly Variable[]): void {
    this.#assertUsable('loadStateDict');
    const fail: (why: string) => never = (why) => {
      throw new OptimizerStateError(`${this.algorithm}.loadStateDict: ${why}; nothing was changed`);
    };
    const header = state?.header;
    const payload = state?.payload;
    if (!header || typeof header !== 'object') fail('the state has no header');
    if (!(payload instanceof Float32Array)) fail('the payload is not a Float32Array');
    if (header.format !== STATE_FORMAT) {
      fail(`format is ${describeValue(header.format)}, expected "${STATE_FORMAT}"`);
    }
    if (header.version !== STATE_FORMAT_VERSION) {
      fail(`version ${describeValue(header.version)} is not supported (expected ${STATE_FORMAT_VERSION})`);
    }
    if (!isCount(header.step)) fail(`step ${describeValue(header.step)} is not an integer in [0, 2^31)`);
    if (!Array.isArray(header.tensors)) fail('the header has no tensors array');
    if (
      variables !== undefined &&
      (!Array.isArray(variables) || variables.length !== header.tensors.length)
    ) {
      fail(
        `it holds ${header.tensors.length} tensors but ${describeValue(variables)} was given as variables`,
      );
    }
    const lrs = Array.isArray(header.paramGroups) ? header.paramGroups.map((group) => group?.lr) : [];
    if (lrs.length === 0) fail('the header has no paramGroups');
    if (lrs.some((lr) => lr !== lrs[0])) {
      fail(`its param groups have different learning rates (${lrs.join(', ')}); a tfjs optimizer has one`);
    }
    let lr = 0;
    try {
      lr = validateLearningRate(lrs[0], 'paramGroups[0].lr', this.hyperParameters);
    } catch (error) {
      fail((error as Error).message);
    }
    const hasSecondMoment = this.hyperParameters.kind !== 'sgd';
    const seen = new Set<string>();
    const slots = header.tensors.map((t, i) => {
      const target = variables?.[i];
      if (variables && (!(target instanceof Variable) || target.isDisposed)) {
        fail(`variables[${i}] is not a live tfjs variable`);
      }
      if (typeof t !== 'object' || t === null) fail(`tensors[${i}] is ${describeValue(t)}`);
      const name = target ? target.name : t.name;
      if (typeof name !== 'string') fail(`tensors[${i}].name is ${describeValue(name)}`);
      const shape = (target ?? engine().registeredVariables[name])?.shape;
      if (!shape) {
        fail(
          `tensors[${i}] (${name}) names no registered tfjs variable; pass the variables as the second argument`,
        );
      }
      if (seen.has(name)) fail(`two tensors belong to the variable ${name}`);
      seen.add(name);
      if (t.length !== elementCount(shape)) {
        fail(
          `tensors[${i}] has ${t.length} elements, the variable ${name} ${shapeText(shape)} has ${elementCount(shape)}`,
        );
      }
      if (!isCount(t.step))
        fail(`tensors[${i}].step ${describeValue(t.step)} is not an integer in [0, 2^31)`);
      if (hasSecondMoment !== (t.exp_avg_sq !== undefined)) {
        fail(
          `tensors[${i}] ${hasSecondMoment ? 'lacks' : 'has'} exp_avg_sq, which ${this.algorithm} ${hasSecondMoment ? 'needs' : 'does not keep'}`,
        );
      }
      for (const [key, start] of [
        ['exp_avg', t.exp_avg],
        ['exp_avg_sq', t.exp_avg_sq],
      ] as const) {
        if (start === undefined && key === 'exp_avg_sq') continue;
        const end = (start as number) + t.length;
        if (!Number.isInteger(start) || (start as number) < 0 || !(end <= payload.length)) {
          fail(`tensors[${i}].${key} range [${start}, ${end}) is outside the payload of ${payload.length}`);
        }
      }
      return {
        name,
        shape,
        step: t.step,
        expAvg: t.exp_avg,
        expAvgSq: t.exp_avg_sq,
        length: t.length,
      };
    });
    const fromPayload = (start: number, length: number, shape: readonly number[]) =>
      tidy(() => variable(tensor(payload.slice(start, start + length), [...shape], 'float32'), false));
    this.#replaceSlots(
      slots.map((s) => ({
        variableName: s.name,
        shape: s.shape,
        step: s.step,
        m: fromPayload(s.expAvg, s.length, s.shape),
        v: s.expAvgSq === undefined ? undefined : fromPayload(s.expAvgSq, s.length, s.shape),
      })),
    );
    this.iterations_ = header.step;
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

  async #readCount(entry: NamedTensor, what: string, fail: (why: string) => never): Promise<number> {
    if (entry.tensor.size !== 1)
      fail(`${what} has shape ${shapeText(entry.tensor.shape)}, expected a scalar`);
    const value = (await entry.tensor.data())[0];
    if (!isCount(value)) fail(`${what} is ${describeValue(value)}, expected an integer in [0, 2^31)`);
    return value as number;
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

/**
 * RAdam (Liu et al. 2019, arXiv 1908.03265) for TensorFlow.js: torch.optim.RAdam's semantics by default, the
 * original repository's, TensorFlow Addons' or optax's with `preset`. Per-variable step counts, host-side
 * float64 step factors: the same numbers as the package's WebGPU RAdam.
 *
 * ```ts
 * model.compile({ optimizer: radam({ learningRate: 1e-3 }), loss: 'meanSquaredError' });
 * ```
 */
export class RAdamOptimizer extends WebGPURadamTfjsOptimizer<AdaptiveHyperParameters> {
  static readonly className = 'WebGPURadam.RAdam';
  readonly preset: RAdamPreset;

  constructor(options: TfjsRAdamOptions = {}) {
    const { hp, preset } = resolveTfjsRAdam(options);
    super('RAdam', hp, resolveFused(options));
    this.preset = preset;
  }

  /** Every option, resolved (the preset's choices written out), so fromConfig() rebuilds the same optimizer. */
  override getConfig(): serialization.ConfigDict {
    const hp = this.hyperParameters;
    return {
      preset: this.preset,
      learningRate: hp.lr,
      beta1: hp.beta1,
      beta2: hp.beta2,
      epsilon: hp.eps,
      weightDecay: hp.weightDecay,
      decoupledWeightDecay: hp.decoupledWeightDecay,
      maximize: hp.maximize,
      threshold: hp.threshold,
      thresholdComparison: hp.thresholdComparison,
      epsMode: hp.epsMode,
      degeneratedToSgd: hp.degeneratedToSgd,
      fused: this.fused,
    };
  }
}

function adamConfig(hp: AdaptiveHyperParameters, fused: boolean): serialization.ConfigDict {
  return {
    learningRate: hp.lr,
    beta1: hp.beta1,
    beta2: hp.beta2,
    epsilon: hp.eps,
    weightDecay: hp.weightDecay,
    maximize: hp.maximize,
    fused,
  };
}

/** torch.optim.Adam for TensorFlow.js: L2 weight decay into the gradient, epsilon on the bias-corrected sqrt(v). */
export class AdamOptimizer extends WebGPURadamTfjsOptimizer<AdaptiveHyperParameters> {
  static readonly className = 'WebGPURadam.Adam';

  constructor(options: TfjsAdamOptions = {}) {
    super('Adam', resolveTfjsAdam(options, false), resolveFused(options));
  }

  override getConfig(): serialization.ConfigDict {
    return adamConfig(this.hyperParameters, this.fused);
  }
}

/** torch.optim.AdamW for TensorFlow.js: p *= 1 - lr*wd before the Adam update (default weightDecay 1e-2). */
export class AdamWOptimizer extends WebGPURadamTfjsOptimizer<AdaptiveHyperParameters> {
  static readonly className = 'WebGPURadam.AdamW';

  constructor(options: TfjsAdamOptions = {}) {
    super('AdamW', resolveTfjsAdam(options, true), resolveFused(options));
  }

  override getConfig(): serialization.ConfigDict {
    return adamConfig(this.hyperParameters, this.fused);
  }
}

/** torch.optim.SGD for TensorFlow.js: momentum, dampening, Nesterov, L2 weight decay, maximize. */
export class SGDOptimizer extends WebGPURadamTfjsOptimizer<SgdHyperParameters> {
  static readonly className = 'WebGPURadam.SGD';

  constructor(options: TfjsSgdOptions = {}) {
    super('SGD', resolveTfjsSgd(options), resolveFused(options));
  }

  override getConfig(): serialization.ConfigDict {
    const hp = this.hyperParameters;
    return {
      learningRate: hp.lr,
      momentum: hp.momentum,
      dampening: hp.dampening,
      nesterov: hp.nesterov,
      weightDecay: hp.weightDecay,
      maximize: hp.maximize,
      fused: this.fused,
    };
  }
}

// Registered when this module loads, so that tf.loadLayersModel can rebuild a saved model's optimizer.
serialization.registerClass(RAdamOptimizer);
serialization.registerClass(AdamOptimizer);
serialization.registerClass(AdamWOptimizer);
serialization.registerClass(SGDOptimizer);

/** A tfjs RAdam optimizer (torch semantics by default); see {@link TfjsRAdamOptions}. */
export function radam(options?: TfjsRAdamOptions): RAdamOptimizer {
  return new RAdamOptimizer(options);
}

/** A tfjs AdamW optimizer with torch.optim.AdamW's semantics. */
export function adamw(options?: TfjsAdamOptions): AdamWOptimizer {
  return new AdamWOptimizer(options);
}

/** A tfjs Adam optimizer with torch.optim.Adam's semantics (per-variable steps, L2 weight decay, maximize). */
export function adam(options?: TfjsAdamOptions): AdamOptimizer {
  return new AdamOptimizer(options);
}

/** A tfjs SGD optimizer with torch.optim.SGD's semantics (momentum, dampening, Nesterov). */
export function sgd(options?: TfjsSgdOptions): SGDOptimizer {
  return new SGDOptimizer(options);
}
