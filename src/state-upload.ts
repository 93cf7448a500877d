// The GPU side of loadStateDict(): a state already checked (state.ts's loadProblem) written into the optimizer's
// buffers as queue writes, so they are ordered before the next submitted step. Also resets the control words, so
// a loaded state ends a halt after rejected steps and the steps recorded before it no longer run or count.
import { GRAD_CONTROL, STATE_ELEMENT_BYTES } from './contract';
import type { StateBuffers } from './resources';
import type { OptimizerState, StatePlacementOf } from './state';

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
