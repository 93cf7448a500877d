import { configAssert } from './errors';

/**
 * A learning-rate schedule: the factor applied to every param group's base lr at a 1-based optimizer step. It
 * must be a pure function of the step (the optimizer may evaluate it for a step more than once, and for a few
 * earlier steps when gradient checks can skip steps). Steps skipped for non-finite gradients do not advance it.
 */
export type LrSchedule = (step: number) => number;

function positiveInteger(value: number, field: string): number {
  configAssert(
    Number.isInteger(value) && value > 0,
    field,
    () => `Invalid ${field}: ${value} (expected an integer > 0)`,
  );
  return value;
}

function fraction(value: number, field: string): number {
  configAssert(
    value >= 0 && value <= 1,
    field,
    () => `Invalid ${field}: ${value} (expected 0 <= ${field} <= 1)`,
  );
  return value;
}

/** Factor 1 at every step. */
export function constantSchedule(): LrSchedule {
  return () => 1;
}

/** Rises linearly from 1/warmupSteps at step 1 to 1 at step warmupSteps, then stays at 1. */
export function linearWarmup(warmupSteps: number): LrSchedule {
  positiveInteger(warmupSteps, 'warmupSteps');
  return (step) => Math.min(1, step / warmupSteps);
}

/** Falls linearly from 1 at step 0 to endFactor at totalSteps, then stays there. */
export function linearDecay(totalSteps: number, endFactor = 0): LrSchedule {
  positiveInteger(totalSteps, 'totalSteps');
  fraction(endFactor, 'endFactor');
  return (step) => 1 - (1 - endFactor) * (Math.min(step, totalSteps) / totalSteps);
}

/** Half a cosine from 1 at step 0 to minFactor at totalSteps (torch CosineAnnealingLR with eta_min = minFactor·lr). */
export function cosineDecay(totalSteps: number, minFactor = 0): LrSchedule {
  positiveInteger(totalSteps, 'totalSteps');
  fraction(minFactor, 'minFactor');
  return (step) =>
    minFactor + (1 - minFactor) * 0.5 * (1 + Math.cos((Math.PI * Math.min(step, totalSteps)) / totalSteps));
}

/** Linear warmup over warmupSteps, then a cosine decay to minFactor at totalSteps. */
export function warmupCosine(warmupSteps: number, totalSteps: number, minFactor = 0): LrSchedule {
  positiveInteger(warmupSteps, 'warmupSteps');
  positiveInteger(totalSteps, 'totalSteps');
  configAssert(
    totalSteps > warmupSteps,
    'totalSteps',
    () => `Invalid totalSteps: ${totalSteps} (expected > warmupSteps ${warmupSteps})`,
  );
  const decay = cosineDecay(totalSteps - warmupSteps, minFactor);
  return (step) => (step <= warmupSteps ? step / warmupSteps : decay(step - warmupSteps));
}

/**
 * TensorFlow Addons RectifiedAdam's built-in schedule (total_steps > 0): linear warmup over
 * totalSteps·warmupProportion steps, then linear decay from lr to minLr over the remaining steps. Returned as a
 * factor of `lr`, the base learning rate the schedule was defined for.
 */
export function tfaRectifiedAdamSchedule(options: {
  totalSteps: number;
  warmupProportion?: number;
  minLr?: number;
  lr: number;
}): LrSchedule {
  const totalSteps = positiveInteger(options.totalSteps, 'totalSteps');
  const proportion = fraction(options.warmupProportion ?? 0.1, 'warmupProportion');
  const minLr = options.minLr ?? 0;
  configAssert(
    options.lr > 0 && Number.isFinite(options.lr),
    'lr',
    () => `Invalid lr: ${options.lr} (expected > 0)`,
  );
  configAssert(
    minLr >= 0 && Number.isFinite(minLr),
    'minLr',
    () => `Invalid minLr: ${minLr} (expected >= 0)`,
  );
  const warmupSteps = totalSteps * proportion;
  const decaySteps = Math.max(totalSteps - warmupSteps, 1);
  const decayRate = (minLr - options.lr) / decaySteps;
  return (step) => {
    const lr =
      step <= warmupSteps
        ? options.lr * (step / warmupSteps)
        : options.lr + decayRate * Math.min(step - warmupSteps, decaySteps);
    return lr / options.lr;
  };
}
