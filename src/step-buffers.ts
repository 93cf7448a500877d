// Per-step param and grad buffers: step(encoder, { grads, params }) binds other buffers than those given at
// creation, at the same byte offsets, for engines whose buffer pool hands out a fresh gradient buffer every step.
// Checked before anything changes; bind groups are cached per unit by buffer identity, so a loop that cycles
// through a few buffers creates none once warm.
import { BufferBindingError, describeValue, OptimizerConfigError } from './errors';
import type { Unit, UnitBindGroups } from './kernels';
import { isGpuBuffer } from './params';

/** What step() takes besides the encoder. */
export interface StepOptions {
  /**
   * Per tensor (creation order): the buffer holding this step's gradient, at the byte offset given at creation;
   * `undefined` keeps the creation buffer. Tensors that shared a grad buffer at creation are dispatched together
   * and must get the same one.
   */
  grads?: readonly (GPUBuffer | undefined)[] | undefined;
  /** Per tensor: the buffer holding the parameters this step updates in place, likewise. */
  params?: readonly (GPUBuffer | undefined)[] | undefined;
  /** Brackets the step's single compute pass (device with 'timestamp-query'). */
  timestampWrites?: GPUComputePassTimestampWrites | undefined;
}

const STEP_OPTION_KEYS = ['grads', 'params', 'timestampWrites'] as const;

/**
 * Tells step()'s second argument apart: a StepOptions object, or (the older form) the timestamp writes
 * themselves. An object with none of StepOptions' keys is taken for timestamp writes and checked as such.
 */
export function isStepOptions(value: unknown): value is StepOptions {
  if (typeof value !== 'object' || value === null || 'querySet' in value) return false;
  return STEP_OPTION_KEYS.some((key) => key in value);
}

/** Bind groups kept per unit: enough for a pool that rotates a few buffers, bounded so memory stays flat. */
export const BIND_GROUPS_PER_UNIT = 8;

interface CachedBindGroups {
  param: GPUBuffer;
  grad: GPUBuffer;
  groups: UnitBindGroups;
}

export class StepBufferBinder {
  readonly #units: readonly Unit[];
  readonly #names: readonly string[];
  readonly #label: string;
  readonly #defaults: UnitBindGroups[];
  /** Most recently used first. */
  readonly #cache: CachedBindGroups[][];
  /** This step's buffers per unit, filled by check(). */
  readonly #params: GPUBuffer[];
  readonly #grads: GPUBuffer[];
  /** Whether the units' bind groups currently differ from their creation ones. */
  #overridden = false;

  constructor(units: readonly Unit[], tensorNames: readonly string[], label: string) {
    this.#units = units;
    this.#names = tensorNames;
    this.#label = label;
    this.#defaults = units.map((unit) => ({ step: unit.stepBindGroup, reduce: unit.reduceBindGroup }));
    this.#cache = units.map(() => []);
    this.#params = units.map((unit) => unit.param);
    this.#grads = units.map((unit) => unit.grad);
  }

