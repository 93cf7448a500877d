import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BufferBindingError,
  createAdam,
  createAdamW,
  createRAdam,
  createRanger,
  createSGD,
  type FusedOptimizer,
  linearWarmup,
  OptimizerConfigError,
  OptimizerStateError,
  WebGPURadamError,
} from '../src/index';
import { optionNames } from '../src/option-table';
import { ADAM_OPTIONS, ADAMW_OPTIONS, RADAM_OPTIONS, RANGER_OPTIONS, SGD_OPTIONS } from '../src/options';
import { TRAINING_OPTIONS } from '../src/training-options';
import { readF32, STORAGE_RW, uploadF32 } from './helpers/buffers';
import { type PackedModel, packedModel, readMoments } from './helpers/model';
import { requestTestDevice } from './helpers/webgpu-node';
import { newState, radamReferenceStep, TORCH_RADAM } from './reference/optimizers';

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

const TORCH = { ...TORCH_RADAM, weightDecay: 0, decoupled: false };

async function fullState(model: PackedModel, optimizer: FusedOptimizer) {
  const params = await model.readParams();
  const moments = await Promise.all(model.lengths.map((_, i) => readMoments(device, optimizer, i)));
  const stats = await optimizer.readGradStats();
  return JSON.stringify({
    params: params.map((p) => Array.from(p)),
    moments: moments.map((m) => [Array.from(m.m), Array.from(m.v)]),
    counts: Array.from(stats.stepCounts),
    step: optimizer.stepCount,
    lr: optimizer.lr,
    gradScale: optimizer.gradScale,
  });
}

