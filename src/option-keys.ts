// Reading a caller's option objects: each known key read once (getters and proxies see one read, throwing ones
// become typed errors), and unknown keys rejected with the nearest valid name. Shared by every option table.
import { configAssert, describeValue, OptimizerConfigError } from './errors';

// Names people reach for, from torch, tfjs, optax and Keras, keyed by their normalized spelling (see below).
const ALIASES: Readonly<Record<string, readonly string[]>> = {
  lr: ['learningrate', 'alpha', 'stepsize', 'rate'],
  betas: ['beta', 'beta1', 'beta2', 'b1', 'b2'],
  eps: ['epsilon'],
  weightDecay: ['wd', 'decay', 'l2', 'weightdecayrate'],
  decoupledWeightDecay: ['decoupled', 'decoupleddecay', 'adamw'],
  maxGradNorm: ['clipnorm', 'maxnorm', 'clipgradnorm', 'gradclip', 'clip', 'gradnorm', 'globalclipnorm'],
  gradScale: ['lossscale', 'scale', 'gradientscale', 'lossscaling'],
  skipNonFinite: ['skipnan', 'skipinf', 'skipnonfinitegrads', 'skipoverflow'],
  schedule: ['scheduler', 'lrschedule', 'lrscheduler'],
  threshold: ['rhothreshold', 'smathreshold', 'nsmathreshold'],
  paramOffset: ['offset', 'byteoffset', 'paramsoffset', 'parameteroffset', 'poffset', 'paramoffsetbytes'],
  gradOffset: ['gradientoffset', 'gradsoffset', 'goffset', 'gradbyteoffset', 'gradoffsetbytes'],
  length: ['size', 'count', 'numel', 'len', 'elements', 'n'],
  param: ['params', 'parameter', 'parameters', 'weight', 'weights', 'p', 'buffer'],
  grad: ['grads', 'gradient', 'gradients', 'g'],
  params: ['param', 'parameters', 'tensors'],
  name: ['label'],
  label: ['name'],
};

const normalize = (key: string) => key.toLowerCase().replace(/[\s_-]/g, '');

/** Optimal-string-alignment distance: edits, with a swap of two neighbours counting as one (`gradOffest`). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      }
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}

/** The known name a caller most likely meant by `key`, or undefined when nothing is close. */
export function nearestName(key: string, known: readonly string[]): string | undefined {
  const wanted = normalize(key);
  const exact = known.find((name) => normalize(name) === wanted);
  if (exact !== undefined) return exact;
  const aliased = known.find((name) => ALIASES[name]?.includes(wanted));
  // The distance table is |key| × |name|: a megabyte-long key is nobody's typo.
  if (aliased !== undefined || wanted.length > 64) return aliased;
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.floor(wanted.length / 3));
  for (const name of known) {
    const distance = editDistance(wanted, normalize(name));
    if (distance <= bestDistance) {
      best = name;
      bestDistance = distance - 1;
    }
  }
  return best;
}

/**
 * Rejects names nobody reads (most are typos: `weight_decay`, `gradOffest`), saying the nearest valid one.
 * `what` reads as `Unknown ${what} "key"`; `field` prefixes the error's field (`params[0]` → `params[0].offset`).
 */
export function assertKnownKeys(
  object: unknown,
  known: readonly string[],
  what: string,
  field = '',
  hint: (key: string) => string | undefined = () => undefined,
): void {
  const target = field === '' ? 'options' : field;
  configAssert(
    typeof object === 'object' && object !== null && !guardedRead(target, () => Array.isArray(object)),
    target,
    () => `Invalid ${target}: ${describeValue(object)} (expected an object)`,
  );
  const keys = guardedRead(target, () => Object.keys(object));
  for (const key of keys) {
    if (known.includes(key)) continue;
    const nearest = nearestName(key, known);
    const extra = hint(key);
    throw new OptimizerConfigError(
      field === '' ? key : `${field}.${key}`,
      `${field === '' ? 'Unknown' : `${field}: unknown`} ${what} ${describeValue(key)}` +
        (nearest === undefined ? '' : `; did you mean "${nearest}"?`) +
        (extra === undefined ? ` (known: ${known.join(', ')})` : ` (${extra})`),
    );
  }
}

/** Runs `read` on a caller's object, turning a throwing getter or proxy trap into a typed error for `field`. */
export function guardedRead<T>(field: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof OptimizerConfigError) throw error;
    throw new OptimizerConfigError(
      field,
      `Invalid ${field}: reading it threw (${error instanceof Error ? error.message : describeValue(error)})`,
      { cause: error },
    );
  }
}

/** Reads each known key once: getters and proxies see one read, and later code works on a plain copy. */
export function snapshotKeys<T extends object>(
  object: T,
  keys: readonly string[],
  field: string,
): Partial<T> {
  const copy: Record<string, unknown> = {};
  for (const key of keys) {
    const value = guardedRead(`${field}.${key}`, () => (object as Record<string, unknown>)[key]);
    // An explicit undefined means "not given", as in torch: it never replaces a default or an inherited value.
    if (value !== undefined) copy[key] = value;
  }
  return copy as Partial<T>;
}
