import { type ExecutionOptions, FusedOptimizer, type ParamSpec } from './optimizer';
import {
  type AdamOptions,
  type RAdamOptions,
  resolveAdamOptions,
  resolveRAdamOptions,
  resolveSgdOptions,
  type SgdOptions,
} from './options';
import {
  type AdaptiveHyperParameters,
  adaptiveStepScalars,
  type SgdHyperParameters,
  sgdStepScalars,
} from './step-scalars';

function adaptiveDefinition(name: string, hp: AdaptiveHyperParameters) {
  return {
    name,
    hasSecondMoment: true,
    rule: adaptiveStepScalars.bind(null, hp),
    getLr: () => hp.lr,
    setLr: (lr: number) => {
      hp.lr = lr;
    },
  };
}

/**
 * RAdam (Liu et al. 2019, arXiv 1908.03265): Adam whose adaptive step is multiplied by a rectification term
 * r_t once the variance of the adaptive learning rate is tractable (rho_t above a threshold), and an
 * SGD-with-momentum step before that. Matches torch.optim.RAdam by default; `preset` selects the original
 * repository's, TensorFlow Addons' or optax's semantics (see {@link RAdamPreset}).
 *
 * ```ts
 * const radam = await createRAdam(device, [{ param: weights, grad: weightGrads, length: 4096 }], { lr: 1e-3 });
 * const encoder = device.createCommandEncoder();
 * // ... forward and backward passes that write weightGrads ...
 * radam.step(encoder);
 * device.queue.submit([encoder.finish()]);
 * ```
 */
export async function createRAdam(
  device: GPUDevice,
  params: readonly ParamSpec[],
  options: RAdamOptions = {},
  execution?: ExecutionOptions,
): Promise<FusedOptimizer> {
  const hp = resolveRAdamOptions(options);
  return FusedOptimizer.create(device, params, adaptiveDefinition('RAdam', hp), execution);
}

/** torch.optim.Adam: L2 weight decay folded into the gradient, eps added to the bias-corrected sqrt(v). */
export async function createAdam(
  device: GPUDevice,
  params: readonly ParamSpec[],
  options: AdamOptions = {},
  execution?: ExecutionOptions,
): Promise<FusedOptimizer> {
  const hp = resolveAdamOptions(options, false);
  return FusedOptimizer.create(device, params, adaptiveDefinition('Adam', hp), execution);
}

/** torch.optim.AdamW: p *= 1 - lr*wd before the Adam step (default weightDecay 1e-2). */
export async function createAdamW(
  device: GPUDevice,
  params: readonly ParamSpec[],
  options: AdamOptions = {},
  execution?: ExecutionOptions,
): Promise<FusedOptimizer> {
  const hp = resolveAdamOptions(options, true);
  return FusedOptimizer.create(device, params, adaptiveDefinition('AdamW', hp), execution);
}

/** torch.optim.SGD with momentum, dampening and Nesterov; keeps one state buffer (momentum_buffer). */
export async function createSGD(
  device: GPUDevice,
  params: readonly ParamSpec[],
  options: SgdOptions = {},
  execution?: ExecutionOptions,
): Promise<FusedOptimizer> {
  const hp: SgdHyperParameters = resolveSgdOptions(options);
  return FusedOptimizer.create(
    device,
    params,
    {
      name: 'SGD',
      hasSecondMoment: false,
      rule: sgdStepScalars.bind(null, hp),
      getLr: () => hp.lr,
      setLr: (lr: number) => {
        hp.lr = lr;
      },
    },
    execution,
  );
}