describe('bad input leaves everything untouched', () => {
  type Create = (options: Record<string, unknown>) => Promise<FusedOptimizer>;
  const badValues: unknown[] = [Number.NaN, Number.POSITIVE_INFINITY, -1, '0.1', null, {}, []];
  let tried = 0;
  afterAll(() => console.log(`[hardening] bad inputs tried: ${tried}`));

  it('every option of every optimizer, with NaN, Infinity, negatives, strings, null, objects and arrays', async () => {
    const model = packedModel(device, [10], 1);
    // The option tables are the list: an option added to a table is tried here with no edit to this test.
    const creators: [string, Create, readonly string[]][] = [
      ['RAdam', (o) => createRAdam(device, model.specs, o), optionNames(RADAM_OPTIONS)],
      ['Adam', (o) => createAdam(device, model.specs, o), optionNames(ADAM_OPTIONS)],
      ['AdamW', (o) => createAdamW(device, model.specs, o), optionNames(ADAMW_OPTIONS)],
      ['SGD', (o) => createSGD(device, model.specs, o), optionNames(SGD_OPTIONS)],
      ['Ranger', (o) => createRanger(device, model.specs, o), optionNames(RANGER_OPTIONS)],
    ];
    const training = optionNames(TRAINING_OPTIONS);
    const before = Array.from(await readF32(device, model.param));
    for (const [name, create, keys] of creators) {
      for (const key of [...keys, ...training]) {
        for (const value of badValues) {
          // -1 is a fine value for nothing here except... nothing: every option rejects it.
          tried++;
          const attempt = create({ [key]: value });
          await expect(attempt, `${name} ${key}=${String(value)}`).rejects.toThrow(WebGPURadamError);
          await expect(attempt).rejects.toThrow(new RegExp(key.replace(/[[\]]/g, '\\$&')));
        }
      }
      for (const typo of ['learningRate', 'weight_decay', 'beta1', 'LR']) {
        tried++;
        await expect(create({ [typo]: 0.1 })).rejects.toThrow(/Unknown .* option/);
      }
    }
    expect(Array.from(await readF32(device, model.param))).toEqual(before);
    model.destroy();
  });

  it('malformed parameter lists', async () => {
    const param = uploadF32(device, new Float32Array(8));
    const grad = uploadF32(device, new Float32Array(8));
    const cases: unknown[] = [
      undefined,
      'params',
      [null],
      [{ param, grad }],
      [{ param, grad, length: '8' }],
      [{ param: 'buffer', grad, length: 8 }],
      [{ param, length: 8 }],
      [{ param, grad, length: 8, paramOffset: -4 }],
      [{ param, grad, length: 8, paramOffset: 2 }],
      [{ param, grad, length: 9 }],
      [{ params: 'x' }],
    ];
    for (const params of cases) {
      tried++;
      await expect(createRAdam(device, params as never), JSON.stringify(params)).rejects.toThrow(
        WebGPURadamError,
      );
    }
    param.destroy();
    grad.destroy();
  });

  it('a live optimizer: setters, step(), setActive(), loadStateDict(), stateLocation()', async () => {
    const model = packedModel(device, [33, 5], 2);
    const optimizer = await createRAdam(device, model.specs, { lr: 1e-2, skipNonFinite: true });
    for (let t = 1; t <= 3; t++) {
      model.writeGradients(t);
      optimizer.stepAndSubmit();
    }
    const good = await optimizer.stateDict();
    const before = await fullState(model, optimizer);
    const attempts: [string, () => unknown, new (...args: never[]) => Error][] = [
      ...badValues.map((v): [string, () => unknown, typeof OptimizerConfigError] => [
        `lr = ${String(v)}`,
        () => {
          optimizer.lr = v as number;
        },
        OptimizerConfigError,
      ]),
      ...badValues.map((v): [string, () => unknown, typeof OptimizerConfigError] => [
        `gradScale = ${String(v)}`,
        () => {
          optimizer.gradScale = v as number;
        },
        OptimizerConfigError,
      ]),
      ...badValues.map((v): [string, () => unknown, typeof OptimizerConfigError] => [
        `paramGroups[0].lr = ${String(v)}`,
        () => {
          optimizer.paramGroups[0]!.lr = v as number;
        },
        OptimizerConfigError,
      ]),
      ['step(undefined)', () => optimizer.step(undefined as never), OptimizerConfigError],
      ['step({})', () => optimizer.step({} as never), OptimizerConfigError],
      ['setActive(2)', () => optimizer.setActive(2, false), OptimizerConfigError],
      ['setActive(-1)', () => optimizer.setActive(-1, false), OptimizerConfigError],
      ['setActive(0.5)', () => optimizer.setActive(0.5, false), OptimizerConfigError],
      ['stateLocation(7)', () => optimizer.stateLocation(7), OptimizerConfigError],
      ['loadStateDict(null)', () => optimizer.loadStateDict(null as never), OptimizerStateError],
      ['loadStateDict({})', () => optimizer.loadStateDict({} as never), OptimizerStateError],
      [
        'loadStateDict(foreign payload type)',
        () => optimizer.loadStateDict({ header: good.header, payload: Array.from(good.payload) as never }),
        OptimizerStateError,
      ],
      [
        'loadStateDict(NaN step)',
        () => optimizer.loadStateDict({ ...good, header: { ...good.header, step: Number.NaN } }),
        OptimizerStateError,
      ],
    ];
    for (const [label, attempt, type] of attempts) {
      tried++;
      expect(attempt, label).toThrow(type);
    }
    expect(await fullState(model, optimizer)).toBe(before);
    optimizer.destroy();
    for (const [label, attempt] of [
      ['step after destroy', () => optimizer.stepAndSubmit()],
      ['stateDict after destroy', () => optimizer.stateDict()],
      ['loadStateDict after destroy', () => optimizer.loadStateDict(good)],
    ] as const) {
      tried++;
      await expect(
        Promise.resolve().then((): unknown => attempt()),
        label,
      ).rejects.toThrow(/used after destroy/);
    }
    model.destroy();
  });

  it('buffers that are too small, unusable, foreign or destroyed', async () => {
    const small = device.createBuffer({ size: 16, usage: STORAGE_RW });
    const mapped = device.createBuffer({
      size: 64,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const destroyed = device.createBuffer({ size: 64, usage: STORAGE_RW });
    destroyed.destroy();
    const other = await requestTestDevice();
    const foreign = other.createBuffer({ size: 64, usage: STORAGE_RW });
    const grad = device.createBuffer({ size: 64, usage: STORAGE_RW });
    for (const param of [small, mapped, destroyed, foreign]) {
      tried++;
      await expect(createRAdam(device, [{ param, grad, length: 16 }])).rejects.toThrow(BufferBindingError);
    }
    other.destroy();
    for (const b of [small, mapped, grad]) b.destroy();
  });
});

describe('extreme values', () => {
  it('gradients of 1e-30, zero and denormal parameters match the float64 reference', async () => {
    const n = 12;
    const initial = Float32Array.from({ length: n }, (_, i) =>
      i % 3 === 0 ? 0 : i % 3 === 1 ? 1e-40 : -0.5,
    );
    const param = uploadF32(device, initial);
    const grad = uploadF32(device, new Float32Array(n));
    const optimizer = await createRAdam(device, [{ param, grad, length: n }], { lr: 1e-2, weightDecay: 0.1 });
    const reference = newState(initial);
    for (let t = 1; t <= 20; t++) {
      const g = Float32Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 1e-30 : -3e-30) * (1 + t / 10));
      device.queue.writeBuffer(grad, 0, g);
      optimizer.stepAndSubmit();
      radamReferenceStep(reference, g, { ...TORCH, lr: 1e-2, weightDecay: 0.1 });
    }
    const got = await readF32(device, param);
    for (let i = 0; i < n; i++) {
      // Denormals may be flushed to zero on the GPU (WGSL allows it): an absolute floor of 1e-37 covers that.
      expect(Math.abs(got[i]! - reference.params[i]!)).toBeLessThanOrEqual(
        1e-37 + 2e-5 * Math.abs(reference.params[i]!),
      );
    }
    optimizer.destroy();
  });

  it('gradients of 1e30 overflow the f32 second moment like torch f32: that element stops, nothing else breaks', async () => {
    const param = uploadF32(device, [1, 2, 3, 4, 5]);
    const grad = uploadF32(device, [1e30, 0.5, -0.5, 0.25, 1e-3]);
    const optimizer = await createRAdam(device, [{ param, grad, length: 5 }], { lr: 1e-2 });
    for (let t = 1; t <= 8; t++) optimizer.stepAndSubmit();
    const got = await readF32(device, param);
    expect(got.every((value) => Number.isFinite(value))).toBe(true);
    const reference = newState([1, 2, 3, 4, 5]);
    for (let t = 1; t <= 8; t++)
      radamReferenceStep(reference, [0, 0.5, -0.5, 0.25, 1e-3], { ...TORCH, lr: 1e-2 });
    for (let i = 1; i < 5; i++) expect(got[i]).toBeCloseTo(reference.params[i]!, 5);
    optimizer.destroy();
  });
});

