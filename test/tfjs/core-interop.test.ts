// The tfjs path and the fused WebGPU path (Dawn on SwiftShader here) are one optimizer: a trajectory handed
// over mid-way through stateDict() in either direction ends on the golden values, and the two paths, run
// side by side on the same gradients, agree to f32 precision.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as core from '../../src/index';
import type { WebGPURadamTfjsOptimizer } from '../../src/tfjs/index';
import { readF32 } from '../helpers/buffers';
import {
  type GoldenCase,
  gradientSource,
  initialParams,
  listGoldenFiles,
  loadGoldenCase,
  worstRatio,
} from '../helpers/golden';
import { requestTestDevice } from '../helpers/webgpu-node';
import { optimizerFor, tfjsImplements } from './golden-optimizer';
import { uniqueName } from './helpers';

let device: GPUDevice;
const agreement: string[] = [];

beforeAll(async () => {
  await tf.setBackend('cpu');
  device = await requestTestDevice();
});
afterAll(() => {
  device.destroy();
  console.log(
    `[tfjs vs fused WebGPU, same gradients] max |difference|, bit-identical elements:\n${agreement.join('\n')}`,
  );
});

/** The core optimizer with the tfjs one's configuration: the same options mean the same optimizer. */
function coreOptimizerLike(tfjsOptimizer: WebGPURadamTfjsOptimizer, spec: core.ParamSpec) {
  const { learningRate, beta1, beta2, epsilon, fused: _fused, ...rest } = tfjsOptimizer.getConfig();
  const adaptive = { lr: learningRate, betas: [beta1, beta2], eps: epsilon, ...rest };
  switch (tfjsOptimizer.algorithm) {
    case 'RAdam':
      return core.createRAdam(device, [spec], adaptive as unknown as core.RAdamOptions);
    case 'Adam':
      return core.createAdam(device, [spec], adaptive as unknown as core.AdamOptions);
    case 'AdamW':
      return core.createAdamW(device, [spec], adaptive as unknown as core.AdamOptions);
    case 'SGD':
      return core.createSGD(device, [spec], { lr: learningRate, ...rest } as unknown as core.SgdOptions);
  }
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** One golden case on both paths, each stepping its own copy of the parameters. */
async function pair(golden: GoldenCase) {
  const tfjsOptimizer = optimizerFor(golden);
  const name = uniqueName(golden.name);
  const params0 = Float32Array.from(initialParams(golden));
  const variable = tf.tidy(() => tf.variable(tf.tensor1d(params0), true, name));
  const n = golden.n;
  const param = device.createBuffer({ size: n * 4, usage: STORAGE() });
  const grad = device.createBuffer({ size: n * 4, usage: STORAGE() });
  device.queue.writeBuffer(param, 0, params0);
  const fused = await coreOptimizerLike(tfjsOptimizer, { param, grad, length: n, name });
  const gradientAt = gradientSource(golden);
  const closedLoop = typeof golden.gradSpec === 'object' && golden.gradSpec.type === 'rosenbrock';
  const stepTfjs = (t: number) => {
    const gradient = tf.tensor1d(gradientAt(t, variable.dataSync() as Float32Array));
    tfjsOptimizer.applyGradients({ [name]: gradient });
    gradient.dispose();
  };
  const stepFused = async (t: number) => {
    const current = closedLoop ? await readF32(device, param, 0, n) : params0;
    device.queue.writeBuffer(grad, 0, Float32Array.from(gradientAt(t, current)));
    fused.stepAndSubmit();
  };
  const fusedState = async () => {
    const location = fused.stateLocation(0);
    return {
      params: await readF32(device, param, 0, n),
      m: await readF32(device, location.expAvg, location.byteOffset, n),
      v: location.expAvgSq ? await readF32(device, location.expAvgSq, location.byteOffset, n) : undefined,
    };
  };
  const tfjsState = async () => {
    const state = await tfjsOptimizer.stateDict();
    const t = state.header.tensors[0]!;
    return {
      params: variable.dataSync() as Float32Array,
      m: state.payload.subarray(t.exp_avg, t.exp_avg + n),
      v: t.exp_avg_sq === undefined ? undefined : state.payload.subarray(t.exp_avg_sq, t.exp_avg_sq + n),
    };
  };
  const dispose = () => {
    fused.destroy();
    param.destroy();
    grad.destroy();
    tfjsOptimizer.dispose();
    variable.dispose();
  };
  return { tfjsOptimizer, variable, fused, param, stepTfjs, stepFused, fusedState, tfjsState, dispose };
}

type Arrays = { params: Float32Array; m: Float32Array; v: Float32Array | undefined };

/** Worst error / allowed against float64 over the case's checkpoints from `from` on. */
function checkAgainstGolden(golden: GoldenCase, at: number, got: Arrays): number {
  const tolerance = golden.tolerances.float32_vs_expected_or_expectedF32;
  const index = golden.expected.atSteps.indexOf(at);
  let worst = 0;
  for (const array of ['params', 'm', 'v'] as const) {
    const allowed = tolerance[array];
    const expected = golden.expected[array]?.[index];
    if (!allowed || !expected) continue;
    worst = Math.max(worst, worstRatio(got[array]!, expected, allowed));
  }
  return worst;
}

// AMSGrad and Lookahead cases run on the fused path only (test/golden.test.ts); the op-based optimizers refuse them.
const allFiles = listGoldenFiles();
const files = allFiles.filter((file) => tfjsImplements(loadGoldenCase(file.path)));

describe('one optimizer on two paths: fused WebGPU (Dawn) and tfjs ops (cpu backend)', () => {
  it.each(files.map((file) => [file.label, file.path]))('%s', async (_, file) => {
    const golden = loadGoldenCase(file);
    const last = Math.max(...golden.expected.atSteps);
    const handover = Math.max(1, Math.floor(last / 2));
    const checkpoints = golden.expected.atSteps.filter((t) => t > handover);

    // Fused for steps 1..handover, then tfjs from the fused optimizer's stateDict() and parameters.
    const toTfjs = await pair(golden);
    for (let t = 1; t <= handover; t++) await toTfjs.stepFused(t);
    const fromFused = await toTfjs.fused.stateDict();
    const handedParams = await readF32(device, toTfjs.param, 0, golden.n);
    tf.tidy(() => toTfjs.variable.assign(tf.tensor1d(handedParams)));
    toTfjs.tfjsOptimizer.loadStateDict(fromFused, [toTfjs.variable]);
    let worstTfjs = 0;
    for (let t = handover + 1; t <= last; t++) {
      toTfjs.stepTfjs(t);
      if (checkpoints.includes(t))
        worstTfjs = Math.max(worstTfjs, checkAgainstGolden(golden, t, await toTfjs.tfjsState()));
    }
    toTfjs.dispose();

    // tfjs for steps 1..handover, then fused from the tfjs optimizer's stateDict() and variable.
    const toFused = await pair(golden);
    for (let t = 1; t <= handover; t++) toFused.stepTfjs(t);
    device.queue.writeBuffer(toFused.param, 0, Float32Array.from(toFused.variable.dataSync()));
    toFused.fused.loadStateDict(await toFused.tfjsOptimizer.stateDict());
    let worstFused = 0;
    for (let t = handover + 1; t <= last; t++) {
      await toFused.stepFused(t);
      if (checkpoints.includes(t))
        worstFused = Math.max(worstFused, checkAgainstGolden(golden, t, await toFused.fusedState()));
    }
    toFused.dispose();

    // Both paths from step 1 on the same gradients (closed-loop cases: each from its own parameters).
    const both = await pair(golden);
    let maxDifference = 0;
    let identical = 0;
    let compared = 0;
    for (let t = 1; t <= last; t++) {
      both.stepTfjs(t);
      await both.stepFused(t);
      if (!golden.expected.atSteps.includes(t)) continue;
      const [x, y] = [await both.tfjsState(), await both.fusedState()];
      for (const array of ['params', 'm', 'v'] as const) {
        const [p, q] = [x[array], y[array]];
        if (!p || !q) continue;
        p.forEach((value, i) => {
          maxDifference = Math.max(maxDifference, Math.abs(value - q[i]!));
          identical += Object.is(value, q[i]) ? 1 : 0;
          compared += 1;
        });
      }
    }
    const worstBoth = checkAgainstGolden(golden, last, await both.tfjsState());
    both.dispose();
    agreement.push(
      `  ${golden.name.padEnd(28)} ${maxDifference.toExponential(2)}  ${((100 * identical) / compared).toFixed(1)}%`,
    );
    expect(worstTfjs, 'fused → tfjs, err / allowed vs float64').toBeLessThanOrEqual(1);
    expect(worstFused, 'tfjs → fused, err / allowed vs float64').toBeLessThanOrEqual(1);
    expect(worstBoth).toBeLessThanOrEqual(1);
  });
});
