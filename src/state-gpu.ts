// The GPU side of the optimizer's state (state.ts holds the pure format and checks): where each tensor's state
// lives, what stateDict() reads back and how the pages become a state, and loadStateDict()'s writes: a state
// already checked (loadProblem) written as queue writes, ordered before the next submitted step, with the control
// words reset, so a loaded state ends a halt after rejected steps and the steps recorded before it no longer run
// or count. Moments are f32 or bf16 (two per u32 word, low half first); AMSGrad's max and the slow weights are
// always f32.
import {
  BF16_STATE_ELEMENT_BYTES,
  GRAD_CONTROL,
  momentElementBytes,
  STATE_ELEMENT_BYTES,
  WORD_BYTES,
} from './contract';
import { configAssert } from './errors';
import type { ReadRegion } from './readback';
import type { StateBuffers } from './resources';
import { assembleState, type OptimizerState, type StateLocation, type StatePlacementOf } from './state';
import type { StateFormat } from './training-options';

/** Where tensor `tensor`'s state lives; an index out of range throws an OptimizerConfigError. */
export function stateLocationOf(
  buffers: StateBuffers,
  tensors: readonly StatePlacementOf[],
  tensor: number,
  format: StateFormat,
): StateLocation {
  const placement = tensors[tensor];
  configAssert(
    placement !== undefined,
    'tensor',
    () => `Invalid tensor index: ${tensor} (expected 0..${tensors.length - 1})`,
  );
  return {
    expAvg: buffers.expAvgPages[placement.page]!,
    expAvgSq: buffers.expAvgSqPages[placement.page],
    expAvgSqMax: buffers.amsgrad ? buffers.extraPages[placement.page] : undefined,
    slow: buffers.lookahead ? buffers.extraPages[placement.page] : undefined,
    byteOffset: placement.offset * momentElementBytes(format),
    slowByteOffset: buffers.slowPageOffsets[placement.page]! + placement.offset * STATE_ELEMENT_BYTES,
    length: placement.length,
  };
}

/**
 * stateDict()'s one snapshot: step counts, control words, which slow weights hold a value, then every exp_avg
 * page, every exp_avg_sq page and every extra page (AMSGrad's max, slow weights).
 */
export function stateRegions(buffers: StateBuffers, tensorCount: number): ReadRegion[] {
  const countBytes = Math.max(WORD_BYTES, tensorCount * WORD_BYTES);
  const pages = [...buffers.expAvgPages, ...buffers.expAvgSqPages, ...buffers.extraPages];
  return [
    { buffer: buffers.stepCounts, size: countBytes },
    { buffer: buffers.control, size: GRAD_CONTROL.bytes },
    { buffer: buffers.slowSeeded, size: countBytes },
    ...pages.map((page) => ({ buffer: page, size: page.size })),
  ];
}

/** What stateDict() needs besides the readback of `stateRegions` (control words excepted). */
export interface StateSnapshot {
  name: string;
  completed: number;
  paramGroups: readonly { lr: number; tensors: readonly number[] }[];
  tensors: readonly StatePlacementOf[];
  format: StateFormat;
}

/** The state dict in a readback of `stateRegions`: [counts, control, slowSeeded, ...pages]. */
export function stateFromReadback(
  buffers: StateBuffers,
  snapshot: StateSnapshot,
  [counts, _control, seeded, ...pageBytes]: readonly ArrayBuffer[],
): OptimizerState {
  const { expAvgPages, expAvgSqPages, extraPages, amsgrad, lookahead, slowPageOffsets } = buffers;
  const bf16 = snapshot.format === 'bf16';
  const momentPages = expAvgPages.length + expAvgSqPages.length;
  const data = pageBytes.map((bytes, index) =>
    bf16 && index < momentPages ? widenBf16(bytes) : new Float32Array(bytes),
  );
  const take = (count: number) => data.splice(0, count);
  const expAvg = take(expAvgPages.length);
  const expAvgSq = take(expAvgSqPages.length);
  const extra = take(extraPages.length);
  const state = assembleState(
    snapshot.name,
    snapshot.completed,
    snapshot.paramGroups,
    snapshot.tensors,
    new Uint32Array(counts!),
    expAvg,
    expAvgSq,
    {
      expAvgSqMax: amsgrad ? extra : [],
      slow: lookahead ? extra.map((page, p) => page.subarray(slowPageOffsets[p]! / STATE_ELEMENT_BYTES)) : [],
      slowSeeded: new Uint32Array(seeded!),
    },
  );
  if (bf16) state.header.stateFormat = 'bf16';
  return state;
}

