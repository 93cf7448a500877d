// Conversion between a tfjs optimizer's per-variable slots and the two outside forms of its state: tfjs's
// getWeights()/setWeights() arrays and the package's stateDict(). Kept apart from the optimizer class because it
// is pure translation and checking — everything is checked before a single tfjs variable is created, so the
// class only swaps in the result — and because it is the part that changes when a state format does.
import { engine, scalar, Tensor, tensor, tidy, Variable, variable } from '@tensorflow/tfjs-core';
import { describeValue, OptimizerStateError } from '../errors';
import { validateLearningRate } from '../options';
import {
  type OptimizerState,
  STATE_FORMAT,
  STATE_FORMAT_VERSION,
  type StateHeader,
  type TensorStateHeader,
} from '../state';
import type { GroupHyperParameters } from '../step-scalars';
import type { Algorithm, VariableSlot } from './stepper';

/** A gradient (or state tensor) with the name of the variable it belongs to, as tfjs passes them. */
export interface NamedTensor {
  name: string;
  tensor: Tensor;
}

export const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((size, i) => size === b[i]);
export const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;
const elementCount = (shape: readonly number[]) => shape.reduce((count, size) => count * size, 1);
const isCount = (value: unknown): value is number =>
  Number.isInteger(value) && (value as number) >= 0 && (value as number) < 2 ** 31;

/** How getWeights()/setWeights() name each variable's entries: `${variableName}/m`, `/v`, `/step`. */
type WeightKind = 'm' | 'v' | 'step';

/** getWeights()'s array; the moments are the slots' own variables, the scalars new tensors. */
export function weightsOf(slots: readonly VariableSlot[], iterations: number): NamedTensor[] {
  const entries: NamedTensor[] = [{ name: 'iter', tensor: scalar(iterations, 'int32') }];
  for (const slot of slots) entries.push({ name: `${slot.variableName}/m`, tensor: slot.m });
  for (const slot of slots) if (slot.v) entries.push({ name: `${slot.variableName}/v`, tensor: slot.v });
  for (const slot of slots) {
    if (slot.step !== iterations) {
      entries.push({ name: `${slot.variableName}/step`, tensor: scalar(slot.step, 'int32') });
    }
  }
  return entries;
}

/** setWeights()'s checks, then new slots owning copies of the moments; throws before creating any. */
export async function slotsFromWeights(
  algorithm: Algorithm,
  hp: GroupHyperParameters,
  weightValues: NamedTensor[],
): Promise<{ slots: VariableSlot[]; iterations: number }> {
  // Annotated, not inferred: TypeScript narrows after a call only through a declared `never` type.
  const fail: (why: string) => never = (why) => {
    throw new OptimizerStateError(`${algorithm}.setWeights: ${why}; nothing was changed`);
  };
  if (!Array.isArray(weightValues) || weightValues.length === 0) {
    fail(`expected [iterations, ...first moments, ...second moments], got ${describeValue(weightValues)}`);
  }
  const entries = weightValues.map((entry, i) => {
    const name = (entry as NamedTensor | null)?.name;
    const value = (entry as NamedTensor | null)?.tensor;
    if (typeof name !== 'string') fail(`weightValues[${i}].name is ${describeValue(name)}, not a string`);
    if (!(value instanceof Tensor) || value.isDisposed) {
      fail(`weightValues[${i}] (${name}) is not a live tensor`);
    }
    return { name, tensor: value as Tensor };
  });
  const iterations = await readCount(entries[0]!, 'weightValues[0] (the iteration count)', fail);
  const hasSecondMoment = hp.kind !== 'sgd';
  const byVariable = new Map<string, Partial<Record<WeightKind, Tensor>>>();
  const steps = new Map<string, number>();
  for (const [i, entry] of entries.entries()) {
    if (i === 0) continue;
    const cut = entry.name.lastIndexOf('/');
    const variableName = entry.name.slice(0, Math.max(cut, 0));
    let kind = entry.name.slice(cut + 1);
    if (kind === 'momentum' && !hasSecondMoment) kind = 'm';
    const kinds = hasSecondMoment ? ['m', 'v', 'step'] : ['m', 'step'];
    if (cut <= 0 || !kinds.includes(kind)) {
      fail(
        `weightValues[${i}] is named ${describeValue(entry.name)}; ${algorithm} expects ` +
          `${kinds.map((k) => `"<variable>/${k}"`).join(', ')}${hasSecondMoment ? '' : ' or "<variable>/momentum"'}`,
      );
    }
    const parts = byVariable.get(variableName) ?? {};
    if (parts[kind as WeightKind] !== undefined) fail(`${variableName} has two "${kind}" entries`);
    parts[kind as WeightKind] = entry.tensor;
    byVariable.set(variableName, parts);
    if (kind === 'step') steps.set(variableName, await readCount(entry, `weightValues[${i}]`, fail));
  }
  const checked: { name: string; m: Tensor; v: Tensor | undefined; step: number }[] = [];
  for (const [name, parts] of byVariable) {
    const { m, v } = parts;
    if (!m) fail(`${name} has no first moment ("${name}/m")`);
    if (hasSecondMoment && !v) fail(`${name} has no second moment ("${name}/v")`);
    for (const moment of [m, v]) {
      if (moment && moment.dtype !== 'float32')
        fail(`${name}'s moments must be float32, not ${moment.dtype}`);
    }
    if (v && !sameShape(m.shape, v.shape)) {
      fail(`${name}/m has shape ${shapeText(m.shape)} but ${name}/v has ${shapeText(v.shape)}`);
    }
    checked.push({ name, m, v, step: steps.get(name) ?? iterations });
  }
  const slots = checked.map((entry) => ({
    variableName: entry.name,
    shape: [...entry.m.shape],
    step: entry.step,
    // A variable shares its initial tensor's data until assigned, so the caller may dispose theirs.
    m: variable(entry.m, false),
    v: entry.v ? variable(entry.v, false) : undefined,
  }));
  return { slots, iterations };
}

