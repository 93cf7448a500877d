import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAdam,
  createAdamW,
  createRAdam,
  createSGD,
  type RAdamOptions,
  type RAdamPreset,
} from '../src/index';
import { mulberry32, readF32, uploadF32 } from './helpers/buffers';
import { requestTestDevice } from './helpers/webgpu-node';
import {
  adamReferenceStep,
  type MomentState,
  newState,
  PRESET_SEMANTICS,
  type RAdamReferenceOptions,
  radamReferenceStep,
  sgdReferenceStep,
} from './reference/optimizers';

// f32 on the GPU against float64 here, after up to 1000 steps: rounding of p (|p| ~ 1) accumulates like a random
// walk, a few 1e-7 per step, so 2e-5 relative plus an absolute floor scaled to each array's magnitude.
const RTOL = 2e-5;
const ATOL_FRACTION = 2e-5;

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

function worstError(got: Float32Array, expected: Float64Array): number {
  let scale = 0;
  for (const value of expected) scale = Math.max(scale, Math.abs(value));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const allowed = ATOL_FRACTION * scale + RTOL * Math.abs(expected[i]!);
    const error = Math.abs(got[i]! - expected[i]!);
    worst = Math.max(worst, Number.isNaN(error) ? Number.POSITIVE_INFINITY : error / allowed);
  }
  return worst;
}

interface Harness {
  param: GPUBuffer;
  grad: GPUBuffer;
  gradValues: Float32Array<ArrayBuffer>;
  nextGrad: () => void;
}

function harness(n: number, seed: number): Harness & { initial: Float32Array<ArrayBuffer> } {
  const random = mulberry32(seed);
  const initial = Float32Array.from({ length: n }, () => 2 * random() - 1);
  const gradValues = new Float32Array(n);
  const scales = [1, 1e-3, 10, 0.1];
  return {
    initial,
    param: uploadF32(device, initial),
    grad: uploadF32(device, gradValues),
    gradValues,
    nextGrad() {
      for (let i = 0; i < n; i++) gradValues[i] = scales[i % scales.length]! * (2 * random() - 1);
    },
  };
}

async function compare(
  label: string,
  optimizer: {
    stateLocation(i: number): { expAvg: GPUBuffer; expAvgSq: GPUBuffer | undefined; byteOffset: number };
  },
  h: Harness,
  ref: MomentState,
  arrays: ReadonlySet<'m' | 'v'> = new Set(['m', 'v']),
) {
  const n = ref.params.length;
  const state = optimizer.stateLocation(0);
  const params = await readF32(device, h.param, 0, n);
  expect(worstError(params, ref.params), `${label} params`).toBeLessThanOrEqual(1);
  if (arrays.has('m')) {
    const m = await readF32(device, state.expAvg, state.byteOffset, n);
    expect(worstError(m, ref.m), `${label} exp_avg`).toBeLessThanOrEqual(1);
  }
  if (arrays.has('v') && state.expAvgSq) {
    const v = await readF32(device, state.expAvgSq, state.byteOffset, n);
    expect(worstError(v, ref.v), `${label} exp_avg_sq`).toBeLessThanOrEqual(1);
  }
}

const SIZES = [1, 3, 4, 5, 255, 256, 257, 1023, 4097, 100_003];

