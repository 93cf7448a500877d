// The error bound for a golden case run with bf16 moments (stateFormat: 'bf16'); derivation in the README's
// "Optimizer state in bf16" section. Summary, per element:
//
//   Every step stores each moment x (computed in f32) as R(x) = x + rho, rho stochastically rounded: zero mean given
//   the past, inside one bf16 ulp, so |rho| spans an interval of width <= 2^-7 |x|, i.e. half-width
//   sigma = 2^-8 |x| (2^-134 below bf16's normal range). The update of that step uses the unrounded x; the next step
//   starts from R(x). So a stored moment's error obeys e_t = beta * e_{t-1} + rho_t (beta = beta1 or SGD's
//   momentum for m, beta2 for v) and the params' error after step T is, to first order,
//     dp_T = sum_r (K^m_r rho^m_r + K^v_r rho^v_r),  K_r = sum_{s=r+1..T} c_s beta^(s-1-r),
//   with c_s = d p_s / d (moment before step s) along the exact trajectory (computed below as an adjoint through
//   each step's Jacobian of (params, m, v), which also carries an error of p back into the gradient: L2 weight
//   decay, and the closed-loop Rosenbrock case, whose elements are coupled). The terms are martingale increments
//   (zero conditional mean, bounded), so Azuma-Hoeffding gives
//     P(|dp_T| >= k * S) <= 2 exp(-k^2 / 2),  S = sqrt(sum_r (|K^m_r| sigma^m_r + |K^v_r| sigma^v_r)^2),
//   and likewise for the moments themselves (K_r = beta^(T-r), their own rho_T included). The random-walk sum
//   grows like sqrt(steps) where a worst-case sum would grow like steps. k = 6: 3e-8 per checked value.
//   Neglected: second-order terms (the coefficients are taken on the float64 trajectory, not the rounded one).
//   AMSGrad's max and Lookahead's slow weights are kept in f32 (no bf16 rounding of their own): they enter only as
//   state the adjoint runs through, so the rounding of m and v that reaches them through max(vmax, v) or a sync
//   is counted.
import {
  adamReferenceStep,
  lookaheadReferenceSync,
  type MomentState,
  newState,
  radamReferenceStep,
  sgdReferenceStep,
} from '../reference/optimizers';
import { type GoldenCase, gradientSource, initialParams, type LookaheadHp } from './golden';

/** Standard deviations of the Azuma-Hoeffding bound: a false alarm has probability <= 2 exp(-18) per value. */
export const BF16_BOUND_SIGMAS = 6;
/** Half the width of one bf16 rounding interval, relative to the value rounded. */
export const BF16_HALF_WIDTH = 2 ** -8;
/** The same below bf16's (= f32's) smallest normal number, where the ulp stops shrinking: 2^-133 / 2. */
const BF16_SUBNORMAL_HALF_WIDTH = 2 ** -134;

const halfWidth = (x: number) =>
  Math.max(BF16_HALF_WIDTH * Math.abs(x), x === 0 ? 0 : BF16_SUBNORMAL_HALF_WIDTH);

/** Per checked step (golden.expected.atSteps order), per element: the bound on |bf16 - f32| of each array. */
export type Bf16Bounds = Record<(typeof KINDS)[number], Float64Array[]>;

interface Stepper {
  step: (state: MomentState, grad: ArrayLike<number>) => void;
  betaM: number;
  /** Decay of v; undefined for SGD, which has no second moment. */
  betaV: number | undefined;
}

function stepperFor(golden: Pick<GoldenCase, 'mode' | 'hp' | 'name'>): Stepper {
  const hp = golden.hp;
  const num = (key: string) => hp[key] as number;
  const bool = (key: string) => (hp[key] as boolean | undefined) ?? false;
  switch (golden.mode) {
    case 'sgd': {
      const o = {
        lr: num('lr'),
        momentum: num('momentum'),
        dampening: num('dampening'),
        nesterov: bool('nesterov'),
        weightDecay: num('weightDecay'),
        maximize: bool('maximize'),
      };
      return { step: (s, g) => sgdReferenceStep(s, g, o), betaM: o.momentum, betaV: undefined };
    }
    case 'adam':
    case 'adamw': {
      const o = {
        lr: num('lr'),
        beta1: num('beta1'),
        beta2: num('beta2'),
        eps: num('eps'),
        weightDecay: num('weightDecay'),
        decoupled: golden.mode === 'adamw',
        maximize: bool('maximize'),
        amsgrad: bool('amsgrad'),
      };
      return { step: (s, g) => adamReferenceStep(s, g, o), betaM: o.beta1, betaV: o.beta2 };
    }
    case 'lookahead': {
      const { k, alpha, inner } = hp as unknown as LookaheadHp;
      const innerStepper = stepperFor({ name: golden.name, mode: inner.mode, hp: inner });
      return {
        ...innerStepper,
        step: (s, g) => {
          innerStepper.step(s, g);
          lookaheadReferenceSync(s, k, alpha);
        },
      };
    }
    default: {
      // original and tfa apply their weight decay as p -= lr * wd * p (pre-update p) in the branches that
      // update: the reference's decoupled decay.
      const o = {
        lr: num('lr'),
        beta1: num('beta1'),
        beta2: num('beta2'),
        eps: num('eps'),
        weightDecay: num('weightDecay'),
        decoupled: golden.mode === 'torch' ? bool('decoupled') : true,
        maximize: bool('maximize'),
        threshold: num('threshold'),
        inclusive: hp.thresholdOp === '>=',
        epsOnCorrected: hp.epsMode === 'corrected',
        degeneratedToSgd: bool('degeneratedToSgd'),
      };
      return {
        step: (s, g) => {
          radamReferenceStep(s, g, o);
        },
        betaM: o.beta1,
        betaV: o.beta2,
      };
    }
  }
}

