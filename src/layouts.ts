// Byte layouts of the structs that the host writes for shaders/optimizer.wgsl, next to the WGSL they mirror.
// Every member is a 4-byte scalar, so offsets are dense; struct sizes are multiples of 16.
import {
  BRANCH_CODE,
  firstAdaptiveStep,
  type GroupHyperParameters,
  rectificationLength,
  stepFactors,
} from './step-scalars';

/** struct StepScalars: 12 words, written by the prepare pass, read by the step pass. */
export const STEP_SCALARS_BYTES = 48;

/** struct PreparedSlot: one tensor's StepScalars padded to 256 bytes, bindable as a uniform at its offset. */
export const PREPARED_SLOT_BYTES = 256;

/** struct Segment { start, paramOffset, gradOffset, stateOffset, count, tensor, _pad0, _pad1 } */
export const SEGMENT_WORDS = 8;

/** struct Tile { start, count, firstSegment, segmentCount } */
export const TILE_WORDS = 4;

/** struct StepFactors { branch: u32, adaptiveFactor, momentumFactor, denomEps: f32 } */
export const STEP_FACTORS_WORDS = 4;

/**
 * struct GradControl { nonFinite: atomic<u32>, clipFactor, gradNorm: f32, executedCalls, completedSteps,
 *   lostCalls, unscheduledCalls, _pad: u32, schedule: array<ScheduleEntry> }; `bytes` covers the scalars.
 */
export const GRAD_CONTROL = {
  nonFinite: 0,
  clipFactor: 4,
  gradNorm: 8,
  executedCalls: 12,
  completedSteps: 16,
  lostCalls: 20,
  unscheduledCalls: 24,
  generation: 28,
  bytes: 32,
};

/** struct ScheduleEntry { step: u32, factor: f32 }: entries of GradControl.schedule, after its scalars. */
export const SCHEDULE_ENTRY_BYTES = 8;

/** Word offsets of CallData (see the CALL_* constants in optimizer.wgsl). */
export const CALL = {
  invScale: 0,
  maxNorm: 1,
  maskStart: 2,
  epoch: 3,
  scheduled: 4,
  generation: 5,
  groupLr: 6,
} as const;

export function callWords(groups: number, tensors: number): number {
  return CALL.groupLr + groups + Math.ceil(tensors / 32);
}

const KIND_CODE = { rectified: 0, adaptive: 1, sgd: 2 } as const;
const FLAG = { maximize: 1, decoupled: 2, epsCorrected: 8, degeneratedToSgd: 16, nesterov: 32 };

/**
 * struct GroupConfig { kind, flags: u32, beta1, beta2, oneMinusBeta1, oneMinusBeta2, eps, weightDecay, rhoOffset,
 *   rhoInf, negLnBeta1, negLnBeta2: f32, tableStart, tableLength, firstAdaptiveStep, _pad0: u32 }  (64 bytes)
 */
export const GROUP_CONFIG_WORDS = 16;

// -ln(0) is Infinity; a large finite rate keeps exp(-t * rate) at exactly 0 without relying on infinities.
const negLnOrCeiling = (beta: number) => Math.min(-Math.log(beta), 1e4);

export function packGroupConfig(
  hp: GroupHyperParameters,
  tableStart: number,
  tableLength: number,
  view: DataView,
  byteOffset: number,
): void {
  const u32 = (word: number, value: number) => view.setUint32(byteOffset + word * 4, value, true);
  const f32 = (word: number, value: number) => view.setFloat32(byteOffset + word * 4, value, true);
  let flags = hp.maximize ? FLAG.maximize : 0;
  u32(0, KIND_CODE[hp.kind]);
  if (hp.kind === 'sgd') {
    flags |= hp.nesterov ? FLAG.nesterov : 0;
    f32(2, hp.momentum);
    f32(3, 0);
    // torch ignores dampening without momentum: buf = 0 * buf + 1 * g reproduces its plain SGD step.
    f32(4, hp.momentum === 0 ? 1 : 1 - hp.dampening);
    f32(5, 0);
    f32(6, 0);
    f32(7, hp.weightDecay);
  } else {
    flags |= hp.decoupledWeightDecay ? FLAG.decoupled : 0;
    flags |= hp.epsMode === 'corrected' ? FLAG.epsCorrected : 0;
    flags |= hp.degeneratedToSgd ? FLAG.degeneratedToSgd : 0;
    f32(2, hp.beta1);
    f32(3, hp.beta2);
    f32(4, 1 - hp.beta1);
    f32(5, 1 - hp.beta2);
    f32(6, hp.eps);
    f32(7, hp.weightDecay);
    const { rhoInf } = rectificationLength(hp.beta2, 1);
    const negLnBeta2 = negLnOrCeiling(hp.beta2);
    // rho_t = 2t * (1/u - 1/(e^u - 1)) + rhoOffset with u = t * negLnBeta2: the form without cancellation
    // while u is small (see computedFactors in optimizer.wgsl).
    f32(8, rhoInf - 2 / negLnBeta2);
    f32(9, rhoInf);
    f32(10, negLnOrCeiling(hp.beta1));
    f32(11, negLnBeta2);
    u32(14, firstAdaptiveStep(hp));
  }
  u32(1, flags);
  u32(12, tableStart);
  u32(13, tableLength);
}

/** Steps 1..length of the float64 step table for one group, as StepFactors structs. */
export function packStepTable(
  hp: GroupHyperParameters,
  length: number,
  view: DataView,
  byteOffset: number,
): void {
  for (let t = 1; t <= length; t++) {
    const factors = stepFactors(hp, t);
    const at = byteOffset + (t - 1) * STEP_FACTORS_WORDS * 4;
    view.setUint32(at, BRANCH_CODE[factors.branch], true);
    view.setFloat32(at + 4, factors.adaptiveFactor, true);
    view.setFloat32(at + 8, factors.momentumFactor, true);
    view.setFloat32(at + 12, factors.denomEps, true);
  }
}
