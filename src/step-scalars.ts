// Host side of the fused step: everything that depends only on the step count and the hyper-parameters is
// computed here in float64 and reaches the GPU as f32 factors (the step table), so that threshold decisions and
// bias corrections are exactly those of the float64 references.

/** Which update a step applies. */
export type Branch = 'none' | 'momentum' | 'adaptive' | 'nesterov';

export const BRANCH_CODE: Record<Branch, number> = { none: 0, momentum: 1, adaptive: 2, nesterov: 3 };

/** RAdam, Adam/AdamW and torch SGD hyper-parameters of one param group, after defaults are resolved. */
export type GroupHyperParameters = AdaptiveHyperParameters | SgdHyperParameters;

/** Lookahead's settings of a param group (every optimizer has them). */
export interface LookaheadFields {
  /** Sync after every step whose per-tensor count is a multiple of this; 0: no Lookahead. */
  lookaheadK: number;
  /** slow += lookaheadAlpha * (param - slow) on a sync step (0 without Lookahead). */
  lookaheadAlpha: number;
}

/** Resolved hyper-parameters of an RAdam, Adam or AdamW param group. */
export interface AdaptiveHyperParameters extends LookaheadFields {
  /** 'rectified' is RAdam; 'adaptive' is Adam/AdamW (always adaptive, r = 1). */
  kind: 'rectified' | 'adaptive';
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupledWeightDecay: boolean;
  maximize: boolean;
  /** The adaptive branch runs when rho_t passes this (>= 4). */
  threshold: number;
  thresholdComparison: '>' | '>=';
  /** 'uncorrected': sqrt(v) + eps (torch, original); 'corrected': sqrt(v / bc2) + eps (TFA, optax, Adam). */
  epsMode: 'uncorrected' | 'corrected';
  /** Before the threshold: SGD-momentum step when true, no update at all when false (original repo option). */
  degeneratedToSgd: boolean;
  /** torch's AMSGrad (Adam, AdamW): the denominator uses max_exp_avg_sq. Always false for RAdam. */
  amsgrad: boolean;
}

/** Resolved hyper-parameters of an SGD param group. */
export interface SgdHyperParameters extends LookaheadFields {
  kind: 'sgd';
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
  maximize: boolean;
}

/** The lr-free factors of step t: the update is lr * adaptiveFactor * m / (sqrt(v) + denomEps) or lr * momentumFactor * m. */
export interface StepFactors {
  branch: Branch;
  adaptiveFactor: number;
  momentumFactor: number;
  denomEps: number;
  bc1: number;
  bc2: number;
  rhoT: number;
  rect: number;
}

/**
 * The largest step count an optimizer accepts (loaded from a state or reached by stepping): half the range of the
 * GPU's u32 counters, so that no count, and no count plus the steps recorded after it, can wrap to 0.
 */
export const MAX_STEP_COUNT = 2 ** 31 - 1;

/** `firstAdaptiveStep` of a group that never takes the adaptive branch (a u32 no step count reaches). */
export const NEVER_ADAPTIVE = 0xffffffff;

/** rho_inf and rho_t of RAdam for step t (1-based). */
export function rectificationLength(beta2: number, t: number): { rhoInf: number; rhoT: number } {
  const rhoInf = 2 / (1 - beta2) - 1;
  const beta2PowT = beta2 ** t;
  return { rhoInf, rhoT: rhoInf - (2 * t * beta2PowT) / (1 - beta2PowT) };
}

export function stepFactors(hp: GroupHyperParameters, t: number): StepFactors {
  if (hp.kind === 'sgd') {
    const branch = hp.nesterov ? 'nesterov' : 'momentum';
    return {
      branch,
      adaptiveFactor: 0,
      momentumFactor: 1,
      denomEps: 0,
      bc1: 1,
      bc2: 1,
      rhoT: Number.NaN,
      rect: Number.NaN,
    };
  }
  const bc1 = 1 - hp.beta1 ** t;
  const bc2 = 1 - hp.beta2 ** t;
  const sqrtBc2 = Math.sqrt(bc2);
  let branch: Branch = 'adaptive';
  let rect = 1;
  let rhoT = Number.NaN;
  if (hp.kind === 'rectified') {
    const lengths = rectificationLength(hp.beta2, t);
    rhoT = lengths.rhoT;
    if (passesThreshold(hp, rhoT, lengths.rhoInf)) {
      const { rhoInf } = lengths;
      rect = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
    } else {
      branch = hp.degeneratedToSgd ? 'momentum' : 'none';
    }
  }
  return {
    branch,
    adaptiveFactor: branch === 'adaptive' ? (rect * sqrtBc2) / bc1 : 0,
    momentumFactor: 1 / bc1,
    denomEps: hp.epsMode === 'corrected' ? hp.eps * sqrtBc2 : hp.eps,
    bc1,
    bc2,
    rhoT,
    rect: branch === 'adaptive' && hp.kind === 'rectified' ? rect : Number.NaN,
  };
}