describe('several optimizers and interleaved training loops', () => {
  it('stay independent on one device, recorded into shared encoders in any order', async () => {
    const a = packedModel(device, [40, 3], 31);
    const b = packedModel(device, [17], 32);
    const first = await createRAdam(device, a.specs, { lr: 1e-2 });
    const second = await createSGD(device, b.specs, { lr: 1e-1, momentum: 0.9 });
    const soloA = packedModel(device, [40, 3], 31);
    const soloOptimizer = await createRAdam(device, soloA.specs, { lr: 1e-2 });
    for (let t = 1; t <= 10; t++) {
      a.writeGradients(t);
      soloA.writeGradients(t);
      b.writeGradients(t);
      const encoder = device.createCommandEncoder();
      if (t % 2) {
        second.step(encoder);
        first.step(encoder);
      } else {
        first.step(encoder);
        second.step(encoder);
      }
      device.queue.submit([encoder.finish()]);
      soloOptimizer.stepAndSubmit();
    }
    expect(await fullState(a, first)).toBe(await fullState(soloA, soloOptimizer));
    for (const o of [first, second, soloOptimizer]) o.destroy();
    for (const m of [a, b, soloA]) m.destroy();
  });
});

describe('one optimizer driven from two training loops', () => {
  it('applies steps in submission order, whatever order they were recorded in', async () => {
    const lengths = [29, 4];
    const shared = packedModel(device, lengths, 61);
    const sequential = packedModel(device, lengths, 61);
    const optimizer = await createRAdam(device, shared.specs, { lr: 1e-2 });
    const reference = await createRAdam(device, sequential.specs, { lr: 1e-2 });
    const source = (step: number) => {
      const values = packedModel(device, lengths, 61);
      values.writeGradients(step);
      return values;
    };
    for (let round = 0; round < 4; round++) {
      const first = source(2 * round + 1);
      const second = source(2 * round + 2);
      // Loop A records first, loop B second; B's work is submitted first.
      const encoderA = device.createCommandEncoder();
      encoderA.copyBufferToBuffer(first.grad, 0, shared.grad, 0, shared.grad.size);
      optimizer.step(encoderA);
      const encoderB = device.createCommandEncoder();
      encoderB.copyBufferToBuffer(second.grad, 0, shared.grad, 0, shared.grad.size);
      optimizer.step(encoderB);
      device.queue.submit([encoderB.finish()]);
      device.queue.submit([encoderA.finish()]);
      for (const values of [second, first]) {
        const encoder = device.createCommandEncoder();
        encoder.copyBufferToBuffer(values.grad, 0, sequential.grad, 0, sequential.grad.size);
        reference.step(encoder);
        device.queue.submit([encoder.finish()]);
      }
      first.destroy();
      second.destroy();
    }
    expect(await fullState(shared, optimizer)).toBe(await fullState(sequential, reference));
    optimizer.destroy();
    reference.destroy();
    shared.destroy();
    sequential.destroy();
  });
});

