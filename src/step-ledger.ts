// The host's count of steps, and why it may refuse to go on. step() counts a step when it records it; a recording
// WebGPU refuses later is taken back; a readback settles the count against the GPU's (readback.ts), and a GPU that
// rejected steps halts the optimizer until a state is loaded.
import { OptimizerStateError } from './errors';
import { settleStepCount } from './readback';

export class StepLedger {
  /** Steps recorded, minus those known to have been skipped, rejected or refused. */
  completed = 0;
  /** Calls recorded that run a prepare dispatch, minus those known to have failed to record. */
  #recordedCalls = 0;
  /** Why the GPU rejected steps (lost call data, no schedule entry); every step and readback then throws. */
  #halted: string | undefined;
  /** A recording that WebGPU rejected after step() returned; the next step or readback reports it once. */
  #recordingFailure: string | undefined;

  /** Counts step `step` as recorded; `onGpu`: it runs a prepare dispatch (there are tensors). */
  record(step: number, onGpu: boolean): void {
    if (onGpu) this.#recordedCalls++;
    this.completed = step;
  }

  /** A recorded step that never runs: it no longer counts, and `failure` is reported by the next call. */
  takeBack(failure: string): void {
    this.#recordedCalls--;
    this.completed--;
    this.#recordingFailure ??= failure;
  }

  /** Refuses to go on after the GPU rejected steps, and reports (once) a recording WebGPU refused. */
  assertRunning(): void {
    if (this.#halted !== undefined) throw new OptimizerStateError(this.#halted);
    const failure = this.#recordingFailure;
    if (failure !== undefined) {
      this.#recordingFailure = undefined;
      throw new OptimizerStateError(failure);
    }
  }

  /**
   * Brings the count up to date with a readback of the control words and returns the GPU's count of completed
   * steps; throws once the GPU has rejected steps. Without tensors nothing runs on the GPU: the host's count is
   * the only one.
   */
  settle(
    control: DataView,
    name: string,
    ring: { slots: number; scheduleTableLength: number },
    tensors: number,
  ): number {
    if (tensors === 0) return this.completed;
    const settled = settleStepCount(control, this.#recordedCalls, name, ring.slots, ring.scheduleTableLength);
    this.completed = settled.hostCompleted;
    if (settled.halt === undefined) return settled.gpuCompleted;
    this.#halted = settled.halt;
    throw new OptimizerStateError(settled.halt);
  }

  /** A loaded state: its step count, no halt, and the steps recorded before it no longer run or count. */
  reset(step: number): void {
    this.completed = step;
    this.#recordedCalls = 0;
    this.#halted = undefined;
    this.#recordingFailure = undefined;
  }
}