/**
 * Whether rho_t takes the adaptive branch. rho_t < rho_inf at every step, so a group with rho_inf <= 4 never does:
 * float64 rounds rho_t up to rho_inf after enough steps, where the rectification term would be 0/0.
 */
function passesThreshold(hp: AdaptiveHyperParameters, rhoT: number, rhoInf: number): boolean {
  if (!(rhoInf > 4)) return false;
  return hp.thresholdComparison === '>' ? rhoT > hp.threshold : rhoT >= hp.threshold;
}

/**
 * The first step t at which the float64 rho_t of `hp` takes the adaptive branch (1 for Adam/AdamW), or
 * NEVER_ADAPTIVE. rho_t = rho_inf - 2t/(beta2^-t - 1) increases strictly with t (u/(e^u - 1) decreases for u > 0),
 * so the branch at step t is exactly `t >= firstAdaptiveStep`: the GPU needs no f32 rho_t to decide it, however
 * close the threshold is to rho_inf.
 */
export function firstAdaptiveStep(hp: AdaptiveHyperParameters): number {
  if (hp.kind === 'adaptive') return 1;
  const adaptiveAt = (t: number) => {
    const { rhoInf, rhoT } = rectificationLength(hp.beta2, t);
    return passesThreshold(hp, rhoT, rhoInf);
  };
  if (!adaptiveAt(MAX_STEP_COUNT)) return NEVER_ADAPTIVE;
  let notYet = 0;
  let adaptive = MAX_STEP_COUNT;
  while (adaptive - notYet > 1) {
    const middle = Math.floor((notYet + adaptive) / 2);
    if (adaptiveAt(middle)) adaptive = middle;
    else notYet = middle;
  }
  return adaptive;
}

/**
 * The largest lr-free factor the GPU multiplies a group's learning rate by: 1/bc1 at step 1, 1/(1 - beta1)
 * (RAdam's momentum branch; the adaptive factor r·sqrt(bc2)/bc1 is smaller), 1 for SGD.
 */
export function largestStepFactor(hp: GroupHyperParameters): number {
  return hp.kind === 'sgd' ? 1 : 1 / (1 - hp.beta1);
}

/** What a step did, for logging and tests; `rhoT` and `rect` are RAdam's (NaN otherwise). */
export interface StepInfo {
  /** 1-based optimizer step (calls of step() minus steps known to be skipped). */
  step: number;
  /** Learning rate of the first param group, schedule applied. */
  lr: number;
  branch: Branch;
  bc1: number;
  bc2: number;
  rhoT: number;
  rect: number;
  /** Whether Lookahead syncs after this step (at step counts that are multiples of k; false without Lookahead). */
  sync: boolean;
}

export function newStepInfo(): StepInfo {
  return { step: 0, lr: 0, branch: 'none', bc1: 1, bc2: 1, rhoT: Number.NaN, rect: Number.NaN, sync: false };
}

/** Fills `info` in place (step() allocates nothing) for step `step` of a group with `hp` (none: the step alone). */
export function describeStep(
  info: StepInfo,
  hp: GroupHyperParameters | undefined,
  step: number,
  scheduleFactor: number,
): void {
  info.step = step;
  if (!hp) return;
  const factors = stepFactors(hp, step);
  info.lr = hp.lr * scheduleFactor;
  info.branch = factors.branch;
  info.bc1 = factors.bc1;
  info.bc2 = factors.bc2;
  info.rhoT = factors.rhoT;
  info.rect = factors.rect;
  info.sync = hp.lookaheadK > 0 && step % hp.lookaheadK === 0;
}
