// Host side of the fused step: everything that depends only on the step count and the hyper-parameters is
// computed here in float64 once per step, and only the final factors reach the GPU as f32.

/** Which update a step applies; chosen on the host, uniform across the whole dispatch. */
export type Branch = 'none' | 'momentum' | 'adaptive' | 'nesterov';

const BRANCH_CODE: Record<Branch, number> = { none: 0, momentum: 1, adaptive: 2, nesterov: 3 };

/** Mutable per-step factors, one field per member of the WGSL `StepScalars` struct (shaders/optimizer.wgsl). */
export interface StepScalars {
  branch: Branch;
  gradSign: number;
  l2WeightDecay: number;
  paramDecay: number;
  beta1: number;
  gradWeight1: number;
  beta2: number;
  gradWeight2: number;
  adaptiveScale: number;
  denomEps: number;
  momentumScale: number;
  nesterovMomentum: number;
}

// Byte offsets of the WGSL struct:
//   struct StepScalars { branch: u32, gradSign: f32, l2WeightDecay: f32, paramDecay: f32, beta1: f32,
//     gradWeight1: f32, beta2: f32, gradWeight2: f32, adaptiveScale: f32, denomEps: f32, momentumScale: f32,
//     nesterovMomentum: f32 }
// All members are 4-byte scalars, so the offsets are dense; the size is rounded up to 16 (uniform rules).
export const STEP_SCALARS_LAYOUT = {
  branch: 0,
  gradSign: 4,
  l2WeightDecay: 8,
  paramDecay: 12,
  beta1: 16,
  gradWeight1: 20,
  beta2: 24,
  gradWeight2: 28,
  adaptiveScale: 32,
  denomEps: 36,
  momentumScale: 40,
  nesterovMomentum: 44,
  byteSize: 48,
} as const;

export function newStepScalars(): StepScalars {
  return {
    branch: 'none',
    gradSign: 1,
    l2WeightDecay: 0,
    paramDecay: 1,
    beta1: 0,
    gradWeight1: 0,
    beta2: 0,
    gradWeight2: 0,
    adaptiveScale: 0,
    denomEps: 0,
    momentumScale: 0,
    nesterovMomentum: 0,
  };
}

/** Writes `scalars` into `target` (at least STEP_SCALARS_LAYOUT.byteSize bytes) at `byteOffset`. */
export function packStepScalars(scalars: StepScalars, target: ArrayBuffer, byteOffset = 0): void {
  const words = new DataView(target, byteOffset, STEP_SCALARS_LAYOUT.byteSize);
  const L = STEP_SCALARS_LAYOUT;
  words.setUint32(L.branch, BRANCH_CODE[scalars.branch], true);
  words.setFloat32(L.gradSign, scalars.gradSign, true);
  words.setFloat32(L.l2WeightDecay, scalars.l2WeightDecay, true);
  words.setFloat32(L.paramDecay, scalars.paramDecay, true);
  words.setFloat32(L.beta1, scalars.beta1, true);
  words.setFloat32(L.gradWeight1, scalars.gradWeight1, true);
  words.setFloat32(L.beta2, scalars.beta2, true);
  words.setFloat32(L.gradWeight2, scalars.gradWeight2, true);
  words.setFloat32(L.adaptiveScale, scalars.adaptiveScale, true);
  words.setFloat32(L.denomEps, scalars.denomEps, true);
  words.setFloat32(L.momentumScale, scalars.momentumScale, true);
  words.setFloat32(L.nesterovMomentum, scalars.nesterovMomentum, true);
}

/** What a step did, for logging and tests; `rhoT` and `rect` are RAdam's. */
export interface StepInfo {
  /** 1-based step number this step used. */
  step: number;
  lr: number;
  branch: Branch;
  /** 1 - beta1^t (1 for SGD). */
  bc1: number;
  /** 1 - beta2^t (1 for SGD). */
  bc2: number;
  rhoT: number;
  /** Rectification term r_t; NaN when the adaptive branch did not run or the rule has none. */
  rect: number;
}

export function newStepInfo(): StepInfo {
  return { step: 0, lr: 0, branch: 'none', bc1: 1, bc2: 1, rhoT: Number.NaN, rect: Number.NaN };
}

