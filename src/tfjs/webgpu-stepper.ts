// The fused stepper for tfjs's webgpu backend: every variable is stepped where it lives, by the package's fused
// optimizer (one prepare dispatch and one step dispatch per variable, in one pass), reading each gradient from the
// buffer tfjs computed it into. Writing tfjs tensors in place needs tfjs-backend-webgpu internals; those are
// looked up and checked in webgpu-internals.ts, so a tfjs version that lacks one throws instead of stepping wrongly.
import { engine, mul, type Tensor, tidy, type Variable } from '@tensorflow/tfjs-core';
import { createAdam, createAdamW, createRAdam, createSGD } from '../create';
import { describeValue, OptimizerStateError } from '../errors';
import type { FusedOptimizer } from '../optimizer';
import type { ParamSpec } from '../params';
import { STATE_FORMAT, STATE_FORMAT_VERSION, type TensorStateHeader } from '../state';
import type { AdaptiveHyperParameters, GroupHyperParameters } from '../step-scalars';
import { createOpStepper } from './op-stepper';
import type { OptimizerStepper, StepperContext, StepperProvider, StepRequest, VariableSlot } from './stepper';
import {
  bufferOf,
  dropCpuCopy,
  flushTfjs,
  ownData,
  type WebGPUBackendInternals,
  webgpuInternals,
} from './webgpu-internals';

// The core's option objects, from the resolved hyper-parameters (every field explicit, so no preset is needed).
type CoreOptions = Parameters<typeof createRAdam>[2] & Parameters<typeof createSGD>[2];

function coreOptions(context: StepperContext): CoreOptions {
  const hp = context.hp;
  if (hp.kind === 'sgd') {
    const { lr, momentum, dampening, nesterov, weightDecay, maximize } = hp;
    return { lr, momentum, dampening, nesterov, weightDecay, maximize };
  }
  const a: AdaptiveHyperParameters = hp;
  const common = {
    lr: a.lr,
    betas: [a.beta1, a.beta2] as [number, number],
    eps: a.eps,
    weightDecay: a.weightDecay,
    maximize: a.maximize,
  };
  if (context.algorithm !== 'RAdam') return common;
  return {
    ...common,
    decoupledWeightDecay: a.decoupledWeightDecay,
    threshold: a.threshold,
    thresholdComparison: a.thresholdComparison,
    epsMode: a.epsMode,
    degeneratedToSgd: a.degeneratedToSgd,
  };
}

function createCore(
  context: StepperContext,
  device: GPUDevice,
  params: ParamSpec[],
): Promise<FusedOptimizer> {
  const options = coreOptions(context);
  switch (context.algorithm) {
    case 'RAdam':
      return createRAdam(device, params, options);
    case 'Adam':
      return createAdam(device, params, options);
    case 'AdamW':
      return createAdamW(device, params, options);
    case 'SGD':
      return createSGD(device, params, options);
  }
}

/** The fused optimizer over a fixed list of slots, and what it binds per step. */
interface Fused {
  core: FusedOptimizer;
  device: GPUDevice;
  slots: VariableSlot[];
  /** Slot index by the slot's first-moment variable (stable while the slot lives, renamed or not). */
  indexOf: Map<Variable, number>;
  /** Where the slots' current state is: in the core's moment pages, or in the slots' m and v. */
  stateInCore: boolean;
  /** Per-step buffers, reused. */
  params: (GPUBuffer | undefined)[];
  grads: (GPUBuffer | undefined)[];
  active: boolean[];
  /** Bound where no gradient is given (inactive tensors): never read. */
  placeholder: GPUBuffer;
}

/**
 * One optimizer's fused stepper. It builds the core optimizer asynchronously (its kernels compile), so a step for
 * a set of variables it has not built for yet runs with tfjs ops (same semantics; `stepperName` says 'ops'), and
 * the steps after the build run fused. `ready()` resolves when the build is done.
 */
class WebGPUFusedStepper implements OptimizerStepper {
  readonly #context: StepperContext;
  readonly #ops = createOpStepper();
  #fused: Fused | undefined;
  #building: { slots: VariableSlot[]; promise: Promise<void> } | undefined;
  #built: Fused | undefined;
  #failure: unknown;
  #lastFused = false;
  #disposed = false;

  constructor(context: StepperContext) {
    this.#context = context;
    webgpuInternals();
  }

  get name(): string {
    return this.#lastFused ? 'webgpu' : 'ops';
  }

