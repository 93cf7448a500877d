// Conversion between a state dict and tfjs optimizers' getWeights()/setWeights() arrays (Adam-like state: the
// iteration count, then every variable's first moment, then every second moment). Everything is checked first and
// a mismatch throws an OptimizerStateError naming it.
import { OptimizerStateError } from './errors';
import {
  assertStateHeader,
  describe,
  isRecord,
  isStepCount,
  type OptimizerState,
  type StateHeader,
  type TensorStateHeader,
} from './state';
import { MAX_STEP_COUNT } from './step-scalars';

/**
 * tfjs optimizers' getWeights() order for Adam-like state: the iteration count first, then every variable's first
 * moment, then every variable's second moment. Returns plain arrays to feed tf.tensor().
 */
export function toTfjsWeights(state: OptimizerState): { name: string; values: Float32Array }[] {
  if (!isRecord(state) || !(state.payload instanceof Float32Array)) {
    throw new OptimizerStateError(
      `toTfjsWeights: expected { header, payload: Float32Array }, got ${describe(state)}`,
    );
  }
  const { header, payload } = state;
  assertStateHeader(header, payload.length, 'toTfjsWeights');
  const slice = (offset: number, length: number) => payload.slice(offset, offset + length);
  return [
    { name: 'iter', values: Float32Array.of(header.step) },
    ...header.tensors.map((t) => ({ name: `${t.name}/m`, values: slice(t.exp_avg, t.length) })),
    ...header.tensors
      .filter((t) => t.exp_avg_sq !== undefined)
      .map((t) => ({ name: `${t.name}/v`, values: slice(t.exp_avg_sq!, t.length) })),
  ];
}

/** The inverse of toTfjsWeights, given the header of a state of the same model (names and lengths). */
export function fromTfjsWeights(
  template: StateHeader,
  weights: readonly { values: ArrayLike<number> }[],
): OptimizerState {
  function fail(why: string): never {
    throw new OptimizerStateError(`fromTfjsWeights: ${why}`);
  }
  if (!isRecord(template) || !Array.isArray(template.tensors))
    fail(`the template is ${describe(template)}, expected a state header with tensors`);
  const tensors = template.tensors;
  for (const [i, t] of tensors.entries()) {
    if (!isRecord(t) || typeof t.name !== 'string' || !Number.isInteger(t.length) || t.length < 0)
      fail(`template tensors[${i}] is ${describe(t)}, expected { name, length, … }`);
  }
  if (!Array.isArray(weights)) fail(`weights is ${describe(weights)}, expected an array of { values }`);
  for (const [i, w] of weights.entries()) {
    const values: unknown = isRecord(w) ? w.values : undefined;
    if (!isRecord(values) && !Array.isArray(values) && !ArrayBuffer.isView(values))
      fail(`weights[${i}] is ${describe(w)}, expected { values: an array of numbers }`);
    if (!Number.isInteger((values as ArrayLike<number>).length))
      fail(`weights[${i}].values has no length, expected an array of numbers`);
  }
  const hasSecond = tensors.every((t) => t.exp_avg_sq !== undefined);
  const expected = 1 + tensors.length * (hasSecond ? 2 : 1);
  if (weights.length !== expected) {
    throw new OptimizerStateError(
      `tfjs weights: expected ${expected} arrays (iterations, m…, v…), got ${weights.length}`,
    );
  }
  const step = weights[0]!.values[0];
  if (!isStepCount(step))
    fail(`weights[0] (iterations) is ${describe(step)}, expected an integer in [0, ${MAX_STEP_COUNT}]`);
  const total = tensors.reduce((sum, t) => sum + t.length, 0);
  const payload = new Float32Array(total * (hasSecond ? 2 : 1));
  let offset = 0;
  const out: TensorStateHeader[] = tensors.map((t) => ({ name: t.name, length: t.length, step, exp_avg: 0 }));
  for (const [which, base] of (hasSecond ? [0, 1] : [0]).map((w) => [w, 1 + w * tensors.length] as const)) {
    tensors.forEach((t, i) => {
      const values = weights[base + i]!.values;
      if (values.length !== t.length) {
        throw new OptimizerStateError(
          `tfjs weights: array ${base + i} has ${values.length} values, ${t.name} needs ${t.length}`,
        );
      }
      for (let k = 0; k < t.length; k++) {
        const value = values[k];
        if (typeof value !== 'number')
          fail(`weights[${base + i}][${k}] is ${describe(value)}, expected a number`);
        payload[offset + k] = value;
      }
      if (which === 0) out[i]!.exp_avg = offset;
      else out[i]!.exp_avg_sq = offset;
      offset += t.length;
    });
  }
  return { header: { ...template, step, tensors: out }, payload };
}
