import * as tf from '@tensorflow/tfjs';
import type { NamedTensor, WebGPURadamTfjsOptimizer } from '../../src/tfjs/index';
import { mulberry32 } from '../helpers/buffers';

let counter = 0;

/** tfjs variable names are global to the engine: every test variable gets one of its own. */
export function uniqueName(base: string): string {
  counter += 1;
  return `${base}_${counter}`;
}

export function makeVariable(name: string, values: ArrayLike<number>, shape?: number[]): tf.Variable {
  return tf.tidy(() =>
    tf.variable(tf.tensor(Array.from(values), shape ?? [values.length], 'float32'), true, name),
  );
}

/** Deterministic values in [-scale, scale). */
export function randomValues(seed: number, count: number, scale = 1): Float32Array {
  const random = mulberry32(seed);
  return Float32Array.from({ length: count }, () => scale * (2 * random() - 1));
}

/** One call's gradients, seeded by the step and the variable, for variables given as [variable, seed]. */
export function gradientsFor(variables: readonly tf.Variable[], step: number): tf.NamedTensorMap {
  const map: tf.NamedTensorMap = {};
  variables.forEach((v, i) => {
    map[v.name] = tf.tensor(Array.from(randomValues(1000 * step + i, v.size)), v.shape, 'float32');
  });
  return map;
}

/** Applies the step-seeded gradients and frees them. */
export function stepWith(
  optimizer: WebGPURadamTfjsOptimizer,
  variables: readonly tf.Variable[],
  step: number,
): void {
  const grads = gradientsFor(variables, step);
  try {
    optimizer.applyGradients(grads);
  } finally {
    tf.dispose(Object.values(grads));
  }
}

/** Values of every variable and every state tensor, for "nothing changed" and "bit-identical" checks. */
export async function snapshot(
  optimizer: WebGPURadamTfjsOptimizer,
  variables: readonly tf.Variable[],
): Promise<{ params: number[][]; state: Record<string, number[]>; iterations: number }> {
  const weights = await optimizer.getWeights();
  const state: Record<string, number[]> = {};
  for (const w of weights) state[w.name] = Array.from(w.tensor.dataSync());
  tf.dispose(weights.filter((w) => w.tensor.dtype === 'int32').map((w) => w.tensor));
  return { params: variables.map((v) => Array.from(v.dataSync())), state, iterations: optimizer.iterations };
}

/** Frozen copies of getWeights(): the live moments change with the next step. */
export async function copyWeights(optimizer: WebGPURadamTfjsOptimizer): Promise<NamedTensor[]> {
  const weights = await optimizer.getWeights();
  return weights.map((w) => ({
    name: w.name,
    tensor: w.tensor.dtype === 'int32' ? w.tensor : w.tensor.clone(),
  }));
}

/** The error `run` throws (fails the test when it throws nothing). */
export function thrownBy(run: () => unknown): Error & { field?: string } {
  try {
    run();
  } catch (error) {
    return error as Error & { field?: string };
  }
  throw new Error('expected an error, none was thrown');
}

/** Sets each variable back to saved values (what user code reassigning a variable does). */
export function restore(variables: readonly tf.Variable[], values: readonly ArrayLike<number>[]): void {
  variables.forEach((v, i) => {
    tf.tidy(() => v.assign(tf.tensor(Array.from(values[i]!), v.shape, 'float32')));
  });
}
