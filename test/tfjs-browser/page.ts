// The page side of tfjs-browser.e2e.ts: the tfjs optimizers on tfjs's webgpu backend, driven step by step from
// Node (which holds the golden cases and their tolerances). Every webgpu-radam GPU buffer is counted, so a test
// can check that dispose() leaves none behind.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { radam, type WebGPURadamTfjsOptimizer } from '../../src/tfjs/index';
import type { GoldenCase } from '../helpers/golden';
import { optimizerFor } from '../tfjs/golden-optimizer';

const liveBuffers = new Set<GPUBuffer>();

function countOurBuffers(): void {
  const create = GPUDevice.prototype.createBuffer;
  GPUDevice.prototype.createBuffer = function (this: GPUDevice, descriptor: GPUBufferDescriptor) {
    const buffer = create.call(this, descriptor);
    if (descriptor.label?.startsWith('webgpu-radam')) liveBuffers.add(buffer);
    return buffer;
  };
  const destroy = GPUBuffer.prototype.destroy;
  GPUBuffer.prototype.destroy = function (this: GPUBuffer) {
    liveBuffers.delete(this);
    return destroy.call(this);
  };
}

interface Case {
  optimizer: WebGPURadamTfjsOptimizer;
  variable: tf.Variable;
  name: string;
  tensorsBefore: number;
}

let current: Case | undefined;
let caseIndex = 0;

async function readState(c: Case) {
  const weights = await c.optimizer.getWeights();
  const read = async (suffix: string) => {
    const entry = weights.find((w) => w.name === `${c.name}/${suffix}`);
    return entry ? Array.from(await entry.tensor.data()) : undefined;
  };
  const state = { params: Array.from(await c.variable.data()), m: await read('m'), v: await read('v') };
  tf.dispose(weights.filter((w) => !w.name.endsWith('/m') && !w.name.endsWith('/v')).map((w) => w.tensor));
  return state;
}

/** A small MLP with fixed initial weights and data, so two runs start identically. */
function mlp(seed: number): tf.Sequential {
  const model = tf.sequential();
  model.add(
    tf.layers.dense({
      units: 16,
      inputShape: [4],
      activation: 'tanh',
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
    }),
  );
  model.add(
    tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
  );
  return model;
}

function mlpData(): { xs: tf.Tensor2D; ys: tf.Tensor2D } {
  const n = 64;
  const x = Float32Array.from({ length: n * 4 }, (_, i) => Math.sin(i * 0.37) * 1.5);
  const y = Float32Array.from(
    { length: n },
    (_, i) => Math.sin(x[4 * i]! + 0.5 * x[4 * i + 1]!) - x[4 * i + 2]! * 0.3,
  );
  return { xs: tf.tensor2d(x, [n, 4]), ys: tf.tensor2d(y, [n, 1]) };
}