  step(requests: readonly StepRequest[], hp: GroupHyperParameters): void {
    const backend = webgpuInternals();
    if (this.#failure !== undefined) {
      const cause = this.#failure;
      this.#failure = undefined;
      throw new OptimizerStateError(
        `webgpu-radam/tfjs: building the fused optimizer failed (${describeValue(cause)}); nothing was changed`,
        { cause },
      );
    }
    if (this.#built && !this.#fused) this.#adopt(this.#built);
    const fused = this.#fused;
    const registered = engine().registeredVariables;
    // A variable without a gradient this step is bound (not written) where it lives, so it must still exist.
    const covered =
      fused !== undefined &&
      requests.every((request) => fused.indexOf.has(request.slot.m)) &&
      fused.slots.every((slot) => registered[slot.variableName] !== undefined);
    if (fused && covered) {
      this.#stepFused(backend, fused, requests, hp);
      this.#lastFused = true;
      return;
    }
    // Variables the fused optimizer does not cover: this step with ops, the next ones fused over all of them.
    this.syncState();
    const known = fused ? fused.slots.filter((slot) => registered[slot.variableName] !== undefined) : [];
    const slots = [...known, ...requests.map((r) => r.slot).filter((slot) => !fused?.indexOf.has(slot.m))];
    this.#release();
    this.#ops.step(requests, hp);
    this.#lastFused = false;
    this.#build(backend, slots, requests);
  }

  #stepFused(
    backend: WebGPUBackendInternals,
    fused: Fused,
    requests: readonly StepRequest[],
    hp: GroupHyperParameters,
  ): void {
    const { core, params, grads, active } = fused;
    params.fill(undefined);
    grads.fill(fused.placeholder);
    const copies: Tensor[] = [];
    try {
      for (const { variable, gradient, slot } of requests) {
        const i = fused.indexOf.get(slot.m)!;
        ownData(backend, variable);
        const param = bufferOf(backend, variable, `the variable ${variable.name}`);
        let grad = bufferOf(backend, gradient, `the gradient of ${variable.name}`);
        if (grad === param) {
          // The gradient is the variable's own data (applyGradients({ v: v })): read a copy.
          const copy = tidy(() => mul(gradient, 1));
          copies.push(copy);
          grad = bufferOf(backend, copy, `the gradient of ${variable.name}`);
        }
        params[i] = param;
        grads[i] = grad;
      }
      for (let i = 0; i < active.length; i++) {
        const wanted = params[i] !== undefined;
        if (active[i] !== wanted) {
          core.setActive(i, wanted);
          active[i] = wanted;
        }
        if (wanted) continue;
        // Not written, but bound: its own current buffer (the one given at creation may be another tensor's now).
        const variable = engine().registeredVariables[fused.slots[i]!.variableName]!;
        ownData(backend, variable);
        params[i] = bufferOf(backend, variable, `the variable ${variable.name}`);
      }
      if (core.lr !== hp.lr) core.lr = hp.lr;
      // tfjs's pending work (the gradients) is submitted first; the step is submitted before tfjs records more.
      flushTfjs(backend);
      const encoder = fused.device.createCommandEncoder({ label: 'webgpu-radam tfjs step' });
      core.step(encoder, { params, grads });
      fused.device.queue.submit([encoder.finish()]);
    } finally {
      for (const copy of copies) copy.dispose();
    }
    for (const { variable } of requests) dropCpuCopy(backend, variable);
  }

