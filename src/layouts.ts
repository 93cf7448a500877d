// Host packing of the optimizer's constant tables, by field name (the structs are declared in contract.ts): each
// param group's GroupConfig and its float64 step table. Pure: no GPU calls.
import { BRANCH, FLAG, GROUP_CONFIG, KIND, packStruct, STEP_FACTORS } from './contract';
import {
  firstAdaptiveStep,
  type GroupHyperParameters,
  rectificationLength,
  stepFactors,
} from './step-scalars';

// -ln(0) is Infinity; a large finite rate keeps exp(-t * rate) at exactly 0 without relying on infinities.
const negLnOrCeiling = (beta: number) => Math.min(-Math.log(beta), 1e4);

export function packGroupConfig(
  hp: GroupHyperParameters,
  tableStart: number,
  tableLength: number,
  view: DataView,
  byteOffset: number,
): void {
  const table = { tableStart, tableLength, lookaheadK: hp.lookaheadK, lookaheadAlpha: hp.lookaheadAlpha };
  if (hp.kind === 'sgd') {
    packStruct(
      GROUP_CONFIG,
      {
        kind: KIND.code.sgd,
        flags: (hp.maximize ? FLAG.code.maximize : 0) | (hp.nesterov ? FLAG.code.nesterov : 0),
        beta1: hp.momentum,
        beta2: 0,
        // torch ignores dampening without momentum: buf = 0 * buf + 1 * g reproduces its plain SGD step.
        oneMinusBeta1: hp.momentum === 0 ? 1 : 1 - hp.dampening,
        oneMinusBeta2: 0,
        eps: 0,
        weightDecay: hp.weightDecay,
        rhoOffset: 0,
        rhoInf: 0,
        negLnBeta1: 0,
        negLnBeta2: 0,
        ...table,
        firstAdaptiveStep: 0,
      },
      view,
      byteOffset,
    );
    return;
  }
  const { rhoInf } = rectificationLength(hp.beta2, 1);
  const negLnBeta2 = negLnOrCeiling(hp.beta2);
  packStruct(
    GROUP_CONFIG,
    {
      kind: KIND.code[hp.kind],
      flags:
        (hp.maximize ? FLAG.code.maximize : 0) |
        (hp.decoupledWeightDecay ? FLAG.code.decoupled : 0) |
        (hp.epsMode === 'corrected' ? FLAG.code.epsCorrected : 0) |
        (hp.degeneratedToSgd ? FLAG.code.degeneratedToSgd : 0),
      beta1: hp.beta1,
      beta2: hp.beta2,
      oneMinusBeta1: 1 - hp.beta1,
      oneMinusBeta2: 1 - hp.beta2,
      eps: hp.eps,
      weightDecay: hp.weightDecay,
      // rho_t = 2t * (1/u - 1/(e^u - 1)) + rhoOffset with u = t * negLnBeta2: the form without cancellation
      // while u is small (see computedFactors in optimizer.wgsl).
      rhoOffset: rhoInf - 2 / negLnBeta2,
      rhoInf,
      negLnBeta1: negLnOrCeiling(hp.beta1),
      negLnBeta2,
      ...table,
      firstAdaptiveStep: firstAdaptiveStep(hp),
    },
    view,
    byteOffset,
  );
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
    packStruct(
      STEP_FACTORS,
      { ...factors, branch: BRANCH.code[factors.branch] },
      view,
      byteOffset + (t - 1) * STEP_FACTORS.bytes,
    );
  }
}
