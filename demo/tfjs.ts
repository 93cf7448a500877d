// The tfjs page: the main page's MLP as a tf.layers model, trained by tf.train.adam and by webgpu-radam/tfjs's
// radam from the same weights on the same batches, with the time per step of each. window.__tfjsDemo is the e2e
// test's handle.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-webgpu';
import { radam } from 'webgpu-radam/tfjs';
import { batchSchedule, spiralDataset } from './data';

export interface TfjsRun {
  optimizer: string;
  steps: number;
  firstLoss: number;
  /** Mean loss of the last LAST_BATCHES batches. */
  lastLoss: number;
  medianMsPerStep: number;
  /** Which path our optimizer's last step took ('webgpu': fused); tfjs's own for tf.train.adam. */
  path: string;
}

declare global {
  interface Window {
    __tfjsDemo?: {
      status: 'loading' | 'ready' | 'error';
      message: string;
      train?: (steps: number) => Promise<TfjsRun[]>;
    };
  }
}

const BATCH = 64;
const HIDDEN = [160, 160, 160];
// The main page's lr at which RAdam leaves its warm-up phase within a few dozen steps.
const LEARNING_RATE = 3e-2;
/** The reported final loss is the mean over this many last batches, so one hard batch does not decide it. */
const LAST_BATCHES = 10;

const info = document.getElementById('tfjs-info')!;
const button = document.getElementById('tfjs-train') as HTMLButtonElement;
const tbody = document.querySelector('#tfjs-results tbody')!;
window.__tfjsDemo = { status: 'loading', message: '' };

const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

function buildModel(): tf.Sequential {
  const model = tf.sequential();
  for (const [i, units] of HIDDEN.entries()) {
    model.add(tf.layers.dense({ units, activation: 'relu', ...(i === 0 ? { inputShape: [2] } : {}) }));
  }
  model.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  return model;
}

async function train(steps: number): Promise<TfjsRun[]> {
  const data = spiralDataset(300, 3, 7);
  const schedule = batchSchedule(data.count, BATCH, steps, 11);
  const xsAll = tf.tensor2d(data.points, [data.count, 2]);
  const ysAll = tf.oneHot(tf.tensor1d(Array.from(data.labels), 'int32'), data.classes);
  const batches = Array.from({ length: steps }, (_, s) => {
    const indices = tf.tensor1d(Array.from(schedule.subarray(s * BATCH, (s + 1) * BATCH)), 'int32');
    const batch = { xs: tf.gather(xsAll, indices), ys: tf.gather(ysAll, indices) };
    indices.dispose();
    return batch;
  });
  // One initialization, copied into every run, so the runs differ only by their optimizer.
  const template = buildModel();
  const initial = template.getWeights().map((w) => w.clone());
  template.dispose();
  const runs: TfjsRun[] = [];
  for (const name of ['tf.train.adam', 'radam (webgpu-radam/tfjs)']) {
    const model = buildModel();
    model.setWeights(initial);
    const ours = name.startsWith('radam') ? radam({ learningRate: LEARNING_RATE }) : undefined;
    const optimizer = ours ?? tf.train.adam(LEARNING_RATE);
    model.compile({ optimizer, loss: 'categoricalCrossentropy' });
    const losses: number[] = [];
    const times: number[] = [];
    for (const batch of batches) {
      const start = performance.now();
      losses.push(Number(await model.trainOnBatch(batch.xs, batch.ys)));
      times.push(performance.now() - start);
      // Our first step runs with tfjs ops while the fused kernels compile; later steps are fused.
      if (ours && losses.length === 1) await ours.ready();
    }
    // The first two steps include compiling; the median of the rest is the step time.
    const timed = times.slice(2).sort((a, b) => a - b);
    runs.push({
      optimizer: name,
      steps,
      firstLoss: losses[0]!,
      lastLoss: mean(losses.slice(-LAST_BATCHES)),
      medianMsPerStep: timed[timed.length >> 1] ?? Number.NaN,
      path: ours ? ours.stepperName : tf.getBackend(),
    });
    optimizer.dispose();
    model.dispose();
  }
  tf.dispose([xsAll, ysAll, ...initial, ...batches.flatMap((b) => [b.xs, b.ys])]);
  tbody.replaceChildren(
    ...runs.map((run) => {
      const row = document.createElement('tr');
      for (const cell of [
        run.optimizer,
        String(run.steps),
        run.firstLoss.toFixed(4),
        run.lastLoss.toFixed(4),
        run.medianMsPerStep.toFixed(2),
        run.path,
      ]) {
        const td = document.createElement('td');
        td.textContent = cell;
        row.append(td);
      }
      return row;
    }),
  );
  return runs;
}

async function start(): Promise<void> {
  const backend = (await tf.setBackend('webgpu'))
    ? 'webgpu'
    : (await tf.setBackend('webgl'))
      ? 'webgl'
      : 'cpu';
  if (backend === 'cpu') await tf.setBackend('cpu');
  await tf.ready();
  info.textContent = `TensorFlow.js ${tf.version.tfjs} on the ${tf.getBackend()} backend`;
  let busy = false;
  const run = async (steps: number) => {
    if (busy) throw new Error('already training');
    busy = true;
    button.disabled = true;
    try {
      return await train(steps);
    } finally {
      busy = false;
      button.disabled = false;
    }
  };
  button.addEventListener('click', () => void run(100));
  button.disabled = false;
  window.__tfjsDemo = { status: 'ready', message: info.textContent, train: run };
}

start().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  info.textContent = `TensorFlow.js failed: ${message}`;
  window.__tfjsDemo = { status: 'error', message };
});
