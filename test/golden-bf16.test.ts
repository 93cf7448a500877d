// Every golden case once more with bf16 moments (stateFormat: 'bf16'), beside the same case with f32 moments.
// The host's decisions (branch, rho_t, rectification, step counts) must be identical; the values may differ from
// float64 by the case's f32 tolerance plus the bf16 bound derived in helpers/bf16-bound.ts (and the README):
//   |got - expected| <= atol + rtol |expected| + 6 * sqrt(sum_r (|K^m_r| 2^-8 |m_r| + |K^v_r| 2^-8 |v_r|)^2).
// AMSGrad's max and Lookahead's slow weights stay f32; the bound carries the moments' rounding into them too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as api from '../src/index';
import { bf16Bounds } from './helpers/bf16-bound';
import { readF32 } from './helpers/buffers';
import {
  type GoldenCase,
  gradientSource,
  initialParams,
  listGoldenFiles,
  loadGoldenCase,
} from './helpers/golden';
import { createFor, type Layout } from './helpers/golden-runner';
import { requestTestDevice } from './helpers/webgpu-node';

let device: GPUDevice;
interface Worst {
  /** max |got - expected| / (f32 tolerance + bf16 bound): the check, <= 1. */
  check: number;
  /**
   * max |bf16 run - f32 run| / bf16 bound: the bf16 share alone, over values whose bound is above 64 f32 ulps
   * (below that the two runs' f32 roundings, not bf16's, make the difference).
   */
  ofBound: number;
  where: string;
}
const worst: Worst = { check: 0, ofBound: 0, where: '' };
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => {
  device.destroy();
  console.log(
    `[golden bf16] worst |bf16 - f32| / bound ${worst.ofBound.toFixed(3)} (${worst.where}); worst |bf16 - f64| / (f32 tolerance + bound) ${worst.check.toFixed(3)}`,
  );
});

const files = listGoldenFiles();
const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

async function runSideBySide(golden: GoldenCase, layout: Layout) {
  const n = golden.n;
  const offset = layout === 'unaligned' ? 256 + 8 : 0;
  const gradOffset = layout === 'unaligned' ? 4 : 0;
  const params0 = new Float32Array(initialParams(golden));
  const run = async (stateFormat: 'f32' | 'bf16') => {
    const param = device.createBuffer({ size: offset + n * 4 + 12, usage: STORAGE() });
    const grad = device.createBuffer({ size: gradOffset + n * 4, usage: STORAGE() });
    device.queue.writeBuffer(param, offset, params0);
    const optimizer = await createFor(
      api,
      device,
      golden,
      { param, grad, length: n, paramOffset: offset, gradOffset, name: golden.name },
      stateFormat,
    );
    return { param, grad, optimizer, current: Float32Array.from(params0) };
  };
  const runs = [await run('f32'), await run('bf16')] as const;
  const bounds = bf16Bounds(golden);
  const gradientAt = gradientSource(golden);
  const closedLoop = typeof golden.gradSpec === 'object' && golden.gradSpec.type === 'rosenbrock';
  const tolerance = golden.tolerances.float32_vs_expected_or_expectedF32;
  const lastStep = Math.max(...golden.expected.atSteps);
  const decisions: string[] = [];
  for (let t = 1; t <= lastStep; t++) {
    for (const r of runs) {
      if (closedLoop && t > 1) r.current = await readF32(device, r.param, offset, n);
      device.queue.writeBuffer(r.grad, gradOffset, new Float32Array(gradientAt(t, r.current)));
      r.optimizer.stepAndSubmit();
    }
    const [f32, bf16] = [runs[0].optimizer, runs[1].optimizer];
    if (JSON.stringify(f32.lastStep) !== JSON.stringify(bf16.lastStep) || f32.stepCount !== bf16.stepCount) {
      decisions.push(`t=${t}: f32 ${JSON.stringify(f32.lastStep)} vs bf16 ${JSON.stringify(bf16.lastStep)}`);
    }
    const at = golden.expected.atSteps.indexOf(t);
    if (at < 0) continue;
    const [stateF32, stateBf16] = [await f32.stateDict(), await bf16.stateDict()];
    expect(stateBf16.header.step).toBe(stateF32.header.step);
    expect(stateBf16.header.tensors[0]!.step).toBe(stateF32.header.tensors[0]!.step);
    const moment = (
      state: api.OptimizerState,
      key: 'exp_avg' | 'exp_avg_sq' | 'max_exp_avg_sq' | 'slow_buffer',
    ) => {
      const start = state.header.tensors[0]![key];
      return start === undefined ? undefined : state.payload.subarray(start, start + n);
    };
    const arrays = {
      params: [
        await readF32(device, runs[0].param, offset, n),
        await readF32(device, runs[1].param, offset, n),
      ],
      m: [moment(stateF32, 'exp_avg'), moment(stateBf16, 'exp_avg')],
      v: [moment(stateF32, 'exp_avg_sq'), moment(stateBf16, 'exp_avg_sq')],
      vmax: [moment(stateF32, 'max_exp_avg_sq'), moment(stateBf16, 'max_exp_avg_sq')],
      slow: [moment(stateF32, 'slow_buffer'), moment(stateBf16, 'slow_buffer')],
    } as const;
    for (const name of ['params', 'm', 'v', 'vmax', 'slow'] as const) {
      const tol = tolerance[name];
      const bound = bounds[name][at];
      const expected = golden.expected[name]?.[at];
      const [gotF32, gotBf16] = arrays[name];
      if (!tol || !expected) continue;
      if (!bound || !gotF32 || !gotBf16) throw new Error(`${golden.name}: no bf16 ${name} at step ${t}`);
      for (let i = 0; i < n; i++) {
        const allowed = tol.atol + tol.rtol * Math.abs(expected[i]!) + bound[i]!;
        const check = Math.abs(gotBf16[i]! - expected[i]!) / allowed;
        if (!(check <= 1)) {
          throw new Error(
            `${golden.name} ${name}[${i}] at step ${t}: bf16 ${gotBf16[i]}, f64 ${expected[i]}, f32 run ${gotF32[i]}, allowed ${allowed} (bound ${bound[i]})`,
          );
        }
        worst.check = Math.max(worst.check, check);
        const ulp32 = 2 ** (Math.floor(Math.log2(Math.abs(expected[i]!) || 2 ** -126)) - 23);
        if (bound[i]! > 64 * ulp32) {
          const ofBound = Math.abs(gotBf16[i]! - gotF32[i]!) / bound[i]!;
          if (ofBound > worst.ofBound) {
            worst.ofBound = ofBound;
            worst.where = `${golden.name} ${layout} ${name}[${i}] step ${t}`;
          }
        }
      }
    }
  }
  for (const r of runs) {
    r.optimizer.destroy();
    r.param.destroy();
    r.grad.destroy();
  }
  return decisions;
}

describe.each(['separate', 'unaligned'] as const)(
  "golden cases with stateFormat: 'bf16' (%s buffers) within tolerance + derived bound",
  (layout) => {
    it.each(files.map((file) => [file.label, file.path]))('%s', async (_, file) => {
      const golden = loadGoldenCase(file);
      expect(await runSideBySide(golden, layout)).toEqual([]);
    });
  },
);
