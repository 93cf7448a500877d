// Float64 reference implementations written straight from the update rules in ../shared/RADAM.md and the torch
// docs, deliberately independent of src/step-scalars.ts (no shared code), so the GPU is checked against a
// second transcription of the math rather than against itself.

export interface RAdamReferenceOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean;
  maximize: boolean;
  threshold: number;
  inclusive: boolean;
  epsOnCorrected: boolean;
  degeneratedToSgd: boolean;
}

export interface MomentState {
  params: Float64Array;
  m: Float64Array;
  v: Float64Array;
  /** AMSGrad's running max of v (Adam/AdamW with amsgrad). */
  vmax: Float64Array;
  /** Lookahead's slow weights: the initial params until the first sync. */
  slow: Float64Array;
  step: number;
}

export function newState(params: ArrayLike<number>): MomentState {
  const n = params.length;
  return {
    params: Float64Array.from(params),
    m: new Float64Array(n),
    v: new Float64Array(n),
    vmax: new Float64Array(n),
    slow: Float64Array.from(params),
    step: 0,
  };
}

/**
 * Lookahead after an inner step (Zhang et al. 2019; Ranger, TFA): when the step count is a multiple of k, the
 * slow weights move alpha of the way to the fast ones and the fast weights restart from them.
 */
export function lookaheadReferenceSync(state: MomentState, k: number, alpha: number): boolean {
  if (state.step % k !== 0) return false;
  const { params, slow } = state;
  for (let i = 0; i < params.length; i++) {
    slow[i] = slow[i]! + alpha * (params[i]! - slow[i]!);
    params[i] = slow[i]!;
  }
  return true;
}

/** One RAdam step in float64; returns which branch ran. */
export function radamReferenceStep(
  state: MomentState,
  grad: ArrayLike<number>,
  o: RAdamReferenceOptions,
): 'adaptive' | 'sgd' | 'none' {
  const t = ++state.step;
  const bc1 = 1 - o.beta1 ** t;
  const bc2 = 1 - o.beta2 ** t;
  const rhoInf = 2 / (1 - o.beta2) - 1;
  const rhoT = rhoInf - (2 * t * o.beta2 ** t) / bc2;
  const adaptive = o.inclusive ? rhoT >= o.threshold : rhoT > o.threshold;
  const branch = adaptive ? 'adaptive' : o.degeneratedToSgd ? 'sgd' : 'none';
  const rect = adaptive
    ? Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT))
    : 0;
  const { params, m, v } = state;
  for (let i = 0; i < params.length; i++) {
    let g = o.maximize ? -grad[i]! : grad[i]!;
    if (!o.decoupled) g += o.weightDecay * params[i]!;
    m[i] = o.beta1 * m[i]! + (1 - o.beta1) * g;
    v[i] = o.beta2 * v[i]! + (1 - o.beta2) * g * g;
    if (branch === 'none') continue;
    if (o.decoupled) params[i] = params[i]! * (1 - o.lr * o.weightDecay);
    const mHat = m[i]! / bc1;
    if (branch === 'sgd') {
      params[i] = params[i]! - o.lr * mHat;
    } else {
      const denom = o.epsOnCorrected
        ? Math.sqrt(v[i]! / bc2) + o.eps
        : Math.sqrt(v[i]!) / Math.sqrt(bc2) + o.eps / Math.sqrt(bc2);
      params[i] = params[i]! - o.lr * rect * (mHat / denom);
    }
  }
  return branch;
}

export interface AdamReferenceOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean;
  maximize: boolean;
  /** torch's amsgrad: the denominator takes the running max of the (uncorrected) v. */
  amsgrad?: boolean;
}

/** torch.optim.Adam / AdamW in float64. */
export function adamReferenceStep(
  state: MomentState,
  grad: ArrayLike<number>,
  o: AdamReferenceOptions,
): void {
  const t = ++state.step;
  const bc1 = 1 - o.beta1 ** t;
  const bc2 = 1 - o.beta2 ** t;
  const { params, m, v, vmax } = state;
  for (let i = 0; i < params.length; i++) {
    let g = o.maximize ? -grad[i]! : grad[i]!;
    if (o.decoupled) params[i] = params[i]! * (1 - o.lr * o.weightDecay);
    else g += o.weightDecay * params[i]!;
    m[i] = o.beta1 * m[i]! + (1 - o.beta1) * g;
    v[i] = o.beta2 * v[i]! + (1 - o.beta2) * g * g;
    vmax[i] = Math.max(vmax[i]!, v[i]!);
    const denom = Math.sqrt(o.amsgrad ? vmax[i]! : v[i]!) / Math.sqrt(bc2) + o.eps;
    params[i] = params[i]! - (o.lr / bc1) * (m[i]! / denom);
  }
}

export interface SgdReferenceOptions {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
  maximize: boolean;
}

/** torch.optim.SGD in float64; `m` holds momentum_buffer. */
export function sgdReferenceStep(state: MomentState, grad: ArrayLike<number>, o: SgdReferenceOptions): void {
  const t = ++state.step;
  const { params, m } = state;
  for (let i = 0; i < params.length; i++) {
    let d = o.maximize ? -grad[i]! : grad[i]!;
    d += o.weightDecay * params[i]!;
    if (o.momentum !== 0) {
      m[i] = t === 1 ? d : o.momentum * m[i]! + (1 - o.dampening) * d;
      d = o.nesterov ? d + o.momentum * m[i]! : m[i]!;
    }
    params[i] = params[i]! - o.lr * d;
  }
}

/** torch.optim.RAdam's semantics and defaults, less the learning rate and weight decay. */
export const TORCH_RADAM = {
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  maximize: false,
  threshold: 5,
  inclusive: false,
  epsOnCorrected: false,
  degeneratedToSgd: true,
} as const;

/** What each RAdam preset means for the reference, written out from ../shared/RADAM.md's table. */
export const PRESET_SEMANTICS = {
  torch: { threshold: 5, inclusive: false, epsOnCorrected: false },
  paper: { threshold: 4, inclusive: false, epsOnCorrected: false },
  original: { threshold: 5, inclusive: true, epsOnCorrected: false },
  tfa: { threshold: 5, inclusive: true, epsOnCorrected: true },
  optax: { threshold: 5, inclusive: true, epsOnCorrected: true },
} as const;
