// The checks behind the option tables (options.ts, training-options.ts): each takes a caller's value and the name
// of the field it came from, throws an OptimizerConfigError naming that field and the allowed range, or returns the
// value to use. Every hyper-parameter reaches the GPU as an f32, so the ranges are f32 ranges.
import { configAssert, describeValue } from './errors';
import { assertKnownKeys, snapshotKeys } from './option-keys';
import { type GroupHyperParameters, MAX_STEP_COUNT } from './step-scalars';

const describe = describeValue;

/** Largest finite f32. Every hyper-parameter reaches the GPU as an f32, so a float64 value above it is Infinity there. */
export const F32_MAX = 3.4028234663852886e38;
/** Smallest normal f32 (2^-126); GPUs may flush anything smaller to zero. */
export const F32_MIN_NORMAL = 2 ** -126;
const F32_RANGE = 'at most 3.4028235e38, the largest f32';

/** What the GPU receives is Math.fround(value): finite in float64 is not enough. */
export function isF32Finite(value: number): boolean {
  return Number.isFinite(Math.fround(value));
}

/**
 * The learning rate as the GPU sees it: a finite f32 >= 0. With decoupled weight decay the GPU also forms
 * lr * weightDecay (per step), so that product must be a finite f32 too.
 */
export function validateLearningRate(lr: unknown, field = 'lr', hp?: GroupHyperParameters): number {
  configAssert(
    typeof lr === 'number' && lr >= 0 && isF32Finite(lr),
    field,
    () => `Invalid ${field}: ${describe(lr)} (expected a finite number >= 0, ${F32_RANGE})`,
  );
  if (hp !== undefined && hp.kind !== 'sgd' && hp.decoupledWeightDecay) {
    const product = Math.fround(lr) * Math.fround(hp.weightDecay);
    configAssert(
      isF32Finite(product),
      field,
      () =>
        `Invalid ${field}: ${describe(lr)} (lr * weightDecay = ${product} must be ${F32_RANGE}, ` +
        `as the GPU computes 1 - lr * weightDecay in f32; weightDecay is ${hp.weightDecay})`,
    );
  }
  return lr === 0 ? 0 : lr;
}

export function nonNegative(value: unknown, field: string): number {
  configAssert(
    typeof value === 'number' && value >= 0 && isF32Finite(value),
    field,
    () => `Invalid ${field}: ${describe(value)} (expected a finite number >= 0, ${F32_RANGE})`,
  );
  return value === 0 ? 0 : value;
}

/**
 * The loss scale reaches the GPU as the f32 1 / gradScale; a reciprocal that is Infinity, zero or subnormal
 * (which GPUs may flush to zero) would corrupt every gradient, so both must be normal f32 numbers.
 */
export function validateGradScale(value: unknown, field = 'gradScale'): number {
  configAssert(
    typeof value === 'number' && value >= F32_MIN_NORMAL && value <= 2 ** 126,
    field,
    () =>
      `Invalid ${field}: ${describe(value)} (expected a number in [2^-126, 2^126], about [1.2e-38, 8.5e37], ` +
      'so that it and 1 / gradScale are normal f32 numbers)',
  );
  return value;
}

/** 0 turns clipping off; anything else reaches the GPU as an f32 that must stay normal and finite. */
export function validateMaxGradNorm(value: unknown, field = 'maxGradNorm'): number {
  configAssert(
    typeof value === 'number' && (value === 0 || (value >= F32_MIN_NORMAL && isF32Finite(value))),
    field,
    () =>
      `Invalid ${field}: ${describe(value)} (expected 0, which turns clipping off, or a number in ` +
      `[2^-126, 3.4028235e38], the normal f32 range)`,
  );
  return value === 0 ? 0 : value;
}

export function unitInterval(value: unknown, field: string): number {
  configAssert(
    typeof value === 'number' && value >= 0 && value < 1,
    field,
    () => `Invalid ${field}: ${describe(value)} (expected 0 <= ${field} < 1)`,
  );
  return value === 0 ? 0 : value;
}

export function flag(value: unknown, field: string): boolean {
  configAssert(
    typeof value === 'boolean',
    field,
    () => `Invalid ${field}: ${describe(value)} (expected true or false)`,
  );
  return value;
}

export function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  configAssert(
    allowed.includes(value as T),
    field,
    () => `Invalid ${field}: ${describe(value)} (expected one of ${allowed.map(describe).join(', ')})`,
  );
  return value as T;
}

export function betasFrom(value: unknown): [number, number] {
  configAssert(
    Array.isArray(value) && value.length === 2,
    'betas',
    () => `Invalid betas: ${describe(value)} (expected [beta1, beta2], each in [0, 1))`,
  );
  return [unitInterval(value[0], 'betas[0]'), unitInterval(value[1], 'betas[1]')];
}

export function threshold(value: unknown, field: string): number {
  configAssert(
    typeof value === 'number' && Number.isFinite(value) && value >= 4,
    field,
    () =>
      `Invalid ${field}: ${describe(value)} (expected a finite number >= 4: the rectification term is undefined for rho_t < 4)`,
  );
  return value;
}

const LOOKAHEAD_KEYS = ['k', 'alpha'] as const;

/**
 * `lookahead: { k, alpha }` as the GPU takes it: k an integer in 1..MAX_STEP_COUNT (the per-tensor count is a
 * u32), alpha in (0, 1] and a normal f32 (the kernel reads alpha 0 as "no sync this step").
 */
export function lookaheadFrom(value: unknown, field: string): { k: number; alpha: number } {
  assertKnownKeys(value, LOOKAHEAD_KEYS, 'lookahead option', field);
  const { k, alpha } = snapshotKeys(value as { k?: unknown; alpha?: unknown }, LOOKAHEAD_KEYS, field);
  configAssert(
    typeof k === 'number' && Number.isInteger(k) && k >= 1 && k <= MAX_STEP_COUNT,
    `${field}.k`,
    () => `Invalid ${field}.k: ${describe(k)} (expected an integer in 1..${MAX_STEP_COUNT})`,
  );
  configAssert(
    typeof alpha === 'number' && alpha >= F32_MIN_NORMAL && alpha <= 1,
    `${field}.alpha`,
    () =>
      `Invalid ${field}.alpha: ${describe(alpha)} (expected 0 < alpha <= 1, at least 2^-126 so it stays a normal f32)`,
  );
  return { k, alpha };
}
