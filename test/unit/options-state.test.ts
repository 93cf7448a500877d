// Option resolution, execution limits and state-dict checks, without a GPU.
import { describe, expect, it } from 'vitest';
import { adapterClass } from '../../src/adapter-class';
import { OptimizerConfigError } from '../../src/errors';
import { RADAM_PRESETS, resolveRAdamOptions, resolveSgdOptions } from '../../src/options';
import { loadProblem, type OptimizerState, STATE_FORMAT, STATE_FORMAT_VERSION } from '../../src/state';
import { checkExecutionOptions, resolveExecution, resolveTraining } from '../../src/training-options';

const limits = {
  maxComputeInvocationsPerWorkgroup: 256,
  minStorageBufferOffsetAlignment: 256,
  minUniformBufferOffsetAlignment: 256,
  maxBufferSize: 1 << 28,
  maxStorageBufferBindingSize: 1 << 27,
} as GPUSupportedLimits;
const control = { controlBytes: 32, scheduleEntryBytes: 8 };

describe('options', () => {
  it('each preset sets its fields; explicit options override them', () => {
    for (const [preset, fields] of Object.entries(RADAM_PRESETS)) {
      expect(resolveRAdamOptions({ preset: preset as keyof typeof RADAM_PRESETS })).toMatchObject(fields);
    }
    expect(resolveRAdamOptions({ preset: 'tfa', eps: 1e-5 }).eps).toBe(1e-5);
  });

  it('rejects bad values and unknown keys with a typed error naming the field', () => {
    expect(() => resolveRAdamOptions({ betas: [1, 0.9] })).toThrow(/betas\[0\]/);
    expect(() => resolveSgdOptions({ nesterov: true })).toThrow(OptimizerConfigError);
    expect(() => resolveRAdamOptions({ weight_decay: 1 } as never)).toThrow(/did you mean "weightDecay"/);
  });

  it('training defaults, and gradScale checked', () => {
    const training = resolveTraining({});
    expect([training.scheduled, training.gradStats, training.gradScale, training.maxGradNorm]).toEqual([
      false,
      false,
      1,
      0,
    ]);
    expect(resolveTraining({ maxGradNorm: 1 }).gradStats).toBe(true);
    expect(() => resolveTraining({ gradScale: 0 })).toThrow(/gradScale/);
  });

  it('execution defaults against the limits, and their ranges', () => {
    const gpu = { limits, adapter: 'gpu' as const };
    const run = resolveExecution({}, gpu, 40, control);
    expect([run.workgroupSize, run.ringSlots, run.slotStride, run.stepTableLength]).toEqual([
      256, 4096, 256, 4096,
    ]);
    expect(run.scheduleTableLength).toBe(8192);
    expect(() => resolveExecution({ workgroupSize: 3 }, gpu, 40, control)).toThrow(/workgroupSize/);
    expect(() => resolveExecution({ maxBindingBytes: 100 }, gpu, 40, control)).toThrow(/maxBindingBytes/);
  });

  it('tiles and solo dispatches follow the adapter class unless given', () => {
    const cpu = resolveExecution({}, { limits, adapter: 'cpu' }, 40, control);
    const gpu = resolveExecution({}, { limits, adapter: 'gpu' }, 40, control);
    expect([cpu.tileShape, cpu.plan.tileElements, cpu.plan.soloElements]).toEqual(['narrow', 128, 65_536]);
    expect([gpu.tileShape, gpu.plan.tileElements, gpu.plan.soloElements]).toEqual(['wide', 256, 1 << 20]);
    expect(() => checkExecutionOptions({ tileShape: 'medium' as never })).toThrow(OptimizerConfigError);
    expect(() => checkExecutionOptions({ tileShape: 'medium' as never })).toThrow(
      /Invalid tileShape: "medium" \(expected one of "narrow", "wide"\)/,
    );
    const forced = resolveExecution(
      { tileShape: 'wide', soloElements: 7 },
      { limits, adapter: 'cpu' },
      40,
      control,
    );
    expect([forced.tileShape, forced.plan.soloElements]).toEqual(['wide', 7]);
  });

  it('tells CPU adapters from GPUs by adapterInfo', () => {
    const info = (fields: Partial<GPUAdapterInfo>) => ({
      vendor: '',
      architecture: '',
      device: '',
      description: '',
      ...fields,
    });
    expect(adapterClass(info({ vendor: 'google', architecture: 'swiftshader' }))).toBe('cpu');
    expect(adapterClass(info({ description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }))).toBe('cpu');
    expect(adapterClass(info({ description: 'Microsoft Basic Render Driver' }))).toBe('cpu');
    expect(adapterClass(info({ isFallbackAdapter: true }))).toBe('cpu');
    expect(adapterClass(info({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' }))).toBe(
      'gpu',
    );
    expect(adapterClass(info({ vendor: 'apple', architecture: 'metal-3' }))).toBe('gpu');
    expect(adapterClass(undefined)).toBe('gpu');
  });
});

describe('state-dict checks', () => {
  const shape = {
    name: 'RAdam',
    hasSecondMoment: true,
    amsgrad: false,
    lookahead: [false],
    groups: [[0]],
    tensors: [{ name: 'w', length: 2 }],
  };
  const state = (payload: number[]): OptimizerState => ({
    header: {
      format: STATE_FORMAT,
      version: STATE_FORMAT_VERSION,
      optimizer: 'RAdam',
      step: 3,
      paramGroups: [{ lr: 1e-3, params: [0] }],
      tensors: [{ name: 'w', length: 2, step: 3, exp_avg: 0, exp_avg_sq: 2 }],
    },
    payload: Float32Array.from(payload),
  });

  it('accepts a state of this shape and names what does not fit', () => {
    expect(loadProblem(state([0, 1, 2, 3]), shape)).toBeUndefined();
    expect(loadProblem(state([0, 1, 2, -3]), shape)).toMatch(/exp_avg_sq\[1\] is -3/);
    expect(loadProblem(state([0, Number.NaN, 2, 3]), shape)).toMatch(/exp_avg\[1\] is NaN/);
    expect(loadProblem(state([0, 1, 2, 3]), { ...shape, name: 'Adam' })).toMatch(/state of "RAdam"/);
    expect(loadProblem(state([0, 1, 2, 3]), { ...shape, hasSecondMoment: false })).toMatch(/does not keep/);
    expect(loadProblem(null, shape)).toBe('the state is null');
  });

  it('checks max_exp_avg_sq and slow_buffer: only where kept, finite (max >= 0)', () => {
    const extended = (payload: number[], extra: { max_exp_avg_sq?: number; slow_buffer?: number }) => {
      const s = state(payload);
      Object.assign(s.header.tensors[0]!, extra);
      return s;
    };
    const both = { ...shape, amsgrad: true, lookahead: [true] };
    const six = [0, 1, 2, 3, 4, 5];
    expect(loadProblem(extended(six, { max_exp_avg_sq: 4 }), shape)).toMatch(/has max_exp_avg_sq/);
    expect(loadProblem(extended(six, { slow_buffer: 4 }), shape)).toMatch(
      /has slow_buffer, but its param group/,
    );
    expect(
      loadProblem(extended([...six, 6, 7], { max_exp_avg_sq: 4, slow_buffer: 6 }), both),
    ).toBeUndefined();
    expect(loadProblem(extended([0, 1, 2, 3, -4, 5], { max_exp_avg_sq: 4 }), both)).toMatch(
      /max_exp_avg_sq\[0\] is -4/,
    );
    expect(
      loadProblem(extended([0, 1, 2, 3, 4, Number.POSITIVE_INFINITY], { slow_buffer: 4 }), both),
    ).toMatch(/slow_buffer\[1\] is Infinity/);
    expect(loadProblem(extended(six, { slow_buffer: 5 }), both)).toMatch(/slow_buffer range/);
    // States saved without them (before AMSGrad / Lookahead) still load.
    expect(loadProblem(state([0, 1, 2, 3]), both)).toBeUndefined();
  });
});
