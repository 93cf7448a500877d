import { BufferBindingError, bindingAssert, configAssert } from './errors';

/** One parameter tensor: a range of f32 in a caller-owned buffer, and its gradient in another buffer. */
export interface ParamSpec {
  /** Holds the parameter values; needs GPUBufferUsage.STORAGE. Updated in place. */
  param: GPUBuffer;
  /** Holds the gradient, read only; needs GPUBufferUsage.STORAGE. */
  grad: GPUBuffer;
  /** Number of f32 elements. */
  length: number;
  /** Byte offset of the first element in `param`, a multiple of 4. @defaultValue 0 */
  paramOffset?: number;
  /** Byte offset of the first element in `grad`, a multiple of 4. @defaultValue 0 */
  gradOffset?: number;
  /** Shown in error messages and state dicts. @defaultValue `params[i]` */
  name?: string;
}

function isGpuBuffer(value: unknown): value is GPUBuffer {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as GPUBuffer).size === 'number' &&
    typeof (value as GPUBuffer).usage === 'number' &&
    typeof (value as GPUBuffer).destroy === 'function'
  );
}

export interface CheckedParam {
  name: string;
  param: GPUBuffer;
  grad: GPUBuffer;
  length: number;
  paramOffset: number;
  gradOffset: number;
}

function checkByteOffset(value: unknown, field: string): number {
  bindingAssert(
    typeof value === 'number' && Number.isInteger(value) && value >= 0 && value % 4 === 0,
    field,
    () => `Invalid ${field}: ${String(value)} (expected an integer byte offset >= 0 and a multiple of 4)`,
  );
  return value;
}

/** `fields[i]` names params[i] in messages, e.g. `paramGroups[1].params[0]`. */
export function checkParams(params: readonly ParamSpec[], fields: readonly string[]): CheckedParam[] {
  const checked = params.map((spec, i): CheckedParam => {
    const field = fields[i]!;
    configAssert(
      typeof spec === 'object' && spec !== null,
      field,
      () => `Invalid ${field}: ${String(spec)} (expected { param, grad, length })`,
    );
    const name = spec.name ?? field;
    configAssert(typeof name === 'string', `${field}.name`, () => `Invalid ${field}.name: expected a string`);
    for (const key of ['param', 'grad'] as const) {
      const buffer: unknown = spec[key];
      bindingAssert(isGpuBuffer(buffer), `${field}.${key}`, () => `${name}: ${key} is not a GPUBuffer`);
      bindingAssert(
        (buffer.usage & GPUBufferUsage.STORAGE) !== 0,
        `${field}.${key}`,
        () => `${name}: ${key} buffer "${buffer.label}" lacks GPUBufferUsage.STORAGE`,
      );
    }
    const length = spec.length;
    configAssert(
      typeof length === 'number' && Number.isInteger(length) && length >= 0,
      `${field}.length`,
      () => `Invalid ${field}.length: ${String(length)} (expected an integer element count >= 0)`,
    );
    bindingAssert(
      spec.param !== spec.grad,
      `${field}.grad`,
      () =>
        `${name}: param and grad are the same GPUBuffer; they must be different buffers, as WebGPU forbids ` +
        'binding one buffer both read-write and read-only in the same dispatch',
    );
    const paramOffset = checkByteOffset(spec.paramOffset ?? 0, `${field}.paramOffset`);
    const gradOffset = checkByteOffset(spec.gradOffset ?? 0, `${field}.gradOffset`);
    for (const [key, buffer, offset] of [
      ['param', spec.param, paramOffset],
      ['grad', spec.grad, gradOffset],
    ] as const) {
      bindingAssert(
        offset + length * 4 <= buffer.size,
        `${field}.${key}`,
        () =>
          `${name}: ${key} range [${offset}, ${offset + length * 4}) exceeds its buffer of ${buffer.size} bytes ` +
          `(${length} f32 at byte offset ${offset})`,
      );
    }
    return { name, param: spec.param, grad: spec.grad, length, paramOffset, gradOffset };
  });
  checkNoAliasing(checked, fields);
  return checked;
}

/** Writes to a parameter range must not touch any other parameter or any gradient the step reads. */
function checkNoAliasing(params: CheckedParam[], fields: readonly string[]): void {
  type Range = { buffer: GPUBuffer; start: number; end: number; what: string; index: number };
  const ranges: Range[] = [];
  params.forEach((p, index) => {
    if (p.length === 0) return;
    ranges.push({
      buffer: p.param,
      start: p.paramOffset,
      end: p.paramOffset + p.length * 4,
      what: 'param',
      index,
    });
    ranges.push({
      buffer: p.grad,
      start: p.gradOffset,
      end: p.gradOffset + p.length * 4,
      what: 'grad',
      index,
    });
  });
  const byBuffer = new Map<GPUBuffer, Range[]>();
  for (const range of ranges) {
    const list = byBuffer.get(range.buffer) ?? [];
    list.push(range);
    byBuffer.set(range.buffer, list);
  }
  for (const list of byBuffer.values()) {
    list.sort((a, b) => a.start - b.start);
    for (let i = 1; i < list.length; i++) {
      const previous = list[i - 1]!;
      const current = list[i]!;
      const overlap = current.start < previous.end;
      const bothRead = previous.what === 'grad' && current.what === 'grad';
      if (overlap && !bothRead) {
        const a = params[previous.index]!;
        const b = params[current.index]!;
        throw new BufferBindingError(
          `${fields[current.index]}.${current.what}`,
          `${b.name}: ${current.what} range [${current.start}, ${current.end}) overlaps the ${previous.what} range ` +
            `[${previous.start}, ${previous.end}) of ${a.name} in the same buffer; a parameter must not share memory ` +
            'with another parameter or with any gradient',
        );
      }
    }
  }
}
