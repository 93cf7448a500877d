// The tfjs optimizers inside tfjs-layers: model.compile + model.fit, and model.save / tf.loadLayersModel with
// the optimizer included (registered class, config and weights).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { adam, adamw, RAdamOptimizer, radam, sgd, type WebGPURadamTfjsOptimizer } from '../../src/tfjs/index';
import { mulberry32 } from '../helpers/buffers';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const SAMPLES = 64;
const FEATURES = 4;
const BATCH = 16;

/** A fixed regression problem: y = sin(x0) + 0.5 x1 x2 - x3 on uniform inputs in [-1, 1]. */
function dataset(): { xs: tf.Tensor2D; ys: tf.Tensor2D } {
  const random = mulberry32(7);
  const x: number[][] = [];
  const y: number[][] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const row = Array.from({ length: FEATURES }, () => 2 * random() - 1);
    x.push(row);
    y.push([Math.sin(row[0]!) + 0.5 * row[1]! * row[2]! - row[3]!]);
  }
  return { xs: tf.tensor2d(x), ys: tf.tensor2d(y) };
}

function buildModel(optimizer: tf.Optimizer): tf.Sequential {
  const model = tf.sequential();
  model.add(
    tf.layers.dense({
      units: 16,
      activation: 'tanh',
      inputShape: [FEATURES],
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
    }),
  );
  model.add(tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
  model.compile({ optimizer, loss: 'meanSquaredError' });
  return model;
}

async function fitBatches(model: tf.Sequential, epochs: number): Promise<number[]> {
  const { xs, ys } = dataset();
  const losses: number[] = [];
  await model.fit(xs, ys, {
    epochs,
    batchSize: BATCH,
    shuffle: false,
    verbose: 0,
    callbacks: { onBatchEnd: async (_batch, logs) => void losses.push(logs?.loss as number) },
  });
  tf.dispose([xs, ys]);
  return losses;
}

const optimizers: [string, () => WebGPURadamTfjsOptimizer][] = [
  ['radam', () => radam({ learningRate: 1e-2 })],
  ['radam (tfa preset, weight decay)', () => radam({ preset: 'tfa', learningRate: 1e-2, weightDecay: 1e-3 })],
  ['adamw', () => adamw({ learningRate: 1e-2 })],
  ['adam', () => adam({ learningRate: 1e-2 })],
  ['sgd', () => sgd({ learningRate: 5e-2, momentum: 0.9 })],
];

describe('model.compile + model.fit', () => {
  it.each(optimizers)('%s: 120 batches, the loss falls, no tensor left behind', async (label, create) => {
    const baseline = tf.memory().numTensors;
    const optimizer = create();
    const model = buildModel(optimizer);
    const losses = await fitBatches(model, 30);
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const first = mean(losses.slice(0, 4));
    const last = mean(losses.slice(-4));
    console.log(
      `[tfjs fit] ${label}: ${losses.length} steps, mean loss of the first epoch ${first.toFixed(4)}, ` +
        `of the last ${last.toFixed(4)} (step 1: ${losses[0]!.toFixed(4)})`,
    );
    expect(losses).toHaveLength(120);
    expect(optimizer.iterations).toBe(120);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(last).toBeLessThan(first * 0.5);
    model.dispose();
    optimizer.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });
});

describe('model.save with includeOptimizer, tf.loadLayersModel', () => {
  it('restores the optimizer (class, config, state) and training continues identically', async () => {
    const optimizer = radam({ learningRate: 1e-2, weightDecay: 1e-3, decoupledWeightDecay: true });
    const model = buildModel(optimizer);
    await fitBatches(model, 2);
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
      { includeOptimizer: true },
    );
    const training = saved?.trainingConfig as { optimizer_config: { class_name: string } } | undefined;
    expect(training?.optimizer_config.class_name).toBe('WebGPURadam.RAdam');
    const optimizerSpecs = saved?.weightSpecs?.filter((spec) => spec.group === 'optimizer') ?? [];
    // iterations, then m and v of both layers' kernel and bias.
    expect(optimizerSpecs.map((spec) => spec.name.split('/').pop())).toEqual([
      'iter',
      ...Array(4).fill('m'),
      ...Array(4).fill('v'),
    ]);

    const loaded = (await tf.loadLayersModel(tf.io.fromMemory(saved!))) as tf.Sequential;
    const restored = loaded.optimizer as RAdamOptimizer;
    expect(restored).toBeInstanceOf(RAdamOptimizer);
    expect(restored.getConfig()).toEqual(optimizer.getConfig());
    expect(restored.iterations).toBe(optimizer.iterations);
    const before = await optimizer.stateDict();
    const after = await restored.stateDict();
    expect(after.payload).toEqual(before.payload);
    expect(after.header.tensors.map((t) => t.step)).toEqual(before.header.tensors.map((t) => t.step));

    // In the same process tfjs-layers renames the loaded model's variables (kernel_1): the saved state must
    // reach them in order, as tfjs's own optimizers match it, not be dropped for want of a name.
    const names = (m: tf.LayersModel) => m.trainableWeights.map((w) => (w.read() as tf.Variable).name);
    expect(names(loaded).some((name, i) => name !== names(model)[i])).toBe(true);
    const continued = await fitBatches(model, 2);
    const continuedLoaded = await fitBatches(loaded, 2);
    expect(continuedLoaded).toEqual(continued);
    const weights = model.getWeights().map((w) => w.dataSync());
    const loadedWeights = loaded.getWeights().map((w) => w.dataSync());
    expect(loadedWeights).toEqual(weights);
    model.dispose();
    loaded.dispose();
    optimizer.dispose();
    restored.dispose();
  });
});
