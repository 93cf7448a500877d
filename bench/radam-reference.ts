// Step factors of torch.optim.RAdam for the baselines that do not use the library (the unfused kernels and the
// plain JavaScript loop). Kept independent of src/ so a bug there cannot make a baseline look the same.

export type RAdamBranch = 'momentum' | 'adaptive';

export interface RAdamFactors {
  branch: RAdamBranch;
  /** m = beta1 * m + (1 - beta1) * g */
  beta1: number;
  /** v = beta2 * v + (1 - beta2) * g^2 */
  beta2: number;
  /** momentum branch: p -= scale * m; adaptive branch: p -= scale * m / (sqrt(v) + eps) */
  scale: number;
  eps: number;
}

export const BENCH_LR = 1e-3;
export const BENCH_EPS = 1e-8;

/**
 * Betas that keep RAdam in the branch to be timed for every step: with beta2 = 0.6, rho_inf = 4 and rho_t never
 * reaches the threshold of 5, so every step is a momentum step; the defaults turn adaptive from step 6 on.
 */
export function betasFor(branch: RAdamBranch): [number, number] {
  return branch === 'momentum' ? [0.9, 0.6] : [0.9, 0.999];
}

/** torch's rule for 1-based step t (weight decay 0, the threshold rho_t > 5). */
export function radamFactors(t: number, beta1: number, beta2: number): RAdamFactors {
  const bc1 = 1 - beta1 ** t;
  const bc2 = 1 - beta2 ** t;
  const rhoInf = 2 / (1 - beta2) - 1;
  const rhoT = rhoInf - (2 * t * beta2 ** t) / bc2;
  if (rhoT > 5) {
    const rect = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
    return {
      branch: 'adaptive',
      beta1,
      beta2,
      scale: (BENCH_LR * rect * Math.sqrt(bc2)) / bc1,
      eps: BENCH_EPS,
    };
  }
  return { branch: 'momentum', beta1, beta2, scale: BENCH_LR / bc1, eps: BENCH_EPS };
}

/** Steps before the default betas reach the adaptive branch, so a warm-up can skip them. */
export const ADAPTIVE_FROM_STEP = 6;

/**
 * Parameters after `steps` RAdam steps from step 1, computed in float64 and stored as float32 like the kernels
 * store them; the benchmark checks the first elements of every RAdam workload against this, so a broken
 * baseline cannot pass for a slow one.
 */
export function referenceParams(
  initialParams: Float32Array,
  grads: Float32Array,
  steps: number,
  betas: [number, number],
): Float32Array {
  const p = Float32Array.from(initialParams);
  const m = new Float32Array(p.length);
  const v = new Float32Array(p.length);
  for (let t = 1; t <= steps; t++) {
    const f = radamFactors(t, betas[0], betas[1]);
    for (let i = 0; i < p.length; i++) {
      const g = grads[i]!;
      m[i] = f.beta1 * m[i]! + (1 - f.beta1) * g;
      v[i] = f.beta2 * v[i]! + (1 - f.beta2) * g * g;
      p[i] =
        f.branch === 'adaptive'
          ? p[i]! - (f.scale * m[i]!) / (Math.sqrt(v[i]!) + f.eps)
          : p[i]! - f.scale * m[i]!;
    }
  }
  return p;
}
