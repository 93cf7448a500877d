// The live optimizer: what step() records, the setters between steps, and its lifetime; state dicts and
// readbacks are handed to state-transfer.ts. Everything it holds was built by create.ts's sequence and arrives in
// a few bundles (kernels, buffers, call ring, training options); nothing here allocates GPU objects after
// construction.
import type { CallRing } from './call-ring';
import { OptimizerConfigError, OptimizerStateError } from './errors';
import { type Kernels, recordStep } from './kernels';
import { flag, validateLearningRate } from './option-checks';
import { type ParamGroupHandle, paramGroupHandles } from './param-group-handles';
import { describeError, type GradStats } from './readback';
import { RecordingWatch } from './recording-watch';
import type { StateBuffers } from './resources';
import { checkedScheduleFactor } from './schedule-check';
import type { OptimizerState, StatePlacementOf } from './state';
import { stateLocationOf } from './state-gpu';
import { StateTransfer } from './state-transfer';
import {
  checkStepArguments,
  checkTensorIndex,
  givenBuffers,
  type StepArgument,
  timestampWritesOf,
} from './step-arguments';
import { StepBufferBinder, type StepOptions } from './step-buffers';
import { StepLedger } from './step-ledger';
import {
  describeStep,
  type GroupHyperParameters,
  MAX_STEP_COUNT,
  newStepInfo,
  type StepInfo,
} from './step-scalars';
import { type ResolvedTraining, TRAINING_OPTIONS } from './training-options';
import { lockReadOnlyFields } from './views';

export type { ParamGroupHandle } from './param-group-handles';
export type { GradStats } from './readback';
export type { StepOptions } from './step-buffers';
export type { ExecutionOptions, TrainingOptions } from './training-options';

/**
 * A fused optimizer over many tensors, created by createRAdam / createAdam / createAdamW / createSGD. `step()`
 * records one compute pass into the caller's encoder: with gradient checks, a reduction over the gradients and a
 * one-workgroup finalize; a one-workgroup prepare dispatch that turns every tensor's GPU-side step count into its
 * factors; then the step dispatches (`dispatchesPerStep`: the largest tensors alone, the rest batched in tiles),
 * however many tensors there are. Each step's per-call data (learning rates, loss scale, clipping norm, active
 * mask) goes into its own ring slot, so steps may be recorded ahead of their submits (see
 * `ExecutionOptions.maxPendingSteps`); step counts live on the GPU, so skipped steps need no readback.
 */
export class FusedOptimizer {
  /**
   * Optimizer steps recorded so far, minus those known to have been skipped or rejected: the last readback's GPU
   * count plus every step recorded since that the GPU had not yet run (see readGradStats()).
   */
  get stepCount(): number {
    return this.#ledger.completed;
  }

  /** What the last recorded step does for the first param group, as the host sees it (skips are found later). */
  get lastStep(): Readonly<StepInfo> {
    return this.#info;
  }

