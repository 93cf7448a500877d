// The GPU side of the optimizer's state (state.ts holds the pure format and checks): where each tensor's moments
// live, what stateDict() reads back, and loadStateDict()'s writes: a state already checked (loadProblem) written
// as queue writes, ordered before the next submitted step, with the control words reset, so a loaded state ends a
// halt after rejected steps and the steps recorded before it no longer run or count.
import { GRAD_CONTROL, STATE_ELEMENT_BYTES, WORD_BYTES } from './contract';
import { configAssert } from './errors';
import type { ReadRegion } from './readback';
import type { StateBuffers } from './resources';
import type { OptimizerState, StateLocation, StatePlacementOf } from './state';

/** Where tensor `tensor`'s moments live; an index out of range throws an OptimizerConfigError. */
export function stateLocationOf(
  buffers: StateBuffers,
  tensors: readonly StatePlacementOf[],
  tensor: number,
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
    byteOffset: placement.offset * STATE_ELEMENT_BYTES,
    length: placement.length,
  };
}

/** stateDict()'s one snapshot: step counts, control words, then every exp_avg page and every exp_avg_sq page. */
export function stateRegions(buffers: StateBuffers, tensorCount: number): ReadRegion[] {
  return [
    { buffer: buffers.stepCounts, size: Math.max(WORD_BYTES, tensorCount * WORD_BYTES) },
    { buffer: buffers.control, size: GRAD_CONTROL.bytes },
    ...[...buffers.expAvgPages, ...buffers.expAvgSqPages].map((page) => ({ buffer: page, size: page.size })),
  ];
}

/** Writes moments, step counts and control words; `generation` is the state generation the next steps carry. */
export function uploadState(
  queue: GPUQueue,
  buffers: StateBuffers,
  tensors: readonly StatePlacementOf[],
  { header, payload }: OptimizerState,
  generation: number,
): void {
  const { expAvgPages, expAvgSqPages } = buffers;
  header.tensors.forEach((t, i) => {
    const mine = tensors[i]!;
    if (t.length === 0) return;
    const at = mine.offset * STATE_ELEMENT_BYTES;
    queue.writeBuffer(expAvgPages[mine.page]!, at, payload, t.exp_avg, t.length);
    if (t.exp_avg_sq !== undefined)
      queue.writeBuffer(expAvgSqPages[mine.page]!, at, payload, t.exp_avg_sq, t.length);
  });
  if (tensors.length > 0) {
    queue.writeBuffer(
      buffers.stepCounts,
      0,
      Uint32Array.from(header.tensors, (t) => t.step),
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
