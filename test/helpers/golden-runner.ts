// Runs one golden case through the public API on whatever WebGPU implementation `device` comes from. Shared
// by the vitest suite (Dawn, importing src/) and the Deno script (wgpu, importing the built dist/).
import type * as Library from '../../src/index';
import { readF32 } from './buffers';
import { type GoldenCase, gradientSource, initialParams, maxRelativeError, worstRatio } from './golden';

export type Api = Pick<typeof Library, 'createRAdam' | 'createAdam' | 'createAdamW' | 'createSGD'>;
type Optimizer = Awaited<ReturnType<Api['createRAdam']>>;

/**
 * 'separate': param and grad in their own buffers at offset 0 (vec4 body, scalar tail).
 * 'unaligned': param and grad at 4-byte-but-not-16-byte offsets with data before and after them (scalar
 * path, bindings widened to the storage offset alignment, nonzero element offsets).
 */
export type Layout = 'separate' | 'unaligned';

export interface ArrayReport {
  array: 'params' | 'm' | 'v';
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

function createFor(
  api: Api,
  device: GPUDevice,
  golden: GoldenCase,
  spec: Library.ParamSpec,
): Promise<Optimizer> {
  const hp = golden.hp;
  const num = (key: string) => hp[key] as number;
  const bool = (key: string) => (hp[key] as boolean | undefined) ?? false;
  const betas: [number, number] = [num('beta1'), num('beta2')];
  switch (golden.mode) {
    case 'adam':
    case 'adamw':
      return (golden.mode === 'adam' ? api.createAdam : api.createAdamW)(device, [spec], {
        lr: num('lr'),
        betas,
        eps: num('eps'),
        weightDecay: num('weightDecay'),
        maximize: bool('maximize'),
      });
    case 'sgd':
      return api.createSGD(device, [spec], {
        lr: num('lr'),
        momentum: num('momentum'),
        dampening: num('dampening'),
        nesterov: bool('nesterov'),
        weightDecay: num('weightDecay'),
        maximize: bool('maximize'),
      });
    default:
      return api.createRAdam(device, [spec], {
        preset: golden.mode === 'torch' ? 'torch' : golden.mode,
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
  const arrays = (['params', 'm', 'v'] as const).filter((a) => tolerance[a] !== undefined);
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
    }
    const at = golden.expected.atSteps.indexOf(t);
    if (at < 0) continue;
    const state = optimizer.stateLocation(0);
    const got = {
      params: await readF32(device, paramBuffer, paramOffset, n),
      m: await readF32(device, state.expAvg, state.byteOffset, n),
      v: state.expAvgSq ? await readF32(device, state.expAvgSq, state.byteOffset, n) : undefined,
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
  return { name: golden.name, mode: golden.mode, layout, arrays: [...reports.values()], branchMismatches };
}
