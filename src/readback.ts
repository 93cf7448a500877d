// Reading the optimizer's GPU state back, and what the host learns from it. A readback copies every region in one
// submit (one consistent snapshot); settleStepCount then brings the host's step count up to date from the control
// words: the GPU's count of completed steps plus the steps recorded that the GPU had not run yet. It is also where
// steps the GPU rejected (a call slot overwritten before its submit, no schedule entry) come to light.
import { GRAD_CONTROL } from './contract';
import { OptimizerStateError } from './errors';

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

/** The gradient statistics in a readback of the control words; `gradStats`: whether the pass that makes them runs. */
export function gradStatsFrom(
  control: DataView,
  gradStats: boolean,
  completedSteps: number,
  stepCounts: Uint32Array,
): GradStats {
  return {
    nonFinite: control.getUint32(GRAD_CONTROL.offset.nonFinite, true) !== 0,
    gradNorm: gradStats ? control.getFloat32(GRAD_CONTROL.offset.gradNorm, true) : Number.NaN,
    completedSteps,
    stepCounts,
  };
}

export interface ReadRegion {
  buffer: GPUBuffer;
  size: number;
}

/**
 * Copies every region (from offset 0) in one submit, then maps the copies one at a time. A failure, usually a
 * device lost or destroyed meanwhile, becomes an OptimizerStateError naming `caller`.
 */
export async function readBackRegions(
  device: GPUDevice,
  regions: readonly ReadRegion[],
  caller: string,
): Promise<ArrayBuffer[]> {
  try {
    return await copyAndMap(device, regions);
  } catch (error) {
    throw new OptimizerStateError(
      `${caller}: the readback failed (${describeError(error)}), usually because the GPUDevice ` +
        'was lost or destroyed meanwhile (see deviceLost)',
      { cause: error },
    );
  }
}

async function copyAndMap(device: GPUDevice, regions: readonly ReadRegion[]): Promise<ArrayBuffer[]> {
  const staging = regions.map(({ size }) =>
    device.createBuffer({
      label: 'webgpu-radam readback',
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    }),
  );
  try {
    const encoder = device.createCommandEncoder({ label: 'webgpu-radam readback' });
    regions.forEach(({ buffer, size }, i) => {
      encoder.copyBufferToBuffer(buffer, 0, staging[i]!, 0, size);
    });
    device.queue.submit([encoder.finish()]);
    const data: ArrayBuffer[] = [];
    for (const buffer of staging) {
      await buffer.mapAsync(GPUMapMode.READ);
      data.push(buffer.getMappedRange().slice(0));
      buffer.destroy();
    }
    return data;
  } finally {
    for (const buffer of staging) buffer.destroy();
  }
}

export function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message.split('\n')[0]}` : String(error);
}

/** What a readback of the control words says about the step count. */
export interface Settled {
  /** Steps the GPU had completed at the copy. */
  gpuCompleted: number;
  /** The host's new step count: the GPU's plus the steps recorded that it had not run yet. */
  hostCompleted: number;
  /** Why the GPU rejected steps, when it did: every later step and readback must then refuse to go on. */
  halt: string | undefined;
}

/**
 * `recordedCalls` counts the calls recorded (since the last loadStateDict) that run a prepare dispatch;
 * `ringSlots` and `scheduleTableLength` are only for the message.
 */
export function settleStepCount(
  control: DataView,
  recordedCalls: number,
  name: string,
  ringSlots: number,
  scheduleTableLength: number,
): Settled {
  const completed = control.getUint32(GRAD_CONTROL.offset.completedSteps, true);
  const executed = control.getUint32(GRAD_CONTROL.offset.executedCalls, true);
  // Steps recorded but not run by the time of the copy (their encoders submitted later, or not yet) still
  // count: forgetting them would hand later steps the wrong schedule factor and step number.
  const pending = (((recordedCalls - executed) % 2 ** 32) + 2 ** 32) % 2 ** 32;
  const settled: Settled = { gpuCompleted: completed, hostCompleted: completed + pending, halt: undefined };
  const lost = control.getUint32(GRAD_CONTROL.offset.lostCalls, true);
  const unscheduled = control.getUint32(GRAD_CONTROL.offset.unscheduledCalls, true);
  if (lost === 0 && unscheduled === 0) return settled;
  const causes: string[] = [];
  if (lost > 0) {
    causes.push(
      `${lost} step(s) were still in unsubmitted command encoders when ${ringSlots} later steps had been ` +
        `recorded, which reuses their per-call slots: at most maxPendingSteps (${ringSlots}) steps may ` +
        'be recorded ahead of their submits',
    );
  }
  if (unscheduled > 0) {
    causes.push(
      `${unscheduled} step(s) found no schedule factor: the host's step count and the GPU's drifted more than ` +
        `${scheduleTableLength} steps apart (skipped steps, or encoders never submitted, with no ` +
        'readGradStats() or stateDict() in between)',
    );
  }
  settled.halt =
    `${name}: the GPU rejected steps and every step after them, so its state is that of step ` +
    `${completed}: ${causes.join('; ')}. loadStateDict() a saved state (or create a new optimizer) to go on`;
  return settled;
}