  /** Starts building a fused optimizer over `slots`; the requests give each slot's variable. */
  #build(backend: WebGPUBackendInternals, slots: VariableSlot[], requests: readonly StepRequest[]): void {
    const variables = new Map<VariableSlot, Variable>(requests.map((r) => [r.slot, r.variable]));
    const registered = engine().registeredVariables;
    const lengths = slots.map((slot) => slot.shape.reduce((count, size) => count * size, 1));
    const device = backend.device;
    // Never read: every step binds the gradients tfjs computed; unit grads at creation must differ from params.
    const placeholder = device.createBuffer({
      label: 'webgpu-radam tfjs placeholder',
      size: Math.max(4, ...lengths.map((length) => length * 4)),
      usage: GPUBufferUsage.STORAGE,
    });
    const params: ParamSpec[] = slots.map((slot, i) => {
      const variable = variables.get(slot) ?? registered[slot.variableName];
      if (!variable) throw new OptimizerStateError(`webgpu-radam/tfjs: no variable for ${slot.variableName}`);
      ownData(backend, variable);
      return {
        param: bufferOf(backend, variable, `the variable ${variable.name}`),
        grad: placeholder,
        length: lengths[i]!,
        name: slot.variableName,
      };
    });
    flushTfjs(backend);
    const promise = createCore(this.#context, device, params).then(
      (core) => {
        if (this.#disposed || this.#building?.promise !== promise) {
          core.destroy();
          placeholder.destroy();
          return;
        }
        this.#built = {
          core,
          device,
          slots,
          indexOf: new Map(slots.map((slot, i) => [slot.m, i])),
          stateInCore: false,
          params: slots.map(() => undefined),
          grads: slots.map(() => undefined),
          active: slots.map(() => true),
          placeholder,
        };
        this.#building = undefined;
      },
      (error: unknown) => {
        placeholder.destroy();
        if (this.#building?.promise !== promise) return;
        this.#building = undefined;
        this.#failure = error;
      },
    );
    this.#building = { slots, promise };
  }

  /** Loads the slots' state (moments from their tfjs buffers, per-variable step counts) into the core. */
  #adopt(fused: Fused): void {
    const backend = webgpuInternals();
    const tensors: TensorStateHeader[] = [];
    let offset = 0;
    for (const slot of fused.slots) {
      const length = slot.shape.reduce((count, size) => count * size, 1);
      tensors.push({
        name: slot.variableName,
        length,
        step: slot.step,
        exp_avg: offset,
        ...(slot.v ? { exp_avg_sq: offset + length } : {}),
      });
      offset += slot.v ? 2 * length : length;
    }
    const step = Math.max(0, ...fused.slots.map((slot) => slot.step));
    // Zero moments first (queue writes), overwritten below by copies from the slots' buffers.
    fused.core.loadStateDict({
      header: {
        format: STATE_FORMAT,
        version: STATE_FORMAT_VERSION,
        optimizer: fused.core.name,
        step,
        paramGroups: [{ lr: fused.core.lr, params: fused.slots.map((_, i) => i) }],
        tensors,
      },
      payload: new Float32Array(offset),
    });
    this.#copyState(backend, fused, 'in');
    this.#built = undefined;
    this.#fused = fused;
    fused.stateInCore = true;
  }

  /** Copies every slot's moments between its tfjs variables and the core's pages. */
  #copyState(backend: WebGPUBackendInternals, fused: Fused, direction: 'in' | 'out'): void {
    const moments: [Variable, GPUBuffer, number, number][] = [];
    fused.slots.forEach((slot, i) => {
      const where = fused.core.stateLocation(i);
      if (where.length === 0) return;
      for (const [moment, page] of [
        [slot.m, where.expAvg],
        [slot.v, where.expAvgSq],
      ] as const) {
        if (!moment || !page) continue;
        if (direction === 'out') ownData(backend, moment);
        moments.push([moment, page, where.byteOffset, where.length * 4]);
      }
    });
    const buffers = moments.map(([moment]) => bufferOf(backend, moment, `the state of ${moment.name}`));
    flushTfjs(backend);
    const encoder = fused.device.createCommandEncoder({ label: 'webgpu-radam tfjs state copy' });
    moments.forEach(([, page, byteOffset, bytes], k) => {
      if (direction === 'in') encoder.copyBufferToBuffer(buffers[k]!, 0, page, byteOffset, bytes);
      else encoder.copyBufferToBuffer(page, byteOffset, buffers[k]!, 0, bytes);
    });
    fused.device.queue.submit([encoder.finish()]);
    if (direction === 'out') for (const [moment] of moments) dropCpuCopy(backend, moment);
  }

  syncState(): void {
    const fused = this.#fused;
    if (!fused?.stateInCore) return;
    this.#copyState(webgpuInternals(), fused, 'out');
    // The slots are current now; the core's pages stay so too until its next step.
  }

  async ready(): Promise<void> {
    await this.#building?.promise;
  }

  #release(): void {
    const fused = this.#fused ?? this.#built;
    if (fused) {
      fused.core.destroy();
      fused.placeholder.destroy();
    }
    this.#fused = undefined;
    this.#built = undefined;
    this.#building = undefined;
  }

  dispose(): void {
    this.#disposed = true;
    this.#release();
  }
}

export const webgpuStepperProvider: StepperProvider = {
  name: 'webgpu',
  supports: (backendName) => backendName === 'webgpu',
  create: (context) => new WebGPUFusedStepper(context),
};