/** The RAdam family's hyper-parameters after defaults and presets are resolved. */
export interface AdaptiveHyperParameters {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupledWeightDecay: boolean;
  maximize: boolean;
  /** Adaptive branch when rho_t passes this threshold; Infinity-free, >= 4. Ignored when `rectify` is false. */
  threshold: number;
  thresholdComparison: '>' | '>=';
  /** 'uncorrected': sqrt(v) + eps (torch, original); 'corrected': sqrt(v / bc2) + eps (TFA, optax, Adam). */
  epsMode: 'uncorrected' | 'corrected';
  /** Before the threshold: SGD-momentum step when true, no update at all when false (original repo option). */
  degeneratedToSgd: boolean;
  /** false gives Adam/AdamW: always adaptive, r = 1. */
  rectify: boolean;
}

export interface SgdHyperParameters {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
  maximize: boolean;
}

/** rho_inf and rho_t of RAdam for step t (1-based). */
export function rectificationLength(beta2: number, t: number): { rhoInf: number; rhoT: number } {
  const rhoInf = 2 / (1 - beta2) - 1;
  const beta2PowT = beta2 ** t;
  return { rhoInf, rhoT: rhoInf - (2 * t * beta2PowT) / (1 - beta2PowT) };
}

export function rectificationTerm(rhoInf: number, rhoT: number): number {
  return Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
}

/** Fills `out` and `info` for step t of RAdam (rectify) or Adam/AdamW (no rectify). */
export function adaptiveStepScalars(
  hp: AdaptiveHyperParameters,
  t: number,
  out: StepScalars,
  info: StepInfo,
): void {
  const bc1 = 1 - hp.beta1 ** t;
  const bc2 = 1 - hp.beta2 ** t;
  let branch: Branch = 'adaptive';
  let rect = 1;
  let rhoT = Number.NaN;
  if (hp.rectify) {
    const lengths = rectificationLength(hp.beta2, t);
    rhoT = lengths.rhoT;
    const adaptive = hp.thresholdComparison === '>' ? rhoT > hp.threshold : rhoT >= hp.threshold;
    if (adaptive) rect = rectificationTerm(lengths.rhoInf, rhoT);
    else branch = hp.degeneratedToSgd ? 'momentum' : 'none';
  }
  const sqrtBc2 = Math.sqrt(bc2);

  out.branch = branch;
  out.gradSign = hp.maximize ? -1 : 1;
  out.l2WeightDecay = hp.decoupledWeightDecay ? 0 : hp.weightDecay;
  // Decoupled decay belongs to the parameter update: a step that leaves p alone (original RAdam before the
  // threshold without degenerated_to_sgd) must not decay it either.
  out.paramDecay = hp.decoupledWeightDecay && branch !== 'none' ? 1 - hp.lr * hp.weightDecay : 1;
  out.beta1 = hp.beta1;
  out.gradWeight1 = 1 - hp.beta1;
  out.beta2 = hp.beta2;
  out.gradWeight2 = 1 - hp.beta2;
  out.adaptiveScale = branch === 'adaptive' ? (hp.lr * rect * sqrtBc2) / bc1 : 0;
  out.denomEps = hp.epsMode === 'corrected' ? hp.eps * sqrtBc2 : hp.eps;
  out.momentumScale = branch === 'momentum' ? hp.lr / bc1 : 0;
  out.nesterovMomentum = 0;

  info.step = t;
  info.lr = hp.lr;
  info.branch = branch;
  info.bc1 = bc1;
  info.bc2 = bc2;
  info.rhoT = rhoT;
  info.rect = branch === 'adaptive' && hp.rectify ? rect : Number.NaN;
}

/** Fills `out` and `info` for step t of torch.optim.SGD (momentum buffer in the first-moment slot). */
export function sgdStepScalars(hp: SgdHyperParameters, t: number, out: StepScalars, info: StepInfo): void {
  out.branch = hp.nesterov ? 'nesterov' : 'momentum';
  out.gradSign = hp.maximize ? -1 : 1;
  out.l2WeightDecay = hp.weightDecay;
  out.paramDecay = 1;
  // torch starts the buffer as a copy of the first gradient (no dampening), then buf = momentum*buf + (1-d)*g;
  // with momentum 0 it keeps no buffer and steps along g itself, which buf = 0*buf + 1*g reproduces.
  out.beta1 = hp.momentum;
  out.gradWeight1 = t === 1 || hp.momentum === 0 ? 1 : 1 - hp.dampening;
  out.beta2 = 0;
  out.gradWeight2 = 0;
  out.adaptiveScale = 0;
  out.denomEps = 0;
  out.momentumScale = hp.lr;
  out.nesterovMomentum = hp.nesterov ? hp.momentum : 0;

  info.step = t;
  info.lr = hp.lr;
  info.branch = out.branch;
  info.bc1 = 1;
  info.bc2 = 1;
  info.rhoT = Number.NaN;
  info.rect = Number.NaN;
}
