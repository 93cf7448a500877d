// The MLP example (examples/mlp-training.ts) trained with bf16 optimizer moments ends, averaged over 5 seeds of
// the initial weights, within 2 % of the loss it reaches with f32 moments.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { trainMlp } from '../examples/mlp-training';
import * as api from '../src/index';
import { requestTestDevice } from './helpers/webgpu-node';

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

it("trains the MLP example with stateFormat: 'bf16' to within 2 % of the f32 loss (mean of 5 seeds)", async () => {
  const seeds = [7, 11, 23, 42, 1234];
  const losses = { f32: [] as number[], bf16: [] as number[] };
  for (const seed of seeds) {
    for (const stateFormat of ['f32', 'bf16'] as const) {
      const result = await trainMlp(device, api, { seed, stateFormat });
      expect(result.lastLoss).toBeLessThan(result.firstLoss * 0.5);
      losses[stateFormat].push(result.lastLoss);
    }
  }
  const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
  const ratio = mean(losses.bf16) / mean(losses.f32);
  console.log(
    `[mlp bf16] final loss per seed (${seeds.join(', ')}): f32 ${losses.f32.map((l) => l.toFixed(4)).join(' ')}; ` +
      `bf16 ${losses.bf16.map((l) => l.toFixed(4)).join(' ')}; mean bf16 / f32 ${ratio.toFixed(4)}`,
  );
  expect(Math.abs(ratio - 1)).toBeLessThan(0.02);
}, 120_000);
