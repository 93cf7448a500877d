// Runs one golden case through the public API on whatever WebGPU implementation `device` comes from. Shared
// by the vitest suite (Dawn, importing src/) and the Deno script (wgpu, importing the built dist/).
import type * as Library from '../../src/index';
import { readF32 } from './buffers';
import {
  type GoldenArray,
  type GoldenCase,
  gradientSource,
  initialParams,
  type LookaheadHp,
  maxRelativeError,
  worstRatio,
} from './golden';

export type Api = Pick<
  typeof Library,
  'createRAdam' | 'createAdam' | 'createAdamW' | 'createSGD' | 'createRanger'
>;
type Optimizer = Awaited<ReturnType<Api['createRAdam']>>;

/**
 * 'separate': param and grad in their own buffers at offset 0 (vec4 body, scalar tail).
 * 'unaligned': param and grad at 4-byte-but-not-16-byte offsets with data before and after them (scalar
 * path, bindings widened to the storage offset alignment, nonzero element offsets).
 */
export type Layout = 'separate' | 'unaligned';

export interface ArrayReport {
  array: GoldenArray;
  /** Worst error / allowed error over every element and checked step, against `expected` (float64). */
  ratioVsF64: number;
  /** The same against `expectedF32` (torch float32), when the case has it. */
  ratioVsF32: number;
  maxRelVsF64: number;
}

export interface GoldenReport {
  name: string;
  mode: string;
  layout: Layout;
  arrays: ArrayReport[];
  branchMismatches: string[];
}

export function createFor(
  api: Api,
  device: GPUDevice,
  golden: GoldenCase,
  spec: Library.ParamSpec,
  stateFormat: 'f32' | 'bf16' = 'f32',
): Promise<Optimizer> {
  if (golden.mode !== 'lookahead')
    return createInner(api, device, golden.mode, golden.hp, spec, undefined, stateFormat);
  const { k, alpha, preset, inner } = golden.hp as unknown as LookaheadHp;
  const lookahead = { k, alpha };
  if (preset === 'ranger') {
    // The format check made sure the inner hp is Ranger's: only these four can differ.
    return api.createRanger(device, [spec], {
      lr: inner.lr as number,
      betas: [inner.beta1 as number, inner.beta2 as number],
      eps: inner.eps as number,
      weightDecay: inner.weightDecay as number,
      lookahead,
      stateFormat,
    });
  }
  return createInner(api, device, inner.mode, inner, spec, lookahead, stateFormat);
}

function createInner(
  api: Api,
  device: GPUDevice,
  mode: Exclude<GoldenCase['mode'], 'lookahead'>,
  hp: Record<string, number | string | boolean>,
  spec: Library.ParamSpec,
  lookahead: Library.LookaheadOptions | undefined,
  stateFormat: 'f32' | 'bf16',
): Promise<Optimizer> {
  const num = (key: string) => hp[key] as number;
  const bool = (key: string) => (hp[key] as boolean | undefined) ?? false;
  const betas: [number, number] = [num('beta1'), num('beta2')];
  switch (mode) {
    case 'adam':
    case 'adamw':
      return (mode === 'adam' ? api.createAdam : api.createAdamW)(device, [spec], {
        lr: num('lr'),
        betas,
        eps: num('eps'),
        weightDecay: num('weightDecay'),
        maximize: bool('maximize'),
        amsgrad: bool('amsgrad'),
        lookahead,
        stateFormat,
      });
    case 'sgd':
      return api.createSGD(device, [spec], {
        lr: num('lr'),
        momentum: num('momentum'),
        dampening: num('dampening'),
        nesterov: bool('nesterov'),
        weightDecay: num('weightDecay'),
        maximize: bool('maximize'),
        lookahead,
        stateFormat,
      });
    default:
      return api.createRAdam(device, [spec], {
        preset: mode,
        lr: num('lr'),
        betas,
        eps: num('eps'),
        weightDecay: num('weightDecay'),
        decoupledWeightDecay: bool('decoupled'),
        maximize: bool('maximize'),
        threshold: num('threshold'),
        thresholdComparison: hp.thresholdOp as '>' | '>=',
        epsMode: hp.epsMode as 'uncorrected' | 'corrected',
        degeneratedToSgd: bool('degeneratedToSgd'),
        lookahead,
        stateFormat,
      });
  }
}

const STORAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export async function runGoldenCase(
  api: Api,
  device: GPUDevice,
  golden: GoldenCase,
  layout: Layout,
): Promise<GoldenReport> {
  const n = golden.n;
  const bytes = n * 4;
  let paramOffset = 0;
  let gradOffset = 0;
  if (layout === 'unaligned') {
    gradOffset = 4;
    paramOffset = 256 + 8;
  }
  const paramBuffer = device.createBuffer({ size: paramOffset + bytes + 12, usage: STORAGE() });
  const gradBuffer = device.createBuffer({ size: gradOffset + bytes, usage: STORAGE() });
  const params0 = initialParams(golden);
  device.queue.writeBuffer(paramBuffer, paramOffset, new Float32Array(params0));
  const optimizer = await createFor(api, device, golden, {
    param: paramBuffer,
    grad: gradBuffer,
    length: n,
    paramOffset,
    gradOffset,
    name: golden.name,
  });
  const gradientAt = gradientSource(golden);
  const closedLoop = typeof golden.gradSpec === 'object' && golden.gradSpec.type === 'rosenbrock';
  const tolerance = golden.tolerances.float32_vs_expected_or_expectedF32;
  const arrays = (['params', 'm', 'v', 'vmax', 'slow'] as const).filter((a) => tolerance[a] !== undefined);
  const reports = new Map<string, ArrayReport>(
    arrays.map((array) => [array, { array, ratioVsF64: 0, ratioVsF32: 0, maxRelVsF64: 0 }]),
  );
  const stepInfoByT = new Map(golden.expected.stepInfo.map((info) => [info.t, info]));
  const branchMismatches: string[] = [];
  const gradStaging = new Float32Array(n);
  let current: Float32Array = Float32Array.from(params0);
  const lastStep = Math.max(...golden.expected.atSteps);

  for (let t = 1; t <= lastStep; t++) {
    if (closedLoop && t > 1) current = await readF32(device, paramBuffer, paramOffset, n);
    gradStaging.set(gradientAt(t, current));
    device.queue.writeBuffer(gradBuffer, gradOffset, gradStaging);
    optimizer.stepAndSubmit();

    const expectedInfo = stepInfoByT.get(t);
    if (expectedInfo) {
      const got = optimizer.lastStep;
      const gotBranch = got.branch === 'momentum' || got.branch === 'nesterov' ? 'sgd' : got.branch;
      if (gotBranch !== expectedInfo.branch) {
        branchMismatches.push(
          `t=${t}: expected ${expectedInfo.branch}, got ${got.branch} (rho_t ${got.rhoT})`,
        );
      }
      if (expectedInfo.sync !== undefined && got.sync !== expectedInfo.sync) {
        branchMismatches.push(`t=${t}: expected sync ${expectedInfo.sync}, got ${got.sync}`);
      }
    }
    const at = golden.expected.atSteps.indexOf(t);
    if (at < 0) continue;
    const state = optimizer.stateLocation(0);
    const got = {
      params: await readF32(device, paramBuffer, paramOffset, n),
      m: await readF32(device, state.expAvg, state.byteOffset, n),
      v: state.expAvgSq ? await readF32(device, state.expAvgSq, state.byteOffset, n) : undefined,
      vmax: state.expAvgSqMax ? await readF32(device, state.expAvgSqMax, state.byteOffset, n) : undefined,
      slow: state.slow ? await readF32(device, state.slow, state.slowByteOffset, n) : undefined,
    };
    for (const array of arrays) {
      const report = reports.get(array)!;
      const values = got[array];
      const expectedF64 = golden.expected[array]?.[at];
      if (!values || !expectedF64) throw new Error(`${golden.name}: missing ${array} at step ${t}`);
      report.ratioVsF64 = Math.max(report.ratioVsF64, worstRatio(values, expectedF64, tolerance[array]!));
      report.maxRelVsF64 = Math.max(report.maxRelVsF64, maxRelativeError(values, expectedF64));
      const f32Index = golden.expectedF32?.atSteps.indexOf(t) ?? -1;
      const expectedF32 = f32Index >= 0 ? golden.expectedF32?.[array]?.[f32Index] : undefined;
      if (expectedF32)
        report.ratioVsF32 = Math.max(report.ratioVsF32, worstRatio(values, expectedF32, tolerance[array]!));
    }
  }
  optimizer.destroy();
  paramBuffer.destroy();
  gradBuffer.destroy();
  return {
    name: golden.name,
    mode: familyOf(golden),
    layout,
    arrays: [...reports.values()],
    branchMismatches,
  };
}

/** The family a case reports under: its mode, with AMSGrad, Lookahead and Ranger cases apart. */
export function familyOf(golden: GoldenCase): string {
  if (golden.mode === 'lookahead') {
    const hp = golden.hp as unknown as LookaheadHp;
    return hp.preset === 'ranger'
      ? 'ranger'
      : `lookahead(${hp.inner.mode}${hp.inner.amsgrad ? '+amsgrad' : ''})`;
  }
  return golden.hp.amsgrad === true ? `${golden.mode}+amsgrad` : golden.mode;
}
