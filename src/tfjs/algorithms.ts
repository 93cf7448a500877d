// The four concrete tfjs optimizers: each maps its torch-named options onto the shared base class and back
// (getConfig), and registers itself with tfjs serialization. Apart from the base class so that adding an
// algorithm touches a short file of declarations, not the class that owns state and stepping.
import { serialization } from '@tensorflow/tfjs-core';
import type { RAdamPreset } from '../options';
import type { AdaptiveHyperParameters, SgdHyperParameters } from '../step-scalars';
import { WebGPURadamTfjsOptimizer } from './optimizer';
import {
  resolveFused,
  resolveTfjsAdam,
  resolveTfjsRAdam,
  resolveTfjsSgd,
  type TfjsAdamOptions,
  type TfjsRAdamOptions,
  type TfjsSgdOptions,
} from './options';

/**
 * RAdam (Liu et al. 2019, arXiv 1908.03265) for TensorFlow.js: torch.optim.RAdam's semantics by default, the
 * original repository's, TensorFlow Addons' or optax's with `preset`. Per-variable step counts, host-side
 * float64 step factors: the same numbers as the package's WebGPU RAdam.
 *
 * ```ts
 * model.compile({ optimizer: radam({ learningRate: 1e-3 }), loss: 'meanSquaredError' });
 * ```
 */
export class RAdamOptimizer extends WebGPURadamTfjsOptimizer<AdaptiveHyperParameters> {
  static readonly className = 'WebGPURadam.RAdam';
  readonly preset: RAdamPreset;

  constructor(options: TfjsRAdamOptions = {}) {
    const { hp, preset } = resolveTfjsRAdam(options);
    super('RAdam', hp, resolveFused(options));
    this.preset = preset;
  }

  /** Every option, resolved (the preset's choices written out), so fromConfig() rebuilds the same optimizer. */
  override getConfig(): serialization.ConfigDict {
    const hp = this.hyperParameters;
    return {
      preset: this.preset,
      learningRate: hp.lr,
      beta1: hp.beta1,
      beta2: hp.beta2,
      epsilon: hp.eps,
      weightDecay: hp.weightDecay,
      decoupledWeightDecay: hp.decoupledWeightDecay,
      maximize: hp.maximize,
      threshold: hp.threshold,
      thresholdComparison: hp.thresholdComparison,
      epsMode: hp.epsMode,
      degeneratedToSgd: hp.degeneratedToSgd,
      fused: this.fused,
    };
  }
}

function adamConfig(hp: AdaptiveHyperParameters, fused: boolean): serialization.ConfigDict {
  return {
    learningRate: hp.lr,
    beta1: hp.beta1,
    beta2: hp.beta2,
    epsilon: hp.eps,
    weightDecay: hp.weightDecay,
    maximize: hp.maximize,
    fused,
  };
}

/** torch.optim.Adam for TensorFlow.js: L2 weight decay into the gradient, epsilon on the bias-corrected sqrt(v). */
export class AdamOptimizer extends WebGPURadamTfjsOptimizer<AdaptiveHyperParameters> {
  static readonly className = 'WebGPURadam.Adam';

  constructor(options: TfjsAdamOptions = {}) {
    super('Adam', resolveTfjsAdam(options, false), resolveFused(options));
  }

  override getConfig(): serialization.ConfigDict {
    return adamConfig(this.hyperParameters, this.fused);
  }
}

/** torch.optim.AdamW for TensorFlow.js: p *= 1 - lr*wd before the Adam update (default weightDecay 1e-2). */
export class AdamWOptimizer extends WebGPURadamTfjsOptimizer<AdaptiveHyperParameters> {
  static readonly className = 'WebGPURadam.AdamW';

  constructor(options: TfjsAdamOptions = {}) {
    super('AdamW', resolveTfjsAdam(options, true), resolveFused(options));
  }

  override getConfig(): serialization.ConfigDict {
    return adamConfig(this.hyperParameters, this.fused);
  }
}

/** torch.optim.SGD for TensorFlow.js: momentum, dampening, Nesterov, L2 weight decay, maximize. */
export class SGDOptimizer extends WebGPURadamTfjsOptimizer<SgdHyperParameters> {
  static readonly className = 'WebGPURadam.SGD';

  constructor(options: TfjsSgdOptions = {}) {
    super('SGD', resolveTfjsSgd(options), resolveFused(options));
  }

  override getConfig(): serialization.ConfigDict {
    const hp = this.hyperParameters;
    return {
      learningRate: hp.lr,
      momentum: hp.momentum,
      dampening: hp.dampening,
      nesterov: hp.nesterov,
      weightDecay: hp.weightDecay,
      maximize: hp.maximize,
      fused: this.fused,
    };
  }
}

// Registered when this module loads, so that tf.loadLayersModel can rebuild a saved model's optimizer.
serialization.registerClass(RAdamOptimizer);
serialization.registerClass(AdamOptimizer);
serialization.registerClass(AdamWOptimizer);
serialization.registerClass(SGDOptimizer);

/** A tfjs RAdam optimizer (torch semantics by default); see {@link TfjsRAdamOptions}. */
export function radam(options?: TfjsRAdamOptions): RAdamOptimizer {
  return new RAdamOptimizer(options);
}

/** A tfjs AdamW optimizer with torch.optim.AdamW's semantics. */
export function adamw(options?: TfjsAdamOptions): AdamWOptimizer {
  return new AdamWOptimizer(options);
}

/** A tfjs Adam optimizer with torch.optim.Adam's semantics (per-variable steps, L2 weight decay, maximize). */
export function adam(options?: TfjsAdamOptions): AdamOptimizer {
  return new AdamOptimizer(options);
}

/** A tfjs SGD optimizer with torch.optim.SGD's semantics (momentum, dampening, Nesterov). */
export function sgd(options?: TfjsSgdOptions): SGDOptimizer {
  return new SGDOptimizer(options);
}