/** stateDict() over the slots, in slot order, with one group holding the optimizer's learning rate. */
export async function stateOf(
  algorithm: Algorithm,
  hp: GroupHyperParameters,
  slots: readonly VariableSlot[],
  iterations: number,
): Promise<OptimizerState> {
  // Every read starts now, before any later step could swap a variable's data.
  const reads = slots.map((slot) => [slot.m.data(), slot.v?.data()] as const);
  const total = slots.reduce((sum, slot) => sum + elementCount(slot.shape), 0);
  const payload = new Float32Array(total * (hp.kind === 'sgd' ? 1 : 2));
  let offset = 0;
  const tensors: TensorStateHeader[] = [];
  for (const [i, slot] of slots.entries()) {
    const [m, v] = reads[i]!;
    const length = elementCount(slot.shape);
    const entry: TensorStateHeader = { name: slot.variableName, length, step: slot.step, exp_avg: offset };
    payload.set(await m, offset);
    offset += length;
    if (v) {
      entry.exp_avg_sq = offset;
      payload.set(await v, offset);
      offset += length;
    }
    tensors.push(entry);
  }
  const header: StateHeader = {
    format: STATE_FORMAT,
    version: STATE_FORMAT_VERSION,
    optimizer: algorithm,
    step: iterations,
    paramGroups: [{ lr: hp.lr, params: slots.map((_, i) => i) }],
    tensors,
  };
  return { header, payload };
}

