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
