// The checks of step()'s arguments that WebGPU would otherwise make too late (inside beginComputePass, where a
// failure throws or invalidates the caller's encoder), and of setActive()'s: made before anything changes.
import { configAssert, describeValue, OptimizerConfigError } from './errors';
import { isStepOptions, type StepOptions } from './step-buffers';

/** step()'s second argument: StepOptions, or (the older form) the timestamp writes alone. */
export type StepArgument = StepOptions | GPUComputePassTimestampWrites | undefined;

/** The timestamp writes in step()'s second argument, either form. */
export function timestampWritesOf(options: StepArgument): GPUComputePassTimestampWrites | undefined {
  return isStepOptions(options) ? options.timestampWrites : (options as GPUComputePassTimestampWrites);
}

/** step()'s StepOptions when they bind other grad or param buffers for this step; undefined otherwise. */
export function givenBuffers(options: StepArgument): StepOptions | undefined {
  return isStepOptions(options) && (options.grads != null || options.params != null) ? options : undefined;
}

/** step()'s encoder and timestamp writes, checked before anything changes. */
export function checkStepArguments(encoder: unknown, timestampWrites: unknown, name: string): void {
  configAssert(
    isCommandEncoder(encoder),
    'encoder',
    () => `${name}.step: expected a GPUCommandEncoder, got ${describeValue(encoder)}`,
  );
  checkTimestampWrites(timestampWrites, name);
}

/** A tensor index of setActive() / isActive(). */
export function checkTensorIndex(tensor: unknown, tensorCount: number): asserts tensor is number {
  configAssert(
    typeof tensor === 'number' && Number.isInteger(tensor) && tensor >= 0 && tensor < tensorCount,
    'tensor',
    () => `Invalid tensor index: ${describeValue(tensor)} (expected an integer in 0..${tensorCount - 1})`,
  );
}

export function isCommandEncoder(value: unknown): value is GPUCommandEncoder {
  if (typeof value !== 'object' || value === null) return false;
  const encoder = value as GPUCommandEncoder;
  return (
    typeof encoder.beginComputePass === 'function' &&
    typeof encoder.clearBuffer === 'function' &&
    typeof encoder.finish === 'function'
  );
}

/**
 * The checks WebGPU would make of `timestampWrites` inside beginComputePass (where a failure throws, or
 * invalidates the caller's encoder), made before anything changes. Whether the query set belongs to the
 * optimizer's device cannot be seen from outside: WebGPU reports that when the encoder is finished.
 */
export function checkTimestampWrites(value: unknown, name: string): void {
  if (value === undefined || value === null) return;
  const fail = (field: string, why: string): never => {
    throw new OptimizerConfigError(
      field,
      `${name}.step: invalid ${field}: ${why} (expected undefined or { querySet: a GPUQuerySet of type ` +
        "'timestamp', beginningOfPassWriteIndex?, endOfPassWriteIndex? }, with at least one index, each an " +
        'integer below querySet.count, and two different indices)',
    );
  };
  if (typeof value !== 'object') fail('timestampWrites', describeValue(value));
  const writes = value as Partial<GPUComputePassTimestampWrites>;
  const querySet: unknown = writes.querySet;
  const isQuerySet =
    typeof querySet === 'object' &&
    querySet !== null &&
    typeof (querySet as GPUQuerySet).count === 'number' &&
    typeof (querySet as GPUQuerySet).destroy === 'function';
  if (!isQuerySet) fail('timestampWrites.querySet', describeValue(querySet));
  const { type, count } = querySet as GPUQuerySet;
  if (type !== 'timestamp') fail('timestampWrites.querySet', `a query set of type '${type}'`);
  const begin = writes.beginningOfPassWriteIndex;
  const end = writes.endOfPassWriteIndex;
  for (const [key, index] of [
    ['beginningOfPassWriteIndex', begin],
    ['endOfPassWriteIndex', end],
  ] as const) {
    if (index !== undefined && !(Number.isInteger(index) && index >= 0 && index < count)) {
      fail(`timestampWrites.${key}`, `${String(index)} with querySet.count ${count}`);
    }
  }
  if (begin === undefined && end === undefined) fail('timestampWrites', 'no write index');
  if (begin === end) fail('timestampWrites', `both write indices are ${String(begin)}`);
}
