import { configAssert } from './errors';

/**
 * A learning-rate schedule: the factor applied to every param group's base lr, as a function of `count`, the
 * number of optimizer steps completed before this one (0 on the first step). This is the convention of torch's
 * `LambdaLR` (`lr_lambda(last_epoch)` with one `scheduler.step()` after each `optimizer.step()`) and of optax
 * (`schedule(count)`), so a lambda or an optax schedule ports verbatim. It must be a pure function of `count` (the
 * optimizer may evaluate it for a count more than once, and for a few earlier counts when gradient checks can skip
 * steps). Steps skipped for non-finite gradients do not advance the count.
 */
export type LrSchedule = (count: number) => number;

const describe = (value: unknown) => (typeof value === 'string' ? JSON.stringify(value) : String(value));

function positiveInteger(value: number, field: string): number {
  configAssert(
    Number.isInteger(value) && value > 0,
    field,
    () => `Invalid ${field}: ${describe(value)} (expected an integer > 0)`,
  );
  return value;
}

function fraction(value: number, field: string): number {
  configAssert(
    typeof value === 'number' && value >= 0 && value <= 1,
    field,
    () => `Invalid ${field}: ${describe(value)} (expected 0 <= ${field} <= 1)`,
  );
  return value;
}

/** optax `linear_schedule(init, end, steps)` (its polynomial_schedule with power 1), operations in its order. */
function optaxLinear(init: number, end: number, steps: number): LrSchedule {
  return (count) => {
    const clipped = Math.min(Math.max(count, 0), steps);
    return (init - end) * (1 - clipped / steps) + end;
  };
}

/** optax `cosine_decay_schedule(1, steps, alpha)` (exponent 1): clamped at `alpha` from `steps` on. */
function optaxCosine(steps: number, alpha: number): LrSchedule {
  return (count) => {
    const clipped = Math.min(count, steps);
    const cosine = 0.5 * (1 + Math.cos((Math.PI * clipped) / steps));
    return (1 - alpha) * cosine + alpha;
  };
}

/** Factor 1 at every count: optax `constant_schedule(1)`, torch without a scheduler. */
export function constantSchedule(): LrSchedule {
  return () => 1;
}

/**
 * Linear warmup from 0 at count 0 to 1 at count `warmupSteps`, then 1: optax
 * `warmup_constant_schedule(0, 1, warmupSteps)` (= `linear_schedule(0, 1, warmupSteps)`), which is also the
 * `LambdaLR` of transformers' `get_constant_schedule_with_warmup`. The first step runs with lr 0 (its moments
 * still update), as in both.
 */
export function linearWarmup(warmupSteps: number): LrSchedule {
  return optaxLinear(0, 1, positiveInteger(warmupSteps, 'warmupSteps'));
}

/**
 * Linear decay from 1 at count 0 to `endFactor` at count `totalSteps`, then `endFactor`: optax
 * `linear_schedule(1, endFactor, totalSteps)`, and torch `LinearLR(start_factor=1, end_factor=endFactor,
 * total_iters=totalSteps)` (the same values; torch computes them by repeated multiplication).
 */
export function linearDecay(totalSteps: number, endFactor = 0): LrSchedule {
  positiveInteger(totalSteps, 'totalSteps');
  return optaxLinear(1, fraction(endFactor, 'endFactor'), totalSteps);
}

/**
 * Half a cosine from 1 at count 0 to `minFactor` at count `totalSteps`, then `minFactor`: optax
 * `cosine_decay_schedule(1, totalSteps, alpha=minFactor)`. Up to count `totalSteps` this is also torch
 * `CosineAnnealingLR(T_max=totalSteps, eta_min=minFactor·lr)`; past it torch's cosine climbs back up (period
 * 2·totalSteps) while this one, like optax, stays at `minFactor`.
 */
export function cosineDecay(totalSteps: number, minFactor = 0): LrSchedule {
  positiveInteger(totalSteps, 'totalSteps');
  return optaxCosine(totalSteps, fraction(minFactor, 'minFactor'));
}

/**
 * Linear warmup from 0 to 1 over `warmupSteps`, then a cosine decay to `minFactor` at count `totalSteps`, then
 * `minFactor`: optax `warmup_cosine_decay_schedule(init_value=0, peak_value=1, warmup_steps=warmupSteps,
 * decay_steps=totalSteps, end_value=minFactor)`.
 */
export function warmupCosine(warmupSteps: number, totalSteps: number, minFactor = 0): LrSchedule {
  positiveInteger(warmupSteps, 'warmupSteps');
  positiveInteger(totalSteps, 'totalSteps');
  configAssert(
    totalSteps > warmupSteps,
    'totalSteps',
    () => `Invalid totalSteps: ${totalSteps} (expected > warmupSteps ${warmupSteps})`,
  );
  const warmup = optaxLinear(0, 1, warmupSteps);
  const decay = optaxCosine(totalSteps - warmupSteps, fraction(minFactor, 'minFactor'));
  // optax join_schedules: the second schedule takes over at the boundary, counting from 0 there.
  return (count) => (count < warmupSteps ? warmup(count) : decay(count - warmupSteps));
}

/**
 * TensorFlow Addons RectifiedAdam's built-in schedule (total_steps > 0): linear warmup over
 * totalSteps·warmupProportion steps, then linear decay from lr to minLr over the remaining steps, evaluated at TFA's
 * `local_step = iterations + 1` = count + 1. Returned as a factor of `lr`, the base learning rate the schedule was
 * defined for (never below 0).
 */
export function tfaRectifiedAdamSchedule(options: {
  totalSteps: number;
  warmupProportion?: number;
  minLr?: number;
  lr: number;
}): LrSchedule {
  configAssert(
    typeof options === 'object' && options !== null,
    'options',
    () => `Invalid options: ${String(options)} (expected { totalSteps, warmupProportion?, minLr?, lr })`,
  );
  const totalSteps = positiveInteger(options.totalSteps, 'totalSteps');
  const proportion = fraction(options.warmupProportion ?? 0.1, 'warmupProportion');
  const minLr = options.minLr ?? 0;
  configAssert(
    typeof options.lr === 'number' && options.lr > 0 && Number.isFinite(options.lr),
    'lr',
    () => `Invalid lr: ${describe(options.lr)} (expected a finite number > 0)`,
  );
  configAssert(
    typeof minLr === 'number' && minLr >= 0 && Number.isFinite(minLr),
    'minLr',
    () => `Invalid minLr: ${describe(minLr)} (expected a finite number >= 0)`,
  );
  const lr = options.lr;
  const warmupSteps = totalSteps * proportion;
  const decaySteps = Math.max(totalSteps - warmupSteps, 1);
  const decayRate = (minLr - lr) / decaySteps;
  return (count) => {
    const localStep = count + 1;
    const scheduled =
      localStep <= warmupSteps
        ? lr * (localStep / warmupSteps)
        : lr + decayRate * Math.min(localStep - warmupSteps, decaySteps);
    // float64 can round the last decay steps to -1e-19 where TFA's formula reaches minLr = 0 exactly.
    return Math.max(scheduled / lr, 0);
  };
}
