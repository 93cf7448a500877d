import { adam, adamw, radam, sgd, type WebGPURadamTfjsOptimizer } from '../../src/tfjs/index';
import type { GoldenCase } from '../helpers/golden';

/**
 * The optimizer for a case, taking every hyper-parameter the case sets; a field this package does not
 * implement (amsgrad, an Adam with another eps placement, an unknown key) throws, so the case fails.
 */
export function optimizerFor(golden: GoldenCase): WebGPURadamTfjsOptimizer {
  const remaining = new Map(Object.entries(golden.hp));
  const take = (key: string) => {
    const value = remaining.get(key);
    remaining.delete(key);
    return value;
  };
  const num = (key: string) => take(key) as number | undefined;
  const bool = (key: string) => take(key) as boolean | undefined;
  const require = (key: string, supported: unknown) => {
    const value = take(key);
    if (value !== undefined && value !== supported) {
      throw new Error(`${golden.name}: hp.${key} = ${JSON.stringify(value)} is not implemented`);
    }
  };
  let optimizer: WebGPURadamTfjsOptimizer;
  if (golden.mode === 'lookahead') {
    throw new Error(`${golden.name}: Lookahead is not implemented by the tfjs op-based optimizers`);
  }
  switch (golden.mode) {
    case 'adam':
    case 'adamw': {
      require('amsgrad', false);
      require('epsMode', 'corrected');
      require('decoupled', golden.mode === 'adamw');
      const options = {
        learningRate: num('lr'),
        beta1: num('beta1'),
        beta2: num('beta2'),
        epsilon: num('eps'),
        weightDecay: num('weightDecay'),
        maximize: bool('maximize'),
      };
      optimizer = golden.mode === 'adam' ? adam(options) : adamw(options);
      break;
    }
    case 'sgd':
      optimizer = sgd({
        learningRate: num('lr'),
        momentum: num('momentum'),
        dampening: num('dampening'),
        nesterov: bool('nesterov'),
        weightDecay: num('weightDecay'),
        maximize: bool('maximize'),
      });
      break;
    default:
      optimizer = radam({
        preset: golden.mode,
        learningRate: num('lr'),
        beta1: num('beta1'),
        beta2: num('beta2'),
        epsilon: num('eps'),
        weightDecay: num('weightDecay'),
        decoupledWeightDecay: bool('decoupled'),
        maximize: bool('maximize'),
        threshold: num('threshold'),
        thresholdComparison: take('thresholdOp') as '>' | '>=' | undefined,
        epsMode: take('epsMode') as 'uncorrected' | 'corrected' | undefined,
        degeneratedToSgd: bool('degeneratedToSgd'),
      });
  }
  if (remaining.size > 0) {
    optimizer.dispose();
    throw new Error(`${golden.name}: hp fields not implemented: ${[...remaining.keys()].join(', ')}`);
  }
  return optimizer;
}

/** Whether the tfjs op-based optimizers implement a case at all: no Lookahead, no AMSGrad (see optimizerFor). */
export function tfjsImplements(golden: GoldenCase): boolean {
  return golden.mode !== 'lookahead' && golden.hp.amsgrad !== true;
}