/** loadStateDict()'s checks, then new slots from the payload; throws before creating any. */
export function slotsFromState(
  algorithm: Algorithm,
  hp: GroupHyperParameters,
  state: OptimizerState,
  variables: readonly Variable[] | undefined,
): { slots: VariableSlot[]; iterations: number; lr: number } {
  const fail: (why: string) => never = (why) => {
    throw new OptimizerStateError(`${algorithm}.loadStateDict: ${why}; nothing was changed`);
  };
  const header = state?.header;
  const payload = state?.payload;
  if (!header || typeof header !== 'object') fail('the state has no header');
  if (!(payload instanceof Float32Array)) fail('the payload is not a Float32Array');
  if (header.format !== STATE_FORMAT) {
    fail(`format is ${describeValue(header.format)}, expected "${STATE_FORMAT}"`);
  }
  if (header.version !== STATE_FORMAT_VERSION) {
    fail(`version ${describeValue(header.version)} is not supported (expected ${STATE_FORMAT_VERSION})`);
  }
  if (!isCount(header.step)) fail(`step ${describeValue(header.step)} is not an integer in [0, 2^31)`);
  if (!Array.isArray(header.tensors)) fail('the header has no tensors array');
  if (variables !== undefined && (!Array.isArray(variables) || variables.length !== header.tensors.length)) {
    fail(`it holds ${header.tensors.length} tensors but ${describeValue(variables)} was given as variables`);
  }
  const lrs = Array.isArray(header.paramGroups) ? header.paramGroups.map((group) => group?.lr) : [];
  if (lrs.length === 0) fail('the header has no paramGroups');
  if (lrs.some((lr) => lr !== lrs[0])) {
    fail(`its param groups have different learning rates (${lrs.join(', ')}); a tfjs optimizer has one`);
  }
  let lr = 0;
  try {
    lr = validateLearningRate(lrs[0], 'paramGroups[0].lr', hp);
  } catch (error) {
    fail((error as Error).message);
  }
  const hasSecondMoment = hp.kind !== 'sgd';
  const seen = new Set<string>();
  const slots = header.tensors.map((t, i) => {
    const target = variables?.[i];
    if (variables && (!(target instanceof Variable) || target.isDisposed)) {
      fail(`variables[${i}] is not a live tfjs variable`);
    }
    if (typeof t !== 'object' || t === null) fail(`tensors[${i}] is ${describeValue(t)}`);
    const name = target ? target.name : t.name;
    if (typeof name !== 'string') fail(`tensors[${i}].name is ${describeValue(name)}`);
    const shape = (target ?? engine().registeredVariables[name])?.shape;
    if (!shape) {
      fail(
        `tensors[${i}] (${name}) names no registered tfjs variable; pass the variables as the second argument`,
      );
    }
    if (seen.has(name)) fail(`two tensors belong to the variable ${name}`);
    seen.add(name);
    if (t.length !== elementCount(shape)) {
      fail(
        `tensors[${i}] has ${t.length} elements, the variable ${name} ${shapeText(shape)} has ${elementCount(shape)}`,
      );
    }
    if (!isCount(t.step)) fail(`tensors[${i}].step ${describeValue(t.step)} is not an integer in [0, 2^31)`);
    if (hasSecondMoment !== (t.exp_avg_sq !== undefined)) {
      fail(
        `tensors[${i}] ${hasSecondMoment ? 'lacks' : 'has'} exp_avg_sq, which ${algorithm} ${hasSecondMoment ? 'needs' : 'does not keep'}`,
      );
    }
    for (const [key, start] of [
      ['exp_avg', t.exp_avg],
      ['exp_avg_sq', t.exp_avg_sq],
    ] as const) {
      if (start === undefined && key === 'exp_avg_sq') continue;
      const end = (start as number) + t.length;
      if (!Number.isInteger(start) || (start as number) < 0 || !(end <= payload.length)) {
        fail(`tensors[${i}].${key} range [${start}, ${end}) is outside the payload of ${payload.length}`);
      }
    }
    return {
      name,
      shape,
      step: t.step,
      expAvg: t.exp_avg,
      expAvgSq: t.exp_avg_sq,
      length: t.length,
    };
  });
  const fromPayload = (start: number, length: number, shape: readonly number[]) =>
    tidy(() => variable(tensor(payload.slice(start, start + length), [...shape], 'float32'), false));
  return {
    slots: slots.map((s) => ({
      variableName: s.name,
      shape: s.shape,
      step: s.step,
      m: fromPayload(s.expAvg, s.length, s.shape),
      v: s.expAvgSq === undefined ? undefined : fromPayload(s.expAvgSq, s.length, s.shape),
    })),
    iterations: header.step,
    lr,
  };
}

async function readCount(entry: NamedTensor, what: string, fail: (why: string) => never): Promise<number> {
  if (entry.tensor.size !== 1) fail(`${what} has shape ${shapeText(entry.tensor.shape)}, expected a scalar`);
  const value = (await entry.tensor.data())[0];
  if (!isCount(value)) fail(`${what} is ${describeValue(value)}, expected an integer in [0, 2^31)`);
  return value as number;
}
