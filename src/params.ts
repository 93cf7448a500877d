import { BufferBindingError, bindingAssert, configAssert, describeValue } from './errors';
import { assertKnownKeys, snapshotKeys } from './options';

/** One parameter tensor: a range of f32 in a caller-owned buffer, and its gradient in another buffer. */
export interface ParamSpec {
  /** Holds the parameter values; needs GPUBufferUsage.STORAGE. Updated in place. */
  param: GPUBuffer;
  /** Holds the gradient, read only; needs GPUBufferUsage.STORAGE. */
  grad: GPUBuffer;
  /** Number of f32 elements. */
  length: number;
  /** Byte offset of the first element in `param`, a multiple of 4. @defaultValue 0 */
  paramOffset?: number | undefined;
  /** Byte offset of the first element in `grad`, a multiple of 4. @defaultValue 0 */
  gradOffset?: number | undefined;
  /** Shown in error messages and state dicts. @defaultValue `params[i]` */
  name?: string | undefined;
}

export function isGpuBuffer(value: unknown): value is GPUBuffer {
  try {
    return (
      typeof value === 'object' &&
      value !== null &&
      typeof (value as GPUBuffer).size === 'number' &&
      typeof (value as GPUBuffer).usage === 'number' &&
      typeof (value as GPUBuffer).destroy === 'function'
    );
  } catch {
    // A getter or proxy trap that throws: whatever this is, it is not a GPUBuffer.
    return false;
  }
}

export interface CheckedParam {
  name: string;
  param: GPUBuffer;
  grad: GPUBuffer;
  length: number;
  paramOffset: number;
  gradOffset: number;
}

const SPEC_KEYS = ['param', 'grad', 'length', 'paramOffset', 'gradOffset', 'name'] as const;

function checkByteOffset(value: unknown, field: string): number {
  bindingAssert(
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value % 4 === 0,
    field,
    () =>
      `Invalid ${field}: ${describeValue(value)} (expected an integer byte offset >= 0 and a multiple of 4)`,
  );
  return value === 0 ? 0 : value;
}

/**
 * `fields[i]` names params[i] in messages, e.g. `paramGroups[1].params[0]`. Each spec's fields are read once,
 * so a getter or proxy cannot hand one value to the checks and another to the optimizer.
 */
export function checkParams(params: readonly unknown[], fields: readonly string[]): CheckedParam[] {
  const checked = params.map((raw, i): CheckedParam => {
    const field = fields[i]!;
    configAssert(
      typeof raw === 'object' && raw !== null,
      field,
      () => `Invalid ${field}: ${describeValue(raw)} (expected { param, grad, length })`,
    );
    assertKnownKeys(raw, SPEC_KEYS, 'parameter spec key', field);
    const spec = snapshotKeys(raw as ParamSpec, SPEC_KEYS, field);
    const name = spec.name ?? field;
    configAssert(
      typeof name === 'string',
      `${field}.name`,
      () => `Invalid ${field}.name: ${describeValue(name)} (expected a string)`,
    );
    const { param, grad } = spec;
    for (const [key, buffer] of [
      ['param', param],
      ['grad', grad],
    ] as const) {
      bindingAssert(isGpuBuffer(buffer), `${field}.${key}`, () => `${name}: ${key} is not a GPUBuffer`);
      bindingAssert(
        (buffer.usage & GPUBufferUsage.STORAGE) !== 0,
        `${field}.${key}`,
        () => `${name}: ${key} buffer "${buffer.label}" lacks GPUBufferUsage.STORAGE`,
      );
    }
    // Narrowed above, inside the loop; TypeScript cannot carry that out of it.
    const paramBuffer = param as GPUBuffer;
    const gradBuffer = grad as GPUBuffer;
    const length = spec.length;
    configAssert(
      typeof length === 'number' && Number.isSafeInteger(length) && length >= 0,
      `${field}.length`,
      () => `Invalid ${field}.length: ${describeValue(length)} (expected an integer element count >= 0)`,
    );
    bindingAssert(
      paramBuffer !== gradBuffer,
      `${field}.grad`,
      () =>
        `${name}: param and grad are the same GPUBuffer; they must be different buffers, as WebGPU forbids ` +
        'binding one buffer both read-write and read-only in the same dispatch',
    );
    const paramOffset = checkByteOffset(spec.paramOffset ?? 0, `${field}.paramOffset`);
    const gradOffset = checkByteOffset(spec.gradOffset ?? 0, `${field}.gradOffset`);
    for (const [key, buffer, offset] of [
      ['param', paramBuffer, paramOffset],
      ['grad', gradBuffer, gradOffset],
    ] as const) {
      bindingAssert(
        offset + length * 4 <= buffer.size,
        `${field}.${key}`,
        () =>
          `${name}: ${key} range [${offset}, ${offset + length * 4}) exceeds its buffer of ${buffer.size} bytes ` +
          `(${length} f32 at byte offset ${offset})`,
      );
    }
    return {
      name,
      param: paramBuffer,
      grad: gradBuffer,
      length: length === 0 ? 0 : length,
      paramOffset,
      gradOffset,
    };
  });
  checkNoAliasing(checked, fields);
  return checked;
}

interface ByteRange {
  start: number;
  end: number;
  /** Params (and the moments beside them) are written by a step; grads are only read. */
  written: boolean;
  index: number;
}

/**
 * No range a step writes may share a byte with any other tensor's range in the same buffer, read or written.
 * A sweep over each buffer's ranges sorted by start compares every range with the furthest-reaching earlier
 * range (and the furthest-reaching earlier written one), which finds an overlapping pair whenever one exists,
 * adjacent in the sorted order or not.
 */
function checkNoAliasing(params: CheckedParam[], fields: readonly string[]): void {
  const byBuffer = new Map<GPUBuffer, ByteRange[]>();
  const add = (buffer: GPUBuffer, range: ByteRange) => {
    const list = byBuffer.get(buffer);
    if (list) list.push(range);
    else byBuffer.set(buffer, [range]);
  };
  params.forEach((p, index) => {
    if (p.length === 0) return;
    add(p.param, { start: p.paramOffset, end: p.paramOffset + p.length * 4, written: true, index });
    add(p.grad, { start: p.gradOffset, end: p.gradOffset + p.length * 4, written: false, index });
  });
  const what = (range: ByteRange) => (range.written ? 'param' : 'grad');
  for (const list of byBuffer.values()) {
    list.sort((a, b) => a.start - b.start || a.end - b.end);
    let furthest: ByteRange | undefined;
    let furthestWritten: ByteRange | undefined;
    for (const current of list) {
      const other = current.written ? furthest : furthestWritten;
      if (other !== undefined && other.end > current.start) {
        const a = params[other.index]!;
        const b = params[current.index]!;
        throw new BufferBindingError(
          `${fields[current.index]}.${what(current)}`,
          `${b.name}: ${what(current)} range [${current.start}, ${current.end}) overlaps the ${what(other)} range ` +
            `[${other.start}, ${other.end}) of ${a.name} in the same buffer; a parameter must not share memory ` +
            'with another parameter or with any gradient',
        );
      }
      if (furthest === undefined || current.end > furthest.end) furthest = current;
      if (current.written && (furthestWritten === undefined || current.end > furthestWritten.end)) {
        furthestWritten = current;
      }
    }
  }
}