const cloneState = (s: MomentState): MomentState => ({
  params: Float64Array.from(s.params),
  m: Float64Array.from(s.m),
  v: Float64Array.from(s.v),
  vmax: Float64Array.from(s.vmax),
  slow: Float64Array.from(s.slow),
  step: s.step,
});

// The state a step carries over, in the order of the Jacobians' coordinates; only m and v are rounded to bf16.
const KINDS = ['params', 'm', 'v', 'vmax', 'slow'] as const;
const arrayOf = (s: MomentState, kind: number) => s[KINDS[kind]!];

/**
 * The bound above for every element of every checked step of `golden`. The coefficients come from the linearised
 * step: per step the Jacobian of the stored state (params, m, v) with respect to the state before it, by relative
 * finite differences along the float64 trajectory, chained backwards from the checked value (an adjoint). Elements
 * are independent unless the gradient is closed-loop (Rosenbrock), where one block holds all of them.
 */
export function bf16Bounds(golden: GoldenCase): Bf16Bounds {
  const stepper = stepperFor(golden);
  const n = golden.n;
  const gradientAt = gradientSource(golden);
  const closedLoop = typeof golden.gradSpec === 'object' && golden.gradSpec.type === 'rosenbrock';
  const blockSize = closedLoop ? n : 1;
  const blockOf = (i: number) => (closedLoop ? 0 : i);
  const first = (block: number) => block * blockSize;
  const dim = KINDS.length * blockSize;
  const blocks = n / blockSize;
  const lastStep = Math.max(...golden.expected.atSteps);
  // jacobians[s-1][block]: row-major dim x dim, d (state after step s) / d (state before step s), coordinates
  // ordered kind-major within the block (params, m, v of its elements).
  const jacobians: Float64Array[][] = [];
  const sigmaM: Float64Array[] = [];
  const sigmaV: Float64Array[] = [];
  const stepFrom = (state: MomentState, t: number) => {
    const next = cloneState(state);
    stepper.step(next, gradientAt(t, Float32Array.from(next.params)));
    return next;
  };
  let state = newState(initialParams(golden));
  for (let t = 1; t <= lastStep; t++) {
    const after = stepFrom(state, t);
    const perBlock = Array.from({ length: blocks }, () => new Float64Array(dim * dim));
    // One perturbed step per (kind, position in block): every block perturbs its own coordinate at once.
    for (let kind = 0; kind < KINDS.length; kind++) {
      for (let j = 0; j < blockSize; j++) {
        const perturbed = cloneState(state);
        const h = new Float64Array(n);
        for (let b = 0; b < blocks; b++) {
          const i = first(b) + j;
          const x = arrayOf(perturbed, kind);
          h[i] = Math.max(Math.abs(x[i]!) * 1e-7, 1e-30);
          x[i] = x[i]! + h[i]!;
        }
        const moved = stepFrom(perturbed, t);
        for (let i = 0; i < n; i++) {
          const b = blockOf(i);
          const column = kind * blockSize + j;
          for (let outKind = 0; outKind < KINDS.length; outKind++) {
            const row = outKind * blockSize + (i - first(b));
            const delta = arrayOf(moved, outKind)[i]! - arrayOf(after, outKind)[i]!;
            perBlock[b]![row * dim + column] = delta / h[first(b) + j]!;
          }
        }
      }
    }
    jacobians.push(perBlock);
    sigmaM.push(after.m.map(halfWidth));
    sigmaV.push(stepper.betaV === undefined ? new Float64Array(n) : after.v.map(halfWidth));
    state = after;
  }

  const bounds: Bf16Bounds = { params: [], m: [], v: [], vmax: [], slow: [] };
  for (const T of golden.expected.atSteps) {
    const out = KINDS.map(() => new Float64Array(n));
    for (let i = 0; i < n; i++) {
      const b = blockOf(i);
      for (let outKind = 0; outKind < KINDS.length; outKind++) {
        // adjoint = d (checked value) / d (stored state after step r), from r = T down to 1.
        let adjoint = new Float64Array(dim);
        adjoint[outKind * blockSize + (i - first(b))] = 1;
        let sum = 0;
        for (let r = T; r >= 1; r--) {
          let term = 0;
          for (let j = 0; j < blockSize; j++) {
            term += Math.abs(adjoint[blockSize + j]!) * sigmaM[r - 1]![first(b) + j]!;
            term += Math.abs(adjoint[2 * blockSize + j]!) * sigmaV[r - 1]![first(b) + j]!;
          }
          sum += term * term;
          const jacobian = jacobians[r - 1]![b]!;
          const next = new Float64Array(dim);
          for (let row = 0; row < dim; row++) {
            const a = adjoint[row]!;
            if (a === 0) continue;
            for (let column = 0; column < dim; column++) next[column]! += a * jacobian[row * dim + column]!;
          }
          adjoint = next;
        }
        out[outKind]![i] = BF16_BOUND_SIGMAS * Math.sqrt(sum);
      }
    }
    KINDS.forEach((kind, index) => {
      bounds[kind].push(out[index]!);
    });
  }
  return bounds;
}