describe('RAdam against the float64 reference, random sizes and hyper-parameters, 1000 steps', () => {
  const random = mulberry32(2024);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
  const cases = SIZES.map((n, index) => {
    // Size 5 pins b2 = 0.6 (rho_inf = 4: the adaptive branch never runs) and size 257 a late switch (b2 = 0.7).
    const beta2 = n === 5 ? 0.6 : n === 257 ? 0.7 : pick([0.9, 0.98, 0.99, 0.999]);
    const preset = pick<RAdamPreset>(['torch', 'paper', 'original', 'tfa', 'optax']);
    return {
      n,
      seed: 100 + index,
      preset,
      lr: 10 ** (-4 + 3 * random()),
      beta1: pick([0, 0.5, 0.9, 0.95]),
      beta2,
      eps: pick([1e-8, 1e-6]),
      weightDecay: pick([0, 0, 0.01, 0.1]),
      decoupled: random() < 0.5,
      maximize: random() < 0.3,
      degeneratedToSgd: random() < 0.8,
    };
  });

  it.each(cases)(
    'n=$n $preset lr=$lr b1=$beta1 b2=$beta2 wd=$weightDecay decoupled=$decoupled',
    async (c) => {
      const h = harness(c.n, c.seed);
      const options: RAdamOptions = {
        preset: c.preset,
        lr: c.lr,
        betas: [c.beta1, c.beta2],
        eps: c.eps,
        weightDecay: c.weightDecay,
        decoupledWeightDecay: c.decoupled,
        maximize: c.maximize,
        degeneratedToSgd: c.degeneratedToSgd,
      };
      const optimizer = await createRAdam(device, [{ param: h.param, grad: h.grad, length: c.n }], options);
      const reference = newState(h.initial);
      const referenceOptions: RAdamReferenceOptions = { ...c, ...PRESET_SEMANTICS[c.preset] };
      const branches = new Set<string>();
      for (let t = 1; t <= 1000; t++) {
        h.nextGrad();
        device.queue.writeBuffer(h.grad, 0, h.gradValues);
        optimizer.stepAndSubmit();
        const branch = radamReferenceStep(reference, h.gradValues, referenceOptions);
        branches.add(branch);
        const gpuBranch = optimizer.lastStep.branch === 'momentum' ? 'sgd' : optimizer.lastStep.branch;
        expect(gpuBranch).toBe(branch);
        if (t <= 8 || t % 250 === 0) await compare(`step ${t}`, optimizer, h, reference);
      }
      if (c.beta2 === 0.6) expect(branches.has('adaptive')).toBe(false);
      else expect(branches.has('adaptive')).toBe(true);
      optimizer.destroy();
      h.param.destroy();
      h.grad.destroy();
    },
  );
});

describe('Adam, AdamW and SGD presets against float64 references of torch', () => {
  it.each([
    [
      'Adam L2 maximize',
      false,
      { lr: 3e-3, betas: [0.9, 0.99] as [number, number], weightDecay: 0.05, maximize: true },
    ],
    ['AdamW', true, { lr: 1e-2, betas: [0.8, 0.999] as [number, number], weightDecay: 0.1, eps: 1e-6 }],
  ] as const)('%s', async (_, decoupled, options) => {
    const n = 1027;
    const h = harness(n, 7);
    const create = decoupled ? createAdamW : createAdam;
    const optimizer = await create(device, [{ param: h.param, grad: h.grad, length: n }], options);
    const reference = newState(h.initial);
    for (let t = 1; t <= 300; t++) {
      h.nextGrad();
      device.queue.writeBuffer(h.grad, 0, h.gradValues);
      optimizer.stepAndSubmit();
      adamReferenceStep(reference, h.gradValues, {
        lr: options.lr,
        beta1: options.betas[0],
        beta2: options.betas[1],
        eps: 'eps' in options ? options.eps : 1e-8,
        weightDecay: options.weightDecay,
        decoupled,
        maximize: 'maximize' in options ? options.maximize : false,
      });
      if (t % 100 === 0) await compare(`step ${t}`, optimizer, h, reference);
    }
    optimizer.destroy();
  });

  it.each([
    { momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0, maximize: false },
    { momentum: 0.9, dampening: 0.1, nesterov: false, weightDecay: 0.01, maximize: true },
    { momentum: 0.95, dampening: 0, nesterov: true, weightDecay: 0.001, maximize: false },
    { momentum: 0, dampening: 0.5, nesterov: false, weightDecay: 0, maximize: false },
  ])('SGD momentum=$momentum dampening=$dampening nesterov=$nesterov', async (options) => {
    const n = 517;
    const h = harness(n, 11);
    const optimizer = await createSGD(device, [{ param: h.param, grad: h.grad, length: n }], {
      lr: 0.01,
      ...options,
    });
    const reference = newState(h.initial);
    for (let t = 1; t <= 200; t++) {
      h.nextGrad();
      device.queue.writeBuffer(h.grad, 0, h.gradValues);
      optimizer.stepAndSubmit();
      sgdReferenceStep(reference, h.gradValues, { lr: 0.01, ...options });
      // torch keeps no momentum buffer when momentum is 0, so only the parameters are comparable then.
      const arrays = new Set<'m'>(options.momentum === 0 ? [] : ['m']);
      if (t % 50 === 0) await compare(`step ${t}`, optimizer, h, reference, arrays);
    }
    expect(optimizer.lastStep.branch).toBe(options.nesterov ? 'nesterov' : 'momentum');
    optimizer.destroy();
  });
});