  /** Base learning rate of the first group; setting it sets every group's. Changing it rebuilds nothing. */
  get lr(): number {
    return this.#groups[0]?.hp.lr ?? 0;
  }
  set lr(value: number) {
    // Every group is checked before any changes: a value one group cannot take leaves all of them as they were.
    for (const group of this.#groups) validateLearningRate(value, 'lr', group.hp);
    const lr = validateLearningRate(value);
    for (const group of this.#groups) group.hp.lr = lr;
  }

  /** Loss scale the incoming gradients carry (divided out inside the step), in [2^-126, 2^126]. */
  get gradScale(): number {
    return this.#call.gradScale;
  }
  set gradScale(value: number) {
    this.#call.gradScale = TRAINING_OPTIONS.gradScale.check(value, 'gradScale');
  }

  /**
   * One read-only view per param group. `paramGroups[i].lr` (or `.hyperParameters.lr`) can be assigned and is
   * validated like `optimizer.lr`; any other write, delete or redefinition throws an OptimizerConfigError.
   */
  readonly paramGroups: readonly ParamGroupHandle[];
  /** Resolves when the optimizer's GPUDevice is lost; every later call throws an OptimizerStateError. */
  readonly deviceLost: Promise<GPUDeviceLostInfo>;
  /** Bytes of GPU memory this optimizer allocated (moments, tables, uniforms). */
  readonly byteSize: number;
  /** Dispatches recorded per step; independent of the number of tensors that share buffers. */
  readonly dispatchesPerStep: number;
  readonly name: string;
  readonly tensorCount: number;

  readonly #device: GPUDevice;
  readonly #groups: { hp: GroupHyperParameters }[];
  readonly #tensors: StatePlacementOf[];
  readonly #kernels: Kernels;
  readonly #buffers: StateBuffers;
  readonly #ring: CallRing;
  readonly #training: ResolvedTraining;
  readonly #binder: StepBufferBinder;
  readonly #info = newStepInfo();
  readonly #stepsPerEncoder = new WeakMap<GPUCommandEncoder, number>();
  readonly #passLabel: string;
  readonly #passDescriptor: GPUComputePassDescriptor;
  /** This call's values besides lr and the mask, updated in place (step() allocates nothing). */
  readonly #call: { gradScale: number; maxGradNorm: number; scheduled: boolean; generation: number };
  readonly #ledger = new StepLedger();
  #destroyed = false;
  #lost: GPUDeviceLostInfo | undefined;
  /** Error scopes around recordings: a recording WebGPU refuses is taken back (#onRecordingRefused). */
  readonly #watch: RecordingWatch;
  readonly #transfer: StateTransfer;

  /** @internal Built by create.ts's sequence; use createRAdam / createAdam / createAdamW / createSGD. */
  constructor(parts: OptimizerParts) {
    const { device, kernels, buffers, ring, training } = parts;
    this.#device = device;
    this.name = parts.name;
    this.#passLabel = `webgpu-radam ${parts.name} step`;
    this.#passDescriptor = { label: this.#passLabel };
    this.#groups = parts.groups;
    this.#tensors = parts.tensors;
    this.#kernels = kernels;
    this.#buffers = buffers;
    this.#ring = ring;
    this.#training = training;
    this.#binder = new StepBufferBinder(
      kernels.units,
      parts.tensors.map((tensor) => tensor.name),
      parts.name,
    );
    this.#call = {
      gradScale: training.gradScale,
      maxGradNorm: training.maxGradNorm,
      scheduled: training.scheduled,
      generation: 0,
    };
    this.tensorCount = parts.tensors.length;
    this.dispatchesPerStep = kernels.dispatches;
    this.byteSize = buffers.owned.reduce((sum, buffer) => sum + buffer.size, 0);
    this.paramGroups = paramGroupHandles(parts.groups);
    this.#watch = new RecordingWatch(device, this.#onRecordingRefused);
    this.#transfer = new StateTransfer({
      ...parts,
      paramGroups: this.paramGroups,
      ledger: this.#ledger,
      watch: this.#watch,
      call: this.#call,
    });
    this.deviceLost = device.lost.then((info) => {
      this.#lost = info;
      return info;
    });
    lockReadOnlyFields(this, [
      'paramGroups',
      'deviceLost',
      'byteSize',
      'dispatchesPerStep',
      'name',
      'tensorCount',
    ]);
  }

  #assertUsable(): void {
    if (this.#destroyed) throw new OptimizerStateError(`${this.name}: used after destroy()`);
    if (this.#lost) {
      throw new OptimizerStateError(
        `${this.name}: its GPUDevice was lost (${this.#lost.reason}: ${this.#lost.message}); ` +
          'create a new optimizer on a new device and loadStateDict() the last saved state',
      );
    }
  }

  /** Marks a tensor as having (or not having) a gradient: inactive tensors are left untouched by step(). */
  setActive(tensor: number, active: boolean): void {
    this.#assertUsable();
    checkTensorIndex(tensor, this.tensorCount);
    // Truthiness would read 'no' or 'false' as true.
    flag(active, 'active');
    this.#ring.setActive(tensor, active);
  }

  /** Whether tensor `tensor` takes part in the next step (see `setActive`). */
  isActive(tensor: number): boolean {
    checkTensorIndex(tensor, this.tensorCount);
    return this.#ring.isActive(tensor);
  }

  #scheduleFactor(count: number): number {
    return checkedScheduleFactor(this.#training.schedule, count, this.#groups);
  }

  /**
   * Records one optimizer step into `encoder`; nothing runs until the caller submits it. Writes this step's
   * per-call data into its own ring slot, so steps recorded before their submits (into one encoder or several,
   * submitted in any order) each see their own values; see ExecutionOptions.maxPendingSteps for the limit.
   * `timestampWrites` (device with 'timestamp-query') brackets the step's single compute pass, for profiling.
   * Bad arguments throw before anything changes; the host's step count moves only once the step is recorded.
   *
   * `options.grads` / `options.params` bind other buffers for this step only (per tensor, at the byte offsets
   * given at creation), for engines that hand out fresh buffers every step; bind groups are cached per buffer
   * pair (the last 8 per dispatch), so a warm loop allocates nothing. The older form
   * `step(encoder, timestampWrites)` still works.
   */
  step(encoder: GPUCommandEncoder, options?: StepOptions | GPUComputePassTimestampWrites): void {
    this.#record(encoder, options, true);
  }

  /** `watch`: check for validation errors the encoder raises (a caller's encoder may already be finished). */
  #record(encoder: GPUCommandEncoder, options: StepArgument, watch: boolean): void {
    this.#assertUsable();
    this.#ledger.assertRunning();
    const timestampWrites = timestampWritesOf(options);
    checkStepArguments(encoder, timestampWrites, this.name);
    const buffers = givenBuffers(options);
    if (buffers !== undefined) this.#binder.check(buffers.params, buffers.grads);
    const recorded = this.#stepsPerEncoder.get(encoder) ?? 0;
    if (recorded >= this.#ring.slots) {
      throw new OptimizerStateError(
        `${this.name}: ${recorded} steps are already recorded into this command encoder; submit it first ` +
          `(or raise maxPendingSteps, now ${this.#ring.slots})`,
      );
    }
    const step = this.#ledger.completed + 1;
    if (step > MAX_STEP_COUNT) {
      throw new OptimizerStateError(
        `${this.name}: step ${step} would pass the largest step count, ${MAX_STEP_COUNT}`,
      );
    }
    // A schedule that throws or returns garbage must leave everything unchanged: evaluate it first. It sees the
    // count of steps completed before this one (torch LambdaLR, optax); the GPU takes the entry tagged with the
    // step it actually runs as, so skipped steps do not advance the schedule.
    const scheduleFactor = this.#scheduleFactor(step - 1);
    if (this.tensorCount > 0) {
      this.#ring.pack(this.#call, this.#groups);
      this.#encode(encoder, timestampWrites, watch, buffers !== undefined);
      const scheduled = this.#training.scheduled ? scheduleFactor : undefined;
      this.#ring.commit(this.#device.queue, this.#buffers.callRing, this.#buffers.control, step, scheduled);
    }
    this.#stepsPerEncoder.set(encoder, recorded + 1);
    this.#ledger.record(step, this.tensorCount > 0);
    // scheduleFactor is this step's, already evaluated for the GPU: the schedule runs once per step.
    describeStep(this.#info, this.#groups[0]?.hp, step, scheduleFactor);
  }

  #encode(
    encoder: GPUCommandEncoder,
    timestampWrites: GPUComputePassTimestampWrites | undefined,
    watch: boolean,
    buffersGiven: boolean,
  ): void {
    // Recording into a finished encoder raises a device error, not an exception: the watch finds it and
    // #onRecordingRefused takes the step back.
    const watched = watch && this.#watch.begin();
    try {
      // Inside the watched scope: a bind group over a buffer WebGPU refuses (destroyed, another device) is
      // reported like a refused recording and the step taken back.
      if (buffersGiven) this.#binder.bind();
      else this.#binder.reset();
      recordStep(
        encoder,
        timestampWrites ? { label: this.#passLabel, timestampWrites } : this.#passDescriptor,
        this.#kernels,
        this.#ring.dynamicOffsets,
        this.#training.gradStats,
        this.#buffers.control,
      );
    } catch (error) {
      if (watched) this.#watch.abandon();
      throw new OptimizerConfigError(
        'encoder',
        `${this.name}.step: the command encoder refused the step (${describeError(error)}); it was not counted`,
        { cause: error },
      );
    }
    if (watched) this.#watch.end();
  }

  // Bound once: watching a recording allocates no closure.
  readonly #onRecordingRefused = (error: GPUError): void => {
    if (this.#destroyed) return;
    // That step never runs: take it back as if it had never been recorded.
    this.#ledger.takeBack(
      `${this.name}.step: a step was recorded into a command encoder that WebGPU refused ` +
        `(${error.message.split('\n')[0]}); that step never runs and is no longer counted`,
    );
    this.#redescribe();
  };

  #redescribe(): void {
    if (this.#ledger.completed <= 0) {
      Object.assign(this.#info, newStepInfo());
      return;
    }
    try {
      const step = this.#ledger.completed;
      describeStep(this.#info, this.#groups[0]?.hp, step, this.#scheduleFactor(step - 1));
    } catch {
      // A schedule that fails here failed (and threw) for this step when it was recorded: keep what is there.
    }
  }

  /** Records one step into a fresh encoder and submits it. */
  stepAndSubmit(): void {
    this.#assertUsable();
    const encoder = this.#device.createCommandEncoder({ label: `webgpu-radam ${this.name} step` });
    this.#record(encoder, undefined, false);
    this.#device.queue.submit([encoder.finish()]);
  }

  /**
   * Reads the gradient statistics of the last step the GPU ran and every tensor's step count back (one copy,
   * asynchronously; nothing waits on the GPU meanwhile). It also resynchronises stepCount: the GPU's count plus
   * the steps recorded that the GPU had not run yet (encoders not yet submitted), so it may be called at any
   * time. Do so at least every 4096 skipped steps when skipNonFinite is on. Rejects with an OptimizerStateError
   * when the GPU had to reject steps (see ExecutionOptions.maxPendingSteps) or the device is lost meanwhile.
   */
  async readGradStats(): Promise<GradStats> {
    this.#assertUsable();
    return this.#transfer.gradStats();
  }

  /**
   * Reads every tensor's moments and step count back (asynchronously, one consistent snapshot of the steps
   * submitted so far) into a state whose header uses torch's names (exp_avg, exp_avg_sq, step).
   * serializeState() turns it into bytes; loadStateDict() restores it. Resynchronises stepCount and rejects like
   * readGradStats().
   */
  async stateDict(): Promise<OptimizerState> {
    this.#assertUsable();
    return this.#transfer.stateDict();
  }

  /**
   * Restores a snapshot from stateDict() (or converted from torch/tfjs). Everything is checked first — format,
   * version, optimizer kind (`header.optimizer` must be this optimizer's name), tensor count and lengths, group
   * layout, payload bounds, step counts (integers in 0..MAX_STEP_COUNT, none ahead of `header.step`), group
   * learning rates, moments (finite; exp_avg_sq >= 0) — and a mismatch throws an OptimizerStateError naming the
   * field, with nothing changed. Then moments, step counts and group learning rates are written
   * (queue writes, ordered before the next submitted step).
   */
  loadStateDict(state: OptimizerState): void {
    this.#assertUsable();
    this.#transfer.load(state);
  }

  /**
   * Where tensor i's state lives (for state readback and tests): moments, AMSGrad's max and Lookahead's slow
   * weights share one placement (the slow weights hold a value once the tensor has taken a step).
   */
  stateLocation(tensor: number): {
    expAvg: GPUBuffer;
    expAvgSq: GPUBuffer | undefined;
    expAvgSqMax: GPUBuffer | undefined;
    slow: GPUBuffer | undefined;
    byteOffset: number;
    /** Where the slow weights start in `slow` (after the max when one buffer holds both). */
    slowByteOffset: number;
    length: number;
  } {
    this.#assertUsable();
    return stateLocationOf(this.#buffers, this.#tensors, tensor, this.#training.stateFormat);
  }

  /** Frees the moments, tables and uniforms this optimizer allocated; never the caller's buffers. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const buffer of this.#buffers.owned) buffer.destroy();
  }

  /** `destroy()`, for `using optimizer = await createRAdam(…)`. */
  [Symbol.dispose](): void {
    this.destroy();
  }
}

/** What create.ts's sequence hands the optimizer, in bundles. */
export interface OptimizerParts {
  device: GPUDevice;
  name: string;
  groups: { hp: GroupHyperParameters; tensors: number[] }[];
  /** Each tensor's name, length and where its moments live. */
  tensors: StatePlacementOf[];
  kernels: Kernels;
  buffers: StateBuffers;
  ring: CallRing;
  training: ResolvedTraining;
}
