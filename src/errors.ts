/** Base class of every error this package throws on purpose; `instanceof WebGPURadamError` catches them all. */
export class WebGPURadamError extends Error {
  override name = 'WebGPURadamError';
}

/** A hyper-parameter or option is missing, of the wrong type, or outside its allowed range. */
export class OptimizerConfigError extends WebGPURadamError {
  override name = 'OptimizerConfigError';
  constructor(
    /** The option's name as the caller spelled it, e.g. `betas[1]` or `params[3].length`. */
    readonly field: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A GPUBuffer argument cannot be used as given: too small, misaligned, missing a usage flag, aliased, … */
export class BufferBindingError extends WebGPURadamError {
  override name = 'BufferBindingError';
  constructor(
    readonly field: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * The optimizer cannot run in its current state: destroyed, its device lost (also during a readback), steps
 * rejected on the GPU, or a WebGPU failure while it was being created (`cause` holds the original error).
 */
export class OptimizerStateError extends WebGPURadamError {
  override name = 'OptimizerStateError';
}

/** WGSL failed to compile or a pipeline failed validation. */
export class ShaderCompilationError extends WebGPURadamError {
  override name = 'ShaderCompilationError';
}

export function configAssert(condition: boolean, field: string, message: () => string): asserts condition {
  if (!condition) throw new OptimizerConfigError(field, message());
}

export function bindingAssert(condition: boolean, field: string, message: () => string): asserts condition {
  if (!condition) throw new BufferBindingError(field, message());
}

/**
 * Renders a caller's value for an error message without ever throwing: String() itself throws for symbols in
 * templates, null-prototype objects, revoked proxies and objects whose toString throws.
 */
export function describeValue(value: unknown): string {
  try {
    switch (typeof value) {
      case 'string':
        return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
      case 'number':
        return Object.is(value, -0) ? '-0' : String(value);
      case 'bigint':
        return `${value}n`;
      case 'symbol':
        return String(value);
      case 'function':
        return 'a function';
      case 'object': {
        if (value === null) return 'null';
        if (Array.isArray(value)) {
          const shown = Array.from({ length: Math.min(value.length, 6) }, (_, i) => describeValue(value[i]));
          return `[${shown.join(', ')}${value.length > 6 ? `, … (${value.length} items)` : ''}]`;
        }
        const tag = Object.prototype.toString.call(value).slice(8, -1);
        return tag === 'Object' ? 'an object' : `a ${tag}`;
      }
      default:
        return String(value);
    }
  } catch {
    return 'an unreadable value';
  }
}
