// The per-call data of recorded steps. Each recorded step owns one slot of a ring (serial % slots) holding its
// gradient unscale factor, clipping norm, epoch, state generation, each group's lr and the active mask, so steps
// recorded before their submits each see their own values. A slot's epoch (serial / slots, modulo CALL_EPOCHS)
// is written into the slot and carried by the command stream as a second dynamic offset, so prepare can reject a
// step whose slot a later recording overwrote. Also writes the schedule entry tagged with the step it belongs to.
// Allocation-free: step() uses it on every step.
import { CALL, callWords, GRAD_CONTROL, SCHEDULE_ENTRY, WORD_BYTES } from './contract';

/**
 * Epochs the command stream can name (entries of the constant epoch buffer): an overwritten slot goes unnoticed
 * only if it was overwritten exactly a multiple of 256 ring turns later, i.e. with ~10^6 steps pending.
 */
export const CALL_EPOCHS = 256;

/** This call's values, besides the groups' lr and the active mask. */
export interface CallValues {
  gradScale: number;
  maxGradNorm: number;
  scheduled: boolean;
  generation: number;
}

export class CallRing {
  /** [call slot byte offset, expected epoch byte offset]: the dynamic offsets of the step being recorded. */
  readonly dynamicOffsets = new Uint32Array(2);
  /** One bit per tensor: inactive tensors are left untouched by the step. */
  readonly activeMask: Uint32Array;
  readonly #bytes: ArrayBuffer;
  readonly #view: DataView;
  readonly #scheduleEntry = new DataView(new ArrayBuffer(SCHEDULE_ENTRY.bytes));
  readonly #groupCount: number;
  /** Calls recorded so far, each owning ring slot serial % slots. */
  #serial = 0;

  constructor(
    readonly slots: number,
    readonly slotStride: number,
    readonly epochStride: number,
    readonly scheduleTableLength: number,
    groupCount: number,
    tensorCount: number,
  ) {
    this.#groupCount = groupCount;
    this.activeMask = new Uint32Array(Math.ceil(tensorCount / 32)).fill(0xffffffff);
    this.#bytes = new ArrayBuffer(callWords(groupCount, tensorCount) * WORD_BYTES);
    this.#view = new DataView(this.#bytes);
  }

  /** Whether `tensor` takes part in the steps recorded from now on. */
  setActive(tensor: number, active: boolean): void {
    const bit = 1 << (tensor % 32);
    const word = tensor >> 5;
    this.activeMask[word] = active ? this.activeMask[word]! | bit : this.activeMask[word]! & ~bit;
  }

  isActive(tensor: number): boolean {
    return ((this.activeMask[tensor >> 5]! >>> (tensor % 32)) & 1) === 1;
  }

  /**
   * Fills the next slot's data and the dynamic offsets, changing nothing else: a recording that fails after this
   * leaves the ring as it was.
   */
  pack(values: CallValues, groups: readonly { readonly hp: { readonly lr: number } }[]): void {
    const serial = this.#serial;
    const epoch = Math.floor(serial / this.slots) % CALL_EPOCHS;
    const view = this.#view;
    const word = CALL.code;
    view.setFloat32(word.invScale * WORD_BYTES, 1 / values.gradScale, true);
    view.setFloat32(word.maxNorm * WORD_BYTES, values.maxGradNorm, true);
    view.setUint32(word.maskStart * WORD_BYTES, word.groupLr + this.#groupCount, true);
    view.setUint32(word.epoch * WORD_BYTES, epoch, true);
    view.setUint32(word.scheduled * WORD_BYTES, values.scheduled ? 1 : 0, true);
    view.setUint32(word.generation * WORD_BYTES, values.generation, true);
    // Plain loops: step() is the hot path and allocates nothing, not even callbacks.
    for (let g = 0; g < this.#groupCount; g++) {
      view.setFloat32((word.groupLr + g) * WORD_BYTES, groups[g]!.hp.lr, true);
    }
    const maskStart = (word.groupLr + this.#groupCount) * WORD_BYTES;
    for (let w = 0; w < this.activeMask.length; w++) {
      view.setUint32(maskStart + w * WORD_BYTES, this.activeMask[w]!, true);
    }
    this.dynamicOffsets[0] = (serial % this.slots) * this.slotStride;
    this.dynamicOffsets[1] = epoch * this.epochStride;
  }

  /**
   * Queues the packed slot (and, with a schedule, step `step`'s schedule entry) and moves to the next slot. Queue
   * writes take effect before any later submit, so before the encoder the step was recorded into.
   */
  commit(
    queue: GPUQueue,
    callRing: GPUBuffer,
    control: GPUBuffer,
    step: number,
    scheduleFactor: number | undefined,
  ): void {
    queue.writeBuffer(callRing, this.dynamicOffsets[0]!, this.#bytes);
    if (scheduleFactor !== undefined) {
      this.#scheduleEntry.setUint32(SCHEDULE_ENTRY.offset.step, step, true);
      this.#scheduleEntry.setFloat32(SCHEDULE_ENTRY.offset.factor, scheduleFactor, true);
      const entryOffset = GRAD_CONTROL.bytes + (step % this.scheduleTableLength) * SCHEDULE_ENTRY.bytes;
      queue.writeBuffer(control, entryOffset, this.#scheduleEntry.buffer);
    }
    this.#serial++;
  }
}
