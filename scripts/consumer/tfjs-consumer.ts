// A TensorFlow.js app as a user writes it against the packed package: webgpu-radam/tfjs's radam trains a small
// layers model with model.fit on tfjs's cpu backend (the op path), and the loss must fall.
import * as tf from '@tensorflow/tfjs';
import { RAdamOptimizer, radam } from 'webgpu-radam/tfjs';

await tf.setBackend('cpu');
const optimizer = radam({ learningRate: 1e-2 });
if (!(optimizer instanceof tf.Optimizer) || !(optimizer instanceof RAdamOptimizer)) {
  throw new Error('radam() is not a tf.Optimizer of the app’s own tfjs');
}
const model = tf.sequential({
  layers: [
    tf.layers.dense({
      inputShape: [4],
      units: 16,
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
    }),
    tf.layers.dense({
      units: 3,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
    }),
  ],
});
model.compile({ optimizer, loss: 'categoricalCrossentropy' });
const xs = tf.randomUniform([64, 4], -1, 1, 'float32', 7);
// Seeded weights and data: the run is the same every time (loss 1.048 → 0.668 with tfjs 4.22).
// The class is the index of the largest input among the first three: learnable by this model.
const ys = tf.oneHot(tf.argMax(xs.slice([0, 0], [64, 3]), 1), 3);
const history = await model.fit(xs, ys, { epochs: 100, batchSize: 64, shuffle: false, verbose: 0 });
const losses = history.history.loss as number[];
const first = losses[0]!;
const last = losses[losses.length - 1]!;
if (!(last < 0.8 * first) || optimizer.iterations !== 100 || optimizer.stepperName !== 'ops') {
  throw new Error(
    `tfjs consumer: loss ${first} → ${last}, ${optimizer.iterations} iterations on ${optimizer.stepperName}`,
  );
}
console.log(
  `tfjs consumer: radam trained a layers model on tfjs ${tf.version.tfjs} (${tf.getBackend()}): loss ${first.toFixed(4)} → ${last.toFixed(4)} in ${optimizer.iterations} steps`,
);
tf.dispose([xs, ys]);
optimizer.dispose();
model.dispose();