  /**
   * Checks `params` and `grads` (either may be undefined) and remembers each unit's buffers for bind(). Throws a
   * BufferBindingError or OptimizerConfigError naming the tensor; changes nothing the optimizer reads.
   */
  check(params: unknown, grads: unknown): void {
    const paramList = this.#list(params, 'params');
    const gradList = this.#list(grads, 'grads');
    const units = this.#units;
    for (let u = 0; u < units.length; u++) {
      const unit = units[u]!;
      this.#params[u] = this.#pick(paramList, 'params', unit, unit.param, unit.paramEnd);
      this.#grads[u] = this.#pick(gradList, 'grads', unit, unit.grad, unit.gradEnd);
    }
    if (paramList === undefined && gradList === undefined) return;
    // Units that shared a param buffer at creation must still share one, and no others: their ranges were checked
    // disjoint within each creation buffer only. No gradient may be read from a buffer a step writes.
    const finalOf = new Map<GPUBuffer, GPUBuffer>();
    const written = new Map<GPUBuffer, number>();
    for (let u = 0; u < units.length; u++) {
      const created = units[u]!.param;
      const chosen = this.#params[u]!;
      const earlier = finalOf.get(created);
      const owner = written.get(chosen);
      if (earlier === undefined && owner !== undefined) {
        this.#fail(
          'params',
          u,
          `${this.#tensorName(u)}: params buffer "${chosen.label}" is also given to ${this.#tensorName(owner)}, ` +
            'which had another param buffer at creation; tensors may share a param buffer only as they did at creation',
        );
      }
      if (earlier !== undefined && earlier !== chosen) {
        this.#fail(
          'params',
          u,
          `${this.#tensorName(u)} shared its param buffer with other tensors at creation and must share this ` +
            "step's too (they are dispatched together)",
        );
      }
      finalOf.set(created, chosen);
      if (owner === undefined) written.set(chosen, u);
    }
    for (let u = 0; u < units.length; u++) {
      const grad = this.#grads[u]!;
      const owner = written.get(grad);
      if (owner !== undefined) {
        this.#fail(
          'grads',
          u,
          `${this.#tensorName(u)}: grad buffer "${grad.label}" is the param buffer of ${this.#tensorName(owner)} ` +
            'in this step; a gradient must not share memory with any parameter',
        );
      }
    }
  }

  /** Points every unit at the bind groups of the buffers check() accepted: cached, or created once. */
  bind(): void {
    const units = this.#units;
    let overridden = false;
    for (let u = 0; u < units.length; u++) {
      const unit = units[u]!;
      const param = this.#params[u]!;
      const grad = this.#grads[u]!;
      const groups =
        param === unit.param && grad === unit.grad ? this.#defaults[u]! : this.#cached(u, param, grad);
      overridden ||= groups !== this.#defaults[u];
      unit.stepBindGroup = groups.step;
      unit.reduceBindGroup = groups.reduce;
    }
    this.#overridden = overridden;
  }

  /** Back to the creation buffers, without checks (they were checked at creation). */
  reset(): void {
    if (!this.#overridden) return;
    for (let u = 0; u < this.#units.length; u++) {
      this.#params[u] = this.#units[u]!.param;
      this.#grads[u] = this.#units[u]!.grad;
    }
    this.bind();
  }

  #cached(u: number, param: GPUBuffer, grad: GPUBuffer): UnitBindGroups {
    const entries = this.#cache[u]!;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.param !== param || entry.grad !== grad) continue;
      // Move to the front without allocating.
      for (let j = i; j > 0; j--) entries[j] = entries[j - 1]!;
      entries[0] = entry;
      return entry.groups;
    }
    const entry = { param, grad, groups: this.#units[u]!.bind(param, grad) };
    entries.unshift(entry);
    if (entries.length > BIND_GROUPS_PER_UNIT) entries.pop();
    return entry.groups;
  }

  #list(value: unknown, field: 'params' | 'grads'): readonly unknown[] | undefined {
    if (value === undefined || value === null) return undefined;
    const count = this.#names.length;
    if (!Array.isArray(value) || value.length !== count) {
      throw new OptimizerConfigError(
        field,
        `${this.#label}.step: invalid ${field}: ${describeValue(value)} (expected an array of ${count} GPUBuffers ` +
          'or undefined, one per tensor in creation order)',
      );
    }
    return value;
  }

  #pick(
    list: readonly unknown[] | undefined,
    field: 'params' | 'grads',
    unit: Unit,
    created: GPUBuffer,
    end: number,
  ): GPUBuffer {
    if (list === undefined) return created;
    let chosen: GPUBuffer | undefined;
    for (const tensor of unit.tensors) {
      const raw = list[tensor];
      const at = `${field}[${tensor}]`;
      const name = this.#names[tensor];
      if (raw !== undefined && raw !== null) {
        if (!isGpuBuffer(raw)) {
          throw new BufferBindingError(at, `${name}: ${at} is ${describeValue(raw)}, not a GPUBuffer`);
        }
        if ((raw.usage & GPUBufferUsage.STORAGE) === 0) {
          throw new BufferBindingError(at, `${name}: ${at} "${raw.label}" lacks GPUBufferUsage.STORAGE`);
        }
        if (raw.size < end) {
          throw new BufferBindingError(
            at,
            `${name}: ${at} "${raw.label}" has ${raw.size} bytes; the tensor's range at its creation offset ends at byte ${end}`,
          );
        }
      }
      const buffer = (raw ?? created) as GPUBuffer;
      if (chosen !== undefined && chosen !== buffer) {
        throw new BufferBindingError(
          at,
          `${name}: ${at} differs from the buffer of ${this.#names[unit.tensors[0]!]}; tensors that shared a ` +
            `${field === 'params' ? 'param' : 'grad'} buffer at creation are dispatched together and need the same one`,
        );
      }
      chosen = buffer;
    }
    return chosen ?? created;
  }

  #tensorName(unit: number): string {
    return this.#names[this.#units[unit]!.tensors[0]!] ?? `unit ${unit}`;
  }

  #fail(field: 'params' | 'grads', unit: number, message: string): never {
    throw new BufferBindingError(`${field}[${this.#units[unit]!.tensors[0]}]`, message);
  }
}
