// The live optimizer: what step() records, the setters between steps, state dicts and readbacks, and its
// lifetime. Everything it holds was built by create.ts's sequence and arrives in a few bundles (kernels, buffers,
// call ring, training options); nothing here allocates GPU objects after construction except readbacks.
import type { CallRing } from './call-ring';
import { GRAD_CONTROL, STATE_ELEMENT_BYTES, WORD_BYTES } from './contract';
import { configAssert, describeValue, OptimizerConfigError, OptimizerStateError } from './errors';
import { type Kernels, recordPass } from './kernels';
import { validateLearningRate } from './options';
import { describeError, type ReadRegion, readBackRegions, settleStepCount } from './readback';
import type { StateBuffers } from './resources';
import { assembleState, loadProblem, type OptimizerState, type StatePlacementOf } from './state';
import { checkTimestampWrites, isCommandEncoder } from './step-arguments';
import {
  type GroupHyperParameters,
  MAX_STEP_COUNT,
  newStepInfo,
  type StepInfo,
  stepFactors,
} from './step-scalars';
import { checkedScheduleFactor, type ResolvedTraining, TRAINING_OPTIONS } from './training-options';
import { lockReadOnlyFields, readOnlyView } from './views';

export type { ExecutionOptions, TrainingOptions } from './training-options';

/**
 * A param group of a live optimizer, as a read-only view of its live values. Assigning `lr` here or in
 * `hyperParameters` is validated like `optimizer.lr`; every other write, delete, redefinition or freeze of the
 * handle, `tensors` or `hyperParameters` throws an OptimizerConfigError and changes nothing. Spread them to get
 * a plain copy (`{ ...group.hyperParameters }`, `[...group.tensors]`); structuredClone() cannot copy views.
 */
export interface ParamGroupHandle {
  /** Base learning rate (before the schedule): a finite f32 >= 0. Changing it rebuilds nothing. */
  lr: number;
  /** Global indices of this group's tensors (the order of state dicts). */
  readonly tensors: readonly number[];
  readonly hyperParameters: Readonly<GroupHyperParameters>;
}

/** What a stats readback found: see FusedOptimizer.readGradStats(). */
export interface GradStats {
  /** Whether the last step saw a non-finite gradient (and was skipped). Only with skipNonFinite or maxGradNorm. */
  nonFinite: boolean;
  /** Global L2 norm of the unscaled gradients of the last step (NaN/Inf when non-finite). Needs skipNonFinite or maxGradNorm. */
  gradNorm: number;
  /** Optimizer steps taken, skipped ones excluded. */
  completedSteps: number;
  /** Per tensor: steps taken (torch's state['step']). */
  stepCounts: Uint32Array;
}

// Error scopes around recordings still waiting for their result; a loop that never yields stops adding more, so
// memory stays bounded (those steps are then recorded without the check).
const MAX_WATCHED_RECORDINGS = 256;
/**
 * The fused optimizer. Each step is one compute pass: (with gradient checks) a reduction over the gradients and a
 * one-workgroup finalize, a one-workgroup prepare dispatch for all tensors, and one step dispatch per batch of
 * tensors that share a param buffer, a grad buffer and a moment page (two when some tensors need a scalar tail).
 * Created through createRAdam / createAdam / createAdamW / createSGD.
 */
