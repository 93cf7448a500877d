// Moving an optimizer's state between GPU and host: the readbacks behind readGradStats() and stateDict() (each
// one snapshot, settled against the step ledger and the recording watch) and loadStateDict()'s checked upload.
// Apart from optimizer.ts because none of it is on the step path: it is asynchronous, may allocate, and changes
// with the state format, while the live optimizer only records steps.
import type { CallRing } from './call-ring';
import { GRAD_CONTROL, WORD_BYTES } from './contract';
import { OptimizerStateError } from './errors';
import type { ParamGroupHandle } from './param-group-handles';
import { type GradStats, gradStatsFrom, type ReadRegion, readBackRegions } from './readback';
import type { RecordingWatch } from './recording-watch';
import type { StateBuffers } from './resources';
import { loadProblem, type OptimizerState, type StatePlacementOf } from './state';
import { stateFromReadback, stateRegions, uploadState } from './state-gpu';
import type { StepLedger } from './step-ledger';
import type { GroupHyperParameters } from './step-scalars';
import type { ResolvedTraining } from './training-options';

/** What a transfer reads and writes: the live optimizer's own objects, shared, never copied. */
export interface StateTransferParts {
  device: GPUDevice;
  name: string;
  groups: { hp: GroupHyperParameters; tensors: number[] }[];
  paramGroups: readonly ParamGroupHandle[];
  tensors: StatePlacementOf[];
  buffers: StateBuffers;
  ring: CallRing;
  training: ResolvedTraining;
  ledger: StepLedger;
  watch: RecordingWatch;
  /** The per-call values step() packs; a load bumps its generation so steps recorded before it do not run. */
  call: { generation: number };
}

export class StateTransfer {
  readonly #parts: StateTransferParts;
  /** Per tensor: whether its param group uses Lookahead (a loaded state must then hold slow weights). */
  readonly #tensorLookahead: boolean[];

  constructor(parts: StateTransferParts) {
    this.#parts = parts;
    this.#tensorLookahead = parts.tensors.map(() => false);
    for (const group of parts.groups) {
      for (const tensor of group.tensors) this.#tensorLookahead[tensor] = group.hp.lookaheadK > 0;
    }
  }

  async gradStats(): Promise<GradStats> {
    const { buffers, ledger, name, ring, training, tensors } = this.#parts;
    const tensorCount = tensors.length;
    const [controlBytes, counts] = await this.#readBack('readGradStats', [
      { buffer: buffers.control, size: GRAD_CONTROL.bytes },
      { buffer: buffers.stepCounts, size: Math.max(WORD_BYTES, tensorCount * WORD_BYTES) },
    ]);
    const view = new DataView(controlBytes!);
    const completed = ledger.settle(view, name, ring, tensorCount);
    return gradStatsFrom(view, training.gradStats, completed, new Uint32Array(counts!, 0, tensorCount));
  }

  async stateDict(): Promise<OptimizerState> {
    const { buffers, ledger, name, ring, training, tensors, paramGroups } = this.#parts;
    const readback = await this.#readBack('stateDict', stateRegions(buffers, tensors.length));
    const completed = ledger.settle(new DataView(readback[1]!), name, ring, tensors.length);
    return stateFromReadback(
      buffers,
      { name, completed, paramGroups, tensors, format: training.stateFormat },
      readback,
    );
  }

  /** Copies `regions` in one submit, so they are one snapshot, and wraps any failure into a typed error. */
  async #readBack(method: string, regions: readonly ReadRegion[]): Promise<ArrayBuffer[]> {
    const { device, ledger, name, watch } = this.#parts;
    ledger.assertRunning();
    const data = await readBackRegions(device, regions, `${name}.${method}`);
    // Every step recorded before this readback has had its recording checked by now.
    await watch.settled;
    ledger.assertRunning();
    return data;
  }

  load(state: OptimizerState): void {
    const { device, name, groups, paramGroups, tensors, buffers, training, ledger, watch, call } =
      this.#parts;
    const problem = loadProblem(state, {
      name,
      hasSecondMoment: buffers.expAvgSqPages.length > 0,
      amsgrad: buffers.amsgrad,
      lookahead: this.#tensorLookahead,
      groups: paramGroups.map((group) => group.tensors),
      tensors,
    });
    if (problem !== undefined) {
      throw new OptimizerStateError(`${name}.loadStateDict: ${problem}; nothing was changed`);
    }
    // A loaded state also ends a halt after rejected steps, and steps recorded before it (still in unsubmitted
    // encoders) no longer run or count.
    call.generation = (call.generation + 1) >>> 0;
    uploadState(device.queue, buffers, tensors, state, call.generation, training.stateFormat);
    ledger.reset(state.header.step);
    watch.forgetPending();
    state.header.paramGroups.forEach((group, g) => {
      groups[g]!.hp.lr = group.lr;
    });
  }
}
