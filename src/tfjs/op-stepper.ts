import { add, div, mul, neg, sqrt, sub, type Tensor, tidy } from '@tensorflow/tfjs-core';
import { type Branch, type GroupHyperParameters, stepFactors } from '../step-scalars';
import type { OptimizerStepper, StepperProvider, StepRequest } from './stepper';

const f32 = Math.fround;

/**
 * The per-element factors of step t, as the fused kernel's `prepare` pass forms them (shaders/optimizer.wgsl:
 * StepScalars): the float64 step factors from `stepFactors` rounded to f32, times the f32 learning rate in f32.
 * Building them the same way keeps the op-based path on the fused path's numbers, not merely near them.
 */
export interface ElementScalars {
  branch: Branch;
  negateGradient: boolean;
  l2WeightDecay: number;
  /** 1 - lr*wd on updating steps with decoupled decay, else 1. */
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

export function elementScalars(hp: GroupHyperParameters, t: number): ElementScalars {
  const factors = stepFactors(hp, t);
  const lr = f32(hp.lr);
  const common = {
    branch: factors.branch,
    negateGradient: hp.maximize,
    adaptiveScale: f32(lr * f32(factors.adaptiveFactor)),
    denomEps: f32(factors.denomEps),
    momentumScale: f32(lr * f32(factors.momentumFactor)),
  };
  if (hp.kind === 'sgd') {
    return {
      ...common,
      l2WeightDecay: f32(hp.weightDecay),
      paramDecay: 1,
      beta1: f32(hp.momentum),
      // torch starts the momentum buffer as a copy of the first gradient and ignores dampening without momentum.
      gradWeight1: t === 1 || hp.momentum === 0 ? 1 : f32(1 - hp.dampening),
      beta2: 0,
      gradWeight2: 0,
      nesterovMomentum: factors.branch === 'nesterov' ? f32(hp.momentum) : 0,
    };
  }
  const decays = hp.decoupledWeightDecay && factors.branch !== 'none';
  return {
    ...common,
    l2WeightDecay: hp.decoupledWeightDecay ? 0 : f32(hp.weightDecay),
    paramDecay: decays ? f32(1 - f32(lr * f32(hp.weightDecay))) : 1,
    beta1: f32(hp.beta1),
    gradWeight1: f32(1 - hp.beta1),
    beta2: f32(hp.beta2),
    gradWeight2: f32(1 - hp.beta2),
    nesterovMomentum: 0,
  };
}

/**
 * One step from tfjs ops, element for element the fused kernel's `updateElement` in the same operation order,
 * so it runs on every backend (cpu, webgl, wasm, webgpu) with the same semantics.
 */
export function createOpStepper(): OptimizerStepper {
  return {
    name: 'ops',
    step(requests: readonly StepRequest[], hp: GroupHyperParameters): void {
      tidy(() => {
        for (const { variable, gradient, slot, t } of requests) {
          const s = elementScalars(hp, t);
          let grad: Tensor = s.negateGradient ? neg(gradient) : gradient;
          // Skipping the multiply keeps zero-decay steps exact even where a parameter is ±Inf.
          if (s.l2WeightDecay !== 0) grad = add(grad, mul(s.l2WeightDecay, variable));
          const nextM = add(mul(s.beta1, slot.m), mul(s.gradWeight1, grad));
          const nextV = slot.v ? add(mul(s.beta2, slot.v), mul(mul(s.gradWeight2, grad), grad)) : undefined;
          const decayed = s.paramDecay === 1 ? variable : mul(variable, s.paramDecay);
          let nextParam: Tensor | undefined;
          switch (s.branch) {
            case 'adaptive':
              if (!nextV) throw new Error('unreachable: an adaptive step without a second moment');
              nextParam = sub(decayed, div(mul(s.adaptiveScale, nextM), add(sqrt(nextV), s.denomEps)));
              break;
            case 'momentum':
              nextParam = sub(decayed, mul(s.momentumScale, nextM));
              break;
            case 'nesterov':
              nextParam = sub(decayed, mul(s.momentumScale, add(grad, mul(s.nesterovMomentum, nextM))));
              break;
            case 'none':
              break;
          }
          slot.m.assign(nextM);
          if (slot.v && nextV) slot.v.assign(nextV);
          if (nextParam) variable.assign(nextParam);
        }
      });
    },
    dispose(): void {},
  };
}

export const opStepperProvider: StepperProvider = {
  name: 'ops',
  supports: () => true,
  create: createOpStepper,
};
