// The schedule's factor for each step, checked as the GPU will use it: step() evaluates it before anything changes,
// so a schedule that throws or returns a factor that would overflow some group's lr in f32 leaves the optimizer as
// it was.
import { configAssert, describeValue, OptimizerConfigError } from './errors';
import { F32_MAX } from './option-checks';
import type { LrSchedule } from './schedules';
import { type GroupHyperParameters, largestStepFactor } from './step-scalars';

/**
 * The schedule's factor after `count` completed steps, checked as the GPU will use it: a number that is finite
 * and >= 0 in f32, whose f32 product with every group's lr (and, with decoupled decay, with its weight decay) is
 * finite too. Throws an OptimizerConfigError naming the schedule or the lr that overflows.
 */
export function checkedScheduleFactor(
  schedule: LrSchedule,
  count: number,
  groups: readonly { readonly hp: GroupHyperParameters }[],
): number {
  let factor: unknown;
  try {
    factor = schedule(count);
  } catch (error) {
    const failure = new OptimizerConfigError(
      'schedule',
      `Invalid schedule: it threw at count ${count}: ${error instanceof Error ? error.message : String(error)}`,
    );
    failure.cause = error;
    throw failure;
  }
  configAssert(
    typeof factor === 'number' && factor >= 0 && Number.isFinite(Math.fround(factor)),
    'schedule',
    () =>
      `Invalid schedule factor ${describeValue(factor)} at count ${count} (expected a number >= 0 and finite ` +
      `in f32, <= ${F32_MAX})`,
  );
  for (let g = 0; g < groups.length; g++) {
    const hp = groups[g]!.hp;
    // The products the GPU forms in f32 from this lr: lr·factor, times 1/bc1 (largest at step 1), times the
    // decoupled weight decay. Any that overflows would turn parameters into ±Infinity.
    const lr = Math.fround(Math.fround(hp.lr) * Math.fround(factor));
    const decay = hp.kind !== 'sgd' && hp.decoupledWeightDecay ? Math.fround(hp.weightDecay) : 0;
    const bound = Math.fround(largestStepFactor(hp));
    if (fitsF32(lr, bound, decay)) continue;
    const lrAlone = fitsF32(Math.fround(hp.lr), bound, decay);
    throw new OptimizerConfigError(
      lrAlone ? 'schedule' : groups.length > 1 ? `paramGroups[${g}].lr` : 'lr',
      `Invalid ${lrAlone ? `schedule factor ${factor} at count ${count}` : `lr ${hp.lr}`}: ` +
        `paramGroups[${g}]'s lr ${hp.lr} × schedule factor ${factor}` +
        `${bound !== 1 ? ` × 1/(1 - beta1) ${bound}` : ''}${decay > 0 ? ` (or × weightDecay ${hp.weightDecay})` : ''} ` +
        `overflows f32 (max ${F32_MAX})`,
    );
  }
  return factor;
}

// A plain function, not a closure per group: the schedule is checked on every step.
function fitsF32(scaled: number, bound: number, decay: number): boolean {
  return Number.isFinite(Math.fround(scaled * bound)) && Number.isFinite(Math.fround(scaled * decay));
}
