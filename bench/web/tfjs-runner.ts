// The TensorFlow.js rows, on tfjs's webgpu backend: tf.train.adam and webgpu-radam/tfjs's radam (fused) stepping
// the same number of parameters with the same fixed gradients, split into as many variables as the workload asks
// for; and one model.fit batch of a small model trained by each.
import * as tf from '@tensorflow/tfjs';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import { radam } from '../../src/tfjs/index';
import type { Runner } from '../measure';
import { ADAPTIVE_FROM_STEP, BENCH_EPS, BENCH_LR } from '../radam-reference';
import { TFJS_FIT_VARIABLES } from '../suite';
import { ADAM_BYTES_PER_PARAM, fillRandom, splitLengths, type WorkloadSpec } from '../workloads';

let backendReady: Promise<WebGPUBackend> | undefined;
let instance = 0;

function webgpuBackend(): Promise<WebGPUBackend> {
  backendReady ??= (async () => {
    if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not initialise its webgpu backend');
    await tf.ready();
    const backend = tf.backend();
    if (!(backend instanceof WebGPUBackend)) throw new Error(`tfjs runs on ${tf.getBackend()}, not webgpu`);
    return backend;
  })();
  return backendReady;
}

/** Done waiting means tfjs has handed every step to the queue and the queue has drained. */
async function drain(backend: WebGPUBackend): Promise<void> {
  // The same sequence tfjs itself uses before a readback: close its open compute pass, then submit.
  backend.ensureCommandEncoderReady();
  backend.endComputePassEncoder();
  backend.submitQueue();
  await backend.device.queue.onSubmittedWorkDone();
}

/** Our optimizer as the rows use it: RAdam with the bench's settings, fused on webgpu. */
function ourOptimizer() {
  return radam({ learningRate: BENCH_LR, beta1: 0.9, beta2: 0.999, epsilon: BENCH_EPS });
}

export async function tfjsRunner(spec: WorkloadSpec): Promise<Runner> {
  if (spec.kind === 'tfjs-fit-adam' || spec.kind === 'tfjs-fit-radam') return fitRunner(spec);
  const backend = await webgpuBackend();
  const prefix = `bench${instance++}_`;
  const lengths = splitLengths(spec.n, spec.tensors);
  const variables = lengths.map((length, i) =>
    tf.variable(tf.tensor1d(fillRandom(new Float32Array(length), 11 + i)), true, `${prefix}${i}`),
  );
  const grads: { name: string; tensor: tf.Tensor }[] = lengths.map((length, i) => ({
    name: `${prefix}${i}`,
    tensor: tf.tensor1d(fillRandom(new Float32Array(length), 12 + i)),
  }));
  const ours = spec.kind === 'tfjs-radam' ? ourOptimizer() : undefined;
  const optimizer: tf.Optimizer = ours ?? tf.train.adam(BENCH_LR, 0.9, 0.999, BENCH_EPS);
  if (ours) {
    // The first step of new variables runs with ops while the fused kernels compile; the default betas take the
    // momentum branch for the first steps. Both are behind us before timing starts: every timed step is fused
    // and adaptive, as in the fused-adaptive rows.
    ours.applyGradients(grads);
    await ours.ready();
    for (let t = 1; t < ADAPTIVE_FROM_STEP; t++) ours.applyGradients(grads);
    await drain(backend);
  }
  return {
    bytesPerStep: spec.n * ADAM_BYTES_PER_PARAM,
    async run(steps) {
      const start = performance.now();
      for (let s = 0; s < steps; s++) optimizer.applyGradients(grads);
      const hostMs = performance.now() - start;
      await drain(backend);
      return { hostMs };
    },
    async verify() {
      if (ours && (ours.stepperName !== 'webgpu' || ours.lastStep.branch !== 'adaptive')) {
        throw new Error(
          `${spec.workload}: the last step ran on ${ours.stepperName}, ${ours.lastStep.branch} branch ` +
            '(expected the fused webgpu stepper, adaptive branch)',
        );
      }
      const head = variables[0]!.slice(0, Math.min(16, lengths[0]!));
      const values = await head.data();
      head.dispose();
      if (!Array.from(values).every(Number.isFinite)) throw new Error(`${spec.workload}: non-finite values`);
    },
    dispose() {
      optimizer.dispose();
      for (const variable of variables) variable.dispose();
      tf.dispose(grads.map((g) => g.tensor));
    },
  };
}

const FIT_INPUTS = 256;
const FIT_BATCH = 64;

/**
 * One model.fit call on one batch per step, as a training loop in a page runs it (fit reads the loss back, so
 * each step ends drained): Dense(hidden, relu) → Dense(256, softmax) on 256 inputs without biases, the hidden
 * width chosen so the model has spec.n weights.
 */
async function fitRunner(spec: WorkloadSpec): Promise<Runner> {
  const backend = await webgpuBackend();
  const hidden = spec.n / (2 * FIT_INPUTS);
  if (!Number.isInteger(hidden) || spec.tensors !== TFJS_FIT_VARIABLES) {
    throw new Error(
      `${spec.workload}: needs n a multiple of ${2 * FIT_INPUTS} and ${TFJS_FIT_VARIABLES} tensors`,
    );
  }
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [FIT_INPUTS], units: hidden, activation: 'relu', useBias: false }),
      tf.layers.dense({ units: FIT_INPUTS, activation: 'softmax', useBias: false }),
    ],
  });
  const ours = spec.kind === 'tfjs-fit-radam' ? ourOptimizer() : undefined;
  model.compile({
    optimizer: ours ?? tf.train.adam(BENCH_LR, 0.9, 0.999, BENCH_EPS),
    loss: 'categoricalCrossentropy',
  });
  const xs = tf.tensor2d(fillRandom(new Float32Array(FIT_BATCH * FIT_INPUTS), 21), [FIT_BATCH, FIT_INPUTS]);
  const labels = tf.tensor1d(
    Array.from({ length: FIT_BATCH }, (_, i) => (i * 37) % FIT_INPUTS),
    'int32',
  );
  const ys = tf.oneHot(labels, FIT_INPUTS);
  labels.dispose();
  const fitOnce = () => model.fit(xs, ys, { batchSize: FIT_BATCH, epochs: 1, shuffle: false, verbose: 0 });
  let lastLoss = Number.NaN;
  if (ours) {
    // As for the optimizer rows: the fused kernels compile during the first step; time fused steps only.
    await fitOnce();
    await ours.ready();
  }
  const weights = model.countParams();
  if (weights !== spec.n)
    throw new Error(`${spec.workload}: the model has ${weights} weights, not ${spec.n}`);
  return {
    // The optimizer's share of the traffic, so GB/s stays comparable with the optimizer rows' (fit moves more).
    bytesPerStep: spec.n * ADAM_BYTES_PER_PARAM,
    async run(steps) {
      let hostMs = 0;
      for (let s = 0; s < steps; s++) {
        const start = performance.now();
        const history = await fitOnce();
        hostMs += performance.now() - start;
        lastLoss = Number(history.history.loss?.[0]);
      }
      await drain(backend);
      return { hostMs };
    },
    async verify() {
      if (ours && ours.stepperName !== 'webgpu') {
        throw new Error(`${spec.workload}: the last step ran on ${ours.stepperName}, not the fused stepper`);
      }
      if (!Number.isFinite(lastLoss)) throw new Error(`${spec.workload}: loss ${lastLoss}`);
    },
    dispose() {
      // model.dispose() leaves the optimizer alone (tfjs-layers disposes only what it created).
      model.optimizer.dispose();
      model.dispose();
      tf.dispose([xs, ys]);
    },
  };
}