export class FusedOptimizer {
  /**
   * Optimizer steps recorded so far, minus those known to have been skipped or rejected: the last readback's GPU
   * count plus every step recorded since that the GPU had not yet run (see readGradStats()).
   */
  get stepCount(): number {
    return this.#completed;
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
  readonly #info = newStepInfo();
  readonly #stepsPerEncoder = new WeakMap<GPUCommandEncoder, number>();
  readonly #passLabel: string;
  readonly #passDescriptor: GPUComputePassDescriptor;
  /** This call's values besides lr and the mask, updated in place (step() allocates nothing). */
  readonly #call: { gradScale: number; maxGradNorm: number; scheduled: boolean; generation: number };
  /** Calls recorded that run a prepare dispatch, minus those known to have failed to record. */
  #recordedCalls = 0;
  /** Recording checks still outstanding at the last loadStateDict(). */
  #checksBeforeLoad = 0;
  #completed = 0;
  #destroyed = false;
  #lost: GPUDeviceLostInfo | undefined;
  /** Why the GPU rejected steps (lost call data, no schedule entry); every step and readback then throws. */
  #halted: string | undefined;
  /** A recording that WebGPU rejected after step() returned; the next step or readback reports it once. */
  #recordingFailure: string | undefined;
  #watchedRecordings = 0;
  #lastWatch: Promise<void> = Promise.resolve();

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
    this.#call = {
      gradScale: training.gradScale,
      maxGradNorm: training.maxGradNorm,
      scheduled: training.scheduled,
      generation: 0,
    };
    this.tensorCount = parts.tensors.length;
    this.dispatchesPerStep = kernels.dispatches;
    this.byteSize = buffers.owned.reduce((sum, buffer) => sum + buffer.size, 0);
    this.paramGroups = readOnlyView(
      parts.groups.map((group, index): ParamGroupHandle => {
        const where = `paramGroups[${index}]`;
        const hp = group.hp;
        const lrSetter = (field: string) => (value: unknown) => {
          hp.lr = validateLearningRate(value, field, hp);
        };
        const handle = {
          get lr() {
            return hp.lr;
          },
          tensors: readOnlyView([...group.tensors], `${where}.tensors`),
          hyperParameters: readOnlyView(hp, `${where}.hyperParameters`, {
            lr: lrSetter(`${where}.hyperParameters.lr`),
          }),
        };
        return readOnlyView(handle, where, { lr: lrSetter(`${where}.lr`) });
      }),
      'paramGroups',
    );
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
    this.#assertTensorIndex(tensor);
    // Truthiness would read 'no' or 'false' as true.
    configAssert(
      typeof active === 'boolean',
      'active',
      () => `Invalid active: ${describeValue(active)} (expected true or false)`,
    );
    const bit = 1 << (tensor % 32);
    const word = tensor >> 5;
    this.#ring.activeMask[word] = active
      ? this.#ring.activeMask[word]! | bit
      : this.#ring.activeMask[word]! & ~bit;
  }

  /** Whether tensor `tensor` takes part in the next step (see `setActive`). */
  isActive(tensor: number): boolean {
    this.#assertTensorIndex(tensor);
    return ((this.#ring.activeMask[tensor >> 5]! >>> (tensor % 32)) & 1) === 1;
  }

  #assertTensorIndex(tensor: unknown): asserts tensor is number {
    configAssert(
      typeof tensor === 'number' && Number.isInteger(tensor) && tensor >= 0 && tensor < this.tensorCount,
      'tensor',
      () =>
        `Invalid tensor index: ${describeValue(tensor)} (expected an integer in 0..${this.tensorCount - 1})`,
    );
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
   */
  step(encoder: GPUCommandEncoder, timestampWrites?: GPUComputePassTimestampWrites): void {
    this.#record(encoder, timestampWrites, true);
  }

  /** `watch`: check for validation errors the encoder raises (a caller's encoder may already be finished). */
  #record(
    encoder: GPUCommandEncoder,
    timestampWrites: GPUComputePassTimestampWrites | undefined,
    watch: boolean,
  ): void {
    this.#assertUsable();
    this.#assertRunning();
    configAssert(
      isCommandEncoder(encoder),
      'encoder',
      () => `${this.name}.step: expected a GPUCommandEncoder, got ${describeValue(encoder)}`,
    );
    checkTimestampWrites(timestampWrites, this.name);
    const recorded = this.#stepsPerEncoder.get(encoder) ?? 0;
    if (recorded >= this.#ring.slots) {
      throw new OptimizerStateError(
        `${this.name}: ${recorded} steps are already recorded into this command encoder; submit it first ` +
          `(or raise maxPendingSteps, now ${this.#ring.slots})`,
      );
    }
    const step = this.#completed + 1;
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
      this.#encode(encoder, timestampWrites, watch);
      const scheduled = this.#training.scheduled ? scheduleFactor : undefined;
      this.#ring.commit(this.#device.queue, this.#buffers.callRing, this.#buffers.control, step, scheduled);
      this.#recordedCalls++;
    }
    this.#stepsPerEncoder.set(encoder, recorded + 1);
    this.#completed = step;
    this.#describe(step, scheduleFactor);
  }

  #encode(
    encoder: GPUCommandEncoder,
    timestampWrites: GPUComputePassTimestampWrites | undefined,
    watch: boolean,
  ): void {
    const device = this.#device;
    // Recording into a finished encoder raises a device error, not an exception: an error scope catches it and
    // #onRecordingChecked takes the step back. A loop that never yields stops watching at the cap.
    const watched = watch && this.#watchedRecordings < MAX_WATCHED_RECORDINGS;
    if (watched) device.pushErrorScope('validation');
    let pass: GPUComputePassEncoder | undefined;
    let open = false;
    try {
      if (this.#training.gradStats) {
        encoder.clearBuffer(this.#buffers.control, GRAD_CONTROL.offset.nonFinite, WORD_BYTES);
      }
      // The optimizer's whole step is this one pass, so a caller's timestamps bracket exactly the step.
      pass = encoder.beginComputePass(
        timestampWrites ? { label: this.#passLabel, timestampWrites } : this.#passDescriptor,
      );
      open = true;
      recordPass(pass, this.#kernels, this.#ring.dynamicOffsets, this.#training.gradStats);
      open = false;
      pass.end();
    } catch (error) {
      if (watched) device.popErrorScope().catch(() => null);
      // Leave the caller's encoder usable for their own work.
      if (open) pass?.end();
      throw new OptimizerConfigError(
        'encoder',
        `${this.name}.step: the command encoder refused the step (${describeError(error)}); it was not counted`,
        { cause: error },
      );
    }
    if (watched) {
      this.#watchedRecordings++;
      this.#lastWatch = device.popErrorScope().then(this.#onRecordingChecked, this.#onRecordingUnchecked);
    }
  }

  // Bound once: watching a recording allocates no closure.
  readonly #onRecordingChecked = (error: GPUError | null): void => {
    this.#watchedRecordings--;
    // Checks resolve in recording order; those of steps recorded before a loadStateDict() concern a count that
    // the load has already replaced.
    if (this.#checksBeforeLoad > 0) {
      this.#checksBeforeLoad--;
      return;
    }
    if (error === null || this.#destroyed) return;
    // That step never runs: take it back as if it had never been recorded.
    this.#recordedCalls--;
    this.#completed--;
    this.#recordingFailure ??=
      `${this.name}.step: a step was recorded into a command encoder that WebGPU refused ` +
      `(${error.message.split('\n')[0]}); that step never runs and is no longer counted`;
    this.#redescribe();
  };

  readonly #onRecordingUnchecked = (): void => {
    this.#watchedRecordings--;
    if (this.#checksBeforeLoad > 0) this.#checksBeforeLoad--;
  };

  /** Refuses to go on after the GPU rejected steps, and reports (once) a recording WebGPU refused. */
  #assertRunning(): void {
    if (this.#halted !== undefined) throw new OptimizerStateError(this.#halted);
    const failure = this.#recordingFailure;
    if (failure !== undefined) {
      this.#recordingFailure = undefined;
      throw new OptimizerStateError(failure);
    }
  }

  #redescribe(): void {
    if (this.#completed <= 0) {
      Object.assign(this.#info, newStepInfo());
      return;
    }
    try {
      this.#describe(this.#completed, this.#scheduleFactor(this.#completed - 1));
    } catch {
      // A schedule that fails here failed (and threw) for this step when it was recorded: keep what is there.
    }
  }

  /** `scheduleFactor` is this step's, already evaluated for the GPU: the schedule runs once per step. */
  #describe(step: number, scheduleFactor: number): void {
    const group = this.#groups[0];
    const info = this.#info;
    info.step = step;
    if (!group) return;
    const factors = stepFactors(group.hp, step);
    info.lr = group.hp.lr * scheduleFactor;
    info.branch = factors.branch;
    info.bc1 = factors.bc1;
    info.bc2 = factors.bc2;
    info.rhoT = factors.rhoT;
    info.rect = factors.rect;
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
    const [controlBytes, counts] = await this.#readBack('readGradStats', [
      { buffer: this.#buffers.control, size: GRAD_CONTROL.bytes },
      { buffer: this.#buffers.stepCounts, size: Math.max(WORD_BYTES, this.tensorCount * WORD_BYTES) },
    ]);
    const view = new DataView(controlBytes!);
    const completed = this.#settle(view);
    return {
      nonFinite: view.getUint32(GRAD_CONTROL.offset.nonFinite, true) !== 0,
      gradNorm: this.#training.gradStats ? view.getFloat32(GRAD_CONTROL.offset.gradNorm, true) : Number.NaN,
      completedSteps: completed,
      stepCounts: new Uint32Array(counts!, 0, this.tensorCount),
    };
  }

  /**
   * Reads every tensor's moments and step count back (asynchronously, one consistent snapshot of the steps
   * submitted so far) into a state whose header uses torch's names (exp_avg, exp_avg_sq, step).
   * serializeState() turns it into bytes; loadStateDict() restores it. Resynchronises stepCount and rejects like
   * readGradStats().
   */
  async stateDict(): Promise<OptimizerState> {
    const { expAvgPages, expAvgSqPages } = this.#buffers;
    const [countBytes, controlBytes, ...pageBytes] = await this.#readBack('stateDict', [
      { buffer: this.#buffers.stepCounts, size: Math.max(WORD_BYTES, this.tensorCount * WORD_BYTES) },
      { buffer: this.#buffers.control, size: GRAD_CONTROL.bytes },
      ...[...expAvgPages, ...expAvgSqPages].map((page) => ({ buffer: page, size: page.size })),
    ]);
    const completed = this.#settle(new DataView(controlBytes!));
    const pages = pageBytes.map((bytes) => new Float32Array(bytes));
    return assembleState(
      this.name,
      completed,
      this.paramGroups,
      this.#tensors,
      new Uint32Array(countBytes!),
      pages.slice(0, expAvgPages.length),
      pages.slice(expAvgPages.length),
    );
  }

  /** Copies `regions` in one submit, so they are one snapshot, and wraps any failure into a typed error. */
  async #readBack(method: string, regions: readonly ReadRegion[]): Promise<ArrayBuffer[]> {
    this.#assertUsable();
    this.#assertRunning();
    let data: ArrayBuffer[];
    try {
      data = await readBackRegions(this.#device, regions);
    } catch (error) {
      throw new OptimizerStateError(
        `${this.name}.${method}: the readback failed (${describeError(error)}), usually because the GPUDevice ` +
          'was lost or destroyed meanwhile (see deviceLost)',
        { cause: error },
      );
    }
    // Every step recorded before this readback has had its recording checked by now.
    await this.#lastWatch;
    this.#assertRunning();
    return data;
  }

  /**
   * Brings the host's step count up to date with a readback of the control words and returns the GPU's count of
   * completed steps; throws once the GPU has rejected steps.
   */
  #settle(control: DataView): number {
    // Without tensors nothing runs on the GPU: the host's count is the only one.
    if (this.tensorCount === 0) return this.#completed;
    const settled = settleStepCount(
      control,
      this.#recordedCalls,
      this.name,
      this.#ring.slots,
      this.#ring.scheduleTableLength,
    );
    this.#completed = settled.hostCompleted;
    if (settled.halt === undefined) return settled.gpuCompleted;
    this.#halted = settled.halt;
    throw new OptimizerStateError(settled.halt);
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
    const { expAvgPages, expAvgSqPages } = this.#buffers;
    const problem = loadProblem(state, {
      name: this.name,
      hasSecondMoment: expAvgSqPages.length > 0,
      groups: this.paramGroups.map((group) => group.tensors),
      tensors: this.#tensors,
    });
    if (problem !== undefined) {
      throw new OptimizerStateError(`${this.name}.loadStateDict: ${problem}; nothing was changed`);
    }
    const { header, payload } = state;
    const queue = this.#device.queue;
    header.tensors.forEach((t, i) => {
      const mine = this.#tensors[i]!;
      if (t.length === 0) return;
      const at = mine.offset * STATE_ELEMENT_BYTES;
      queue.writeBuffer(expAvgPages[mine.page]!, at, payload, t.exp_avg, t.length);
      if (t.exp_avg_sq !== undefined)
        queue.writeBuffer(expAvgSqPages[mine.page]!, at, payload, t.exp_avg_sq, t.length);
    });
    if (this.tensorCount > 0) {
      queue.writeBuffer(
        this.#buffers.stepCounts,
        0,
        Uint32Array.from(header.tensors, (t) => t.step),
      );
    }
    // executedCalls, completedSteps, lostCalls, unscheduledCalls, generation: a loaded state also ends a halt
    // after rejected steps, and steps recorded before it (still in unsubmitted encoders) no longer run or count.
    this.#call.generation = (this.#call.generation + 1) >>> 0;
    this.#recordedCalls = 0;
    this.#checksBeforeLoad = this.#watchedRecordings;
    const control = new DataView(new ArrayBuffer(GRAD_CONTROL.bytes - GRAD_CONTROL.offset.executedCalls));
    const word = (field: keyof typeof GRAD_CONTROL.offset, value: number) =>
      control.setUint32(GRAD_CONTROL.offset[field] - GRAD_CONTROL.offset.executedCalls, value, true);
    word('executedCalls', 0);
    word('completedSteps', header.step);
    word('lostCalls', 0);
    word('unscheduledCalls', 0);
    word('generation', this.#call.generation);
    queue.writeBuffer(this.#buffers.control, GRAD_CONTROL.offset.executedCalls, control.buffer);
    header.paramGroups.forEach((group, g) => {
      this.#groups[g]!.hp.lr = group.lr;
    });
    this.#completed = header.step;
    this.#halted = undefined;
    this.#recordingFailure = undefined;
  }

  /** Where tensor i's moments live (for state readback and tests). */
  stateLocation(tensor: number): {
    expAvg: GPUBuffer;
    expAvgSq: GPUBuffer | undefined;
    byteOffset: number;
    length: number;
  } {
    this.#assertUsable();
    const placement = this.#tensors[tensor];
    configAssert(
      placement !== undefined,
      'tensor',
      () => `Invalid tensor index: ${tensor} (expected 0..${this.#tensors.length - 1})`,
    );
    return {
      expAvg: this.#buffers.expAvgPages[placement.page]!,
      expAvgSq: this.#buffers.expAvgSqPages[placement.page],
      byteOffset: placement.offset * STATE_ELEMENT_BYTES,
      length: placement.length,
    };
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
