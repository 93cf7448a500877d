// The TensorFlow.js peer: tf.train.adam on the webgpu backend, stepping the same number of parameters with the
// same fixed gradients, split into as many variables as the workload asks for.
import * as tf from '@tensorflow/tfjs';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { Runner } from '../measure';
import { BENCH_EPS, BENCH_LR } from '../radam-reference';
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

export async function tfjsRunner(spec: WorkloadSpec): Promise<Runner> {
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
  const optimizer = tf.train.adam(BENCH_LR, 0.9, 0.999, BENCH_EPS);
  // Done waiting means tfjs has handed every step to the queue and the queue has drained.
  const drain = async () => {
    // The same sequence tfjs itself uses before a readback: close its open compute pass, then submit.
    backend.ensureCommandEncoderReady();
    backend.endComputePassEncoder();
    backend.submitQueue();
    await backend.device.queue.onSubmittedWorkDone();
  };
  return {
    bytesPerStep: spec.n * ADAM_BYTES_PER_PARAM,
    async run(steps) {
      const start = performance.now();
      for (let s = 0; s < steps; s++) optimizer.applyGradients(grads);
      const hostMs = performance.now() - start;
      await drain();
      return { hostMs };
    },
    async verify() {
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