/**
 * Writes moments (and AMSGrad's max, slow weights), step counts and control words; `generation` is the state
 * generation the next steps carry.
 */
export function uploadState(
  queue: GPUQueue,
  buffers: StateBuffers,
  tensors: readonly StatePlacementOf[],
  { header, payload }: OptimizerState,
  generation: number,
  format: StateFormat,
): void {
  const { expAvgPages, expAvgSqPages, extraPages, amsgrad, slowPageOffsets } = buffers;
  header.tensors.forEach((t, i) => {
    const mine = tensors[i]!;
    if (t.length === 0) return;
    if (format === 'bf16') {
      const momentAt = mine.offset * BF16_STATE_ELEMENT_BYTES;
      queue.writeBuffer(expAvgPages[mine.page]!, momentAt, narrowToBf16(payload, t.exp_avg, t.length));
      if (t.exp_avg_sq !== undefined)
        queue.writeBuffer(expAvgSqPages[mine.page]!, momentAt, narrowToBf16(payload, t.exp_avg_sq, t.length));
    }
    // AMSGrad's max and the slow weights are f32 in either format, at the same element index as the moments.
    const at = mine.offset * STATE_ELEMENT_BYTES;
    if (format === 'f32') {
      queue.writeBuffer(expAvgPages[mine.page]!, at, payload, t.exp_avg, t.length);
      if (t.exp_avg_sq !== undefined)
        queue.writeBuffer(expAvgSqPages[mine.page]!, at, payload, t.exp_avg_sq, t.length);
    }
    // Without a saved max (a state from before AMSGrad), the max restarts from v, its lower bound.
    const max = t.max_exp_avg_sq ?? t.exp_avg_sq;
    if (amsgrad && max !== undefined) queue.writeBuffer(extraPages[mine.page]!, at, payload, max, t.length);
    if (t.slow_buffer !== undefined) {
      const slowAt = slowPageOffsets[mine.page]! + at;
      queue.writeBuffer(extraPages[mine.page]!, slowAt, payload, t.slow_buffer, t.length);
    }
  });
  if (tensors.length > 0) {
    queue.writeBuffer(
      buffers.stepCounts,
      0,
      Uint32Array.from(header.tensors, (t) => t.step),
    );
    // Slow weights not in the state start again from the params at the tensor's next step (as Ranger does for a
    // tensor without slow_buffer).
    queue.writeBuffer(
      buffers.slowSeeded,
      0,
      Uint32Array.from(header.tensors, (t) => (t.slow_buffer === undefined ? 0 : 1)),
    );
  }
  // executedCalls, completedSteps, lostCalls, unscheduledCalls, generation.
  const control = new DataView(new ArrayBuffer(GRAD_CONTROL.bytes - GRAD_CONTROL.offset.executedCalls));
  const word = (field: keyof typeof GRAD_CONTROL.offset, value: number) =>
    control.setUint32(GRAD_CONTROL.offset[field] - GRAD_CONTROL.offset.executedCalls, value, true);
  word('executedCalls', 0);
  word('completedSteps', header.step);
  word('lostCalls', 0);
  word('unscheduledCalls', 0);
  word('generation', generation);
  queue.writeBuffer(buffers.control, GRAD_CONTROL.offset.executedCalls, control.buffer);
}

/** A bf16 page (two moments per word, low half first) as f32 values, exactly. */
function widenBf16(bytes: ArrayBuffer): Float32Array {
  const halves = new Uint16Array(bytes);
  const words = new Uint32Array(halves.length);
  for (let i = 0; i < halves.length; i++) words[i] = halves[i]! << 16;
  return new Float32Array(words.buffer);
}

/**
 * `length` f32 moments from `payload` as bf16 halves, rounded to nearest even (exact for moments that came from a
 * bf16 state), padded to whole words: the padding lies in the tensor's aligned state slot.
 */
function narrowToBf16(payload: Float32Array, start: number, length: number): Uint16Array<ArrayBuffer> {
  const bits = new Uint32Array(Float32Array.from(payload.subarray(start, start + length)).buffer);
  const halves = new Uint16Array(length + (length % 2));
  for (let i = 0; i < length; i++) {
    const b = bits[i]!;
    halves[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
  return halves;
}