describe('device loss', () => {
  it('surfaces device.lost, refuses further steps clearly, and a new device resumes from the last state', async () => {
    const lostDevice = await requestTestDevice();
    const straightDevice = await requestTestDevice();
    const options = { lr: 1e-2, schedule: linearWarmup(5) };
    const lostModel = packedModel(lostDevice, [65, 2], 41);
    const straight = packedModel(straightDevice, [65, 2], 41);
    const lostOptimizer = await createRAdam(lostDevice, lostModel.specs, options);
    const straightOptimizer = await createRAdam(straightDevice, straight.specs, options);
    for (let t = 1; t <= 3; t++) {
      lostModel.writeGradients(t);
      straight.writeGradients(t);
      lostOptimizer.stepAndSubmit();
      straightOptimizer.stepAndSubmit();
    }
    const saved = await lostOptimizer.stateDict();
    const savedParams = await readF32(lostDevice, lostModel.param);
    lostDevice.destroy();
    const info = await lostOptimizer.deviceLost;
    expect(info.reason).toBe('destroyed');
    expect(() => lostOptimizer.stepAndSubmit()).toThrow(OptimizerStateError);
    expect(() => lostOptimizer.stepAndSubmit()).toThrow(/GPUDevice was lost \(destroyed/);

    const freshDevice = await requestTestDevice();
    const fresh = packedModel(freshDevice, [65, 2], 41);
    freshDevice.queue.writeBuffer(fresh.param, 0, savedParams);
    const resumed = await createRAdam(freshDevice, fresh.specs, options);
    resumed.loadStateDict(saved);
    for (let t = 4; t <= 9; t++) {
      fresh.writeGradients(t);
      straight.writeGradients(t);
      resumed.stepAndSubmit();
      straightOptimizer.stepAndSubmit();
    }
    const a = await fresh.readParams();
    const b = await straight.readParams();
    expect(a.map((p) => Array.from(p))).toEqual(b.map((p) => Array.from(p)));
    resumed.destroy();
    straightOptimizer.destroy();
    freshDevice.destroy();
    straightDevice.destroy();
  });
});