const harness = {
  async init(): Promise<string> {
    countOurBuffers();
    if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not start its webgpu backend');
    await tf.ready();
    return tf.getBackend();
  },

  liveBuffers: (): number => liveBuffers.size,

  startCase(golden: GoldenCase, initial: number[]): void {
    const name = `golden_${caseIndex++}_${golden.name}`;
    current = {
      optimizer: optimizerFor(golden),
      variable: tf.tidy(() => tf.variable(tf.tensor1d(initial, 'float32'), true, name)),
      name,
      tensorsBefore: tf.memory().numTensors,
    };
  },

  async params(): Promise<number[]> {
    return Array.from(await current!.variable.data());
  },

  /** One applyGradients; after the first step waits for the fused kernels, so later steps run fused. */
  async step(gradient: number[], t: number) {
    const c = current!;
    const tensor = tf.tensor1d(gradient, 'float32');
    c.optimizer.applyGradients(t % 2 === 1 ? { [c.name]: tensor } : [{ name: c.name, tensor }]);
    tensor.dispose();
    const stepper = c.optimizer.stepperName;
    if (t === 1) await c.optimizer.ready();
    const { step, branch } = c.optimizer.lastStep;
    return { step, branch, stepper };
  },

  async state() {
    return readState(current!);
  },

  async endCase(): Promise<{ tensorsLeft: number; buffersLeft: number }> {
    const c = current!;
    c.optimizer.dispose();
    c.variable.dispose();
    current = undefined;
    return { tensorsLeft: tf.memory().numTensors - c.tensorsBefore + 1, buffersLeft: liveBuffers.size };
  },

  /** model.fit for `epochs` epochs of 4 batches with our RAdam, fused or with tfjs ops. */
  async fit(fused: boolean, epochs: number) {
    const model = mlp(7);
    const optimizer = radam({ learningRate: 1e-2, fused });
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const { xs, ys } = mlpData();
    const steppers = new Set<string>();
    const history = await model.fit(xs, ys, {
      epochs,
      batchSize: 16,
      shuffle: false,
      verbose: 0,
      callbacks: {
        onBatchEnd: async () => {
          steppers.add(optimizer.stepperName);
          await optimizer.ready();
        },
      },
    });
    const weights = await Promise.all(model.getWeights().map(async (w) => Array.from(await w.data())));
    const losses = history.history.loss as number[];
    const steps = optimizer.iterations;
    model.dispose();
    optimizer.dispose();
    tf.dispose([xs, ys]);
    return { losses, weights, steps, steppers: [...steppers], buffersLeft: liveBuffers.size };
  },

  /**
   * A variable reassigned by user code between fused steps (to a tensor the user keeps), stepped by the fused
   * and the op path alike: both trajectories, and the user's tensor afterwards.
   */
  async reassigned() {
    const run = async (fused: boolean) => {
      const v = tf.variable(tf.tensor1d([1, -2, 3, -4, 5]), true, `reassigned_${fused}`);
      const optimizer = radam({ learningRate: 0.1, fused });
      const grad = tf.tensor1d([0.5, -0.25, 1, 2, -1]);
      const trace: number[][] = [];
      const stepWith = async () => {
        optimizer.applyGradients({ [v.name]: grad });
        await optimizer.ready();
        trace.push(Array.from(await v.data()));
      };
      for (let t = 0; t < 3; t++) await stepWith();
      const kept = tf.tensor1d([10, 20, 30, 40, 50]);
      v.assign(kept);
      for (let t = 0; t < 3; t++) await stepWith();
      const keptAfter = Array.from(await kept.data());
      const stepper = optimizer.stepperName;
      optimizer.dispose();
      tf.dispose([v, grad, kept]);
      return { trace, keptAfter, stepper };
    };
    return { fused: await run(true), ops: await run(false) };
  },

  /** One optimizer application on n parameters as `count` variables: ours (fused) and tf.train.adam. */
  async timing(n: number, count: number, steps: number) {
    const ours = await timeApply(radam({ learningRate: 1e-3 }), n, count, steps);
    const tfjsAdam = await timeApply(tf.train.adam(1e-3), n, count, steps);
    return { ours, tfjsAdam, ratio: tfjsAdam / ours };
  },
};

/** Median ms per applyGradients (host recording plus GPU, drained every step) over `steps` timed steps. */
async function timeApply(optimizer: tf.Optimizer, n: number, count: number, steps: number): Promise<number> {
  const length = Math.floor(n / count);
  const variables = Array.from({ length: count }, (_, i) =>
    tf.variable(tf.randomUniform([length], -1, 1, 'float32', 1 + i), true, `timed_${i}_${Math.random()}`),
  );
  const grads = variables.map((v, i) => ({
    name: v.name,
    tensor: tf.randomUniform([length], -1, 1, 'float32', 99 + i),
  }));
  const times: number[] = [];
  for (let s = 0; s < steps + 2; s++) {
    const start = performance.now();
    optimizer.applyGradients(grads);
    await variables[0]!.slice(0, 1).data();
    if (s >= 2) times.push(performance.now() - start);
    if (s === 0 && 'ready' in optimizer) await (optimizer as WebGPURadamTfjsOptimizer).ready();
  }
  optimizer.dispose();
  tf.dispose([...variables, ...grads.map((g) => g.tensor)]);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

declare global {
  interface Window {
    tfjsHarness?: typeof harness;
  }
}

window.tfjsHarness = harness;
