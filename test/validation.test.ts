import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BufferBindingError,
  createAdam,
  createRAdam,
  createSGD,
  OptimizerConfigError,
  OptimizerStateError,
  type RAdamOptions,
} from '../src/index';
import { readF32, STORAGE_RW, uploadF32 } from './helpers/buffers';
import { requestTestDevice } from './helpers/webgpu-node';

let device: GPUDevice;
let param: GPUBuffer;
let grad: GPUBuffer;
const N = 10;
const initial = Array.from({ length: N }, (_, i) => i / 10 - 0.3);

beforeAll(async () => {
  device = await requestTestDevice();
  param = uploadF32(device, initial);
  grad = uploadF32(device, new Array(N).fill(0.5));
});
afterAll(() => device.destroy());

async function expectParamsUntouched() {
  expect(Array.from(await readF32(device, param))).toEqual(Array.from(Float32Array.from(initial)));
}

describe('hyper-parameter validation names the field and the range', () => {
  const cases: [string, RAdamOptions, RegExp][] = [
    [
      'negative lr',
      { lr: -1e-3 },
      /Invalid lr: -0\.001 \(expected a finite number >= 0, at most 3\.4028235e38, the largest f32\)/,
    ],
    ['NaN lr', { lr: Number.NaN }, /Invalid lr: NaN/],
    ['infinite lr', { lr: Number.POSITIVE_INFINITY }, /Invalid lr: Infinity/],
    ['beta1 = 1', { betas: [1, 0.999] }, /Invalid betas\[0\]: 1 \(expected 0 <= betas\[0\] < 1\)/],
    ['negative beta2', { betas: [0.9, -0.1] }, /Invalid betas\[1\]: -0\.1/],
    ['beta2 > 1', { betas: [0.9, 1.5] }, /Invalid betas\[1\]: 1\.5/],
    ['betas not a pair', { betas: [0.9] as unknown as [number, number] }, /Invalid betas: \[0\.9\]/],
    ['negative eps', { eps: -1e-8 }, /Invalid eps: -1e-8/],
    ['infinite eps', { eps: Number.POSITIVE_INFINITY }, /Invalid eps: Infinity/],
    ['negative weightDecay', { weightDecay: -0.1 }, /Invalid weightDecay: -0\.1/],
    ['threshold below 4', { threshold: 3.5 }, /Invalid threshold: 3\.5 \(expected a finite number >= 4/],
    ['threshold comparison', { thresholdComparison: '<' as '>' }, /Invalid thresholdComparison: "<"/],
    ['eps mode', { epsMode: 'raw' as 'corrected' }, /Invalid epsMode: "raw"/],
    ['preset', { preset: 'keras' as 'torch' }, /Invalid preset: "keras"/],
    ['non-boolean maximize', { maximize: 'yes' as unknown as boolean }, /Invalid maximize: "yes"/],
    ['typo in an option name', { weight_decay: 0.1 } as RAdamOptions, /Unknown RAdam option "weight_decay"/],
  ];
  it.each(cases)('%s', async (_, options, message) => {
    const attempt = createRAdam(device, [{ param, grad, length: N }], options);
    await expect(attempt).rejects.toThrow(OptimizerConfigError);
    await expect(attempt).rejects.toThrow(message);
    await expectParamsUntouched();
  });

  it('SGD nesterov needs momentum and no dampening', async () => {
    await expect(createSGD(device, [{ param, grad, length: N }], { nesterov: true })).rejects.toThrow(
      /Invalid nesterov: true with momentum 0/,
    );
  });

  it('lr set between steps is validated and leaves the old value', async () => {
    const optimizer = await createAdam(device, [{ param, grad, length: N }], { lr: 0.01 });
    expect(() => {
      optimizer.lr = -1;
    }).toThrow(OptimizerConfigError);
    expect(optimizer.lr).toBe(0.01);
    optimizer.destroy();
  });
});

describe('buffer validation names the tensor and the problem', () => {
  const make = (size: number, usage = STORAGE_RW) => device.createBuffer({ size, usage });

  it('grad range shorter than the param range', async () => {
    const shortGrad = make(N * 4 - 4);
    await expect(createRAdam(device, [{ param, grad: shortGrad, length: N }])).rejects.toThrow(
      /params\[0\]: grad range \[0, 40\) exceeds its buffer of 36 bytes/,
    );
    shortGrad.destroy();
  });

  it('offset pushes the range past the end', async () => {
    await expect(createRAdam(device, [{ param, grad, length: N, paramOffset: 8 }])).rejects.toThrow(
      /param range \[8, 48\) exceeds its buffer of 40 bytes/,
    );
  });

  it('offset not 4-byte aligned', async () => {
    const attempt = createRAdam(device, [{ param, grad, length: 2, gradOffset: 6 }]);
    await expect(attempt).rejects.toThrow(BufferBindingError);
    await expect(attempt).rejects.toThrow(
      /Invalid params\[0\]\.gradOffset: 6 \(expected an integer byte offset >= 0 and a multiple of 4\)/,
    );
  });

  it('negative or fractional length', async () => {
    await expect(createRAdam(device, [{ param, grad, length: -1 }])).rejects.toThrow(
      /Invalid params\[0\]\.length: -1/,
    );
    await expect(createRAdam(device, [{ param, grad, length: 1.5 }])).rejects.toThrow(
      /Invalid params\[0\]\.length: 1\.5/,
    );
  });

  it('buffer without STORAGE usage', async () => {
    const uniform = make(N * 4, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    await expect(createRAdam(device, [{ param, grad: uniform, length: N }])).rejects.toThrow(
      /params\[0\]: grad buffer "" lacks GPUBufferUsage\.STORAGE/,
    );
    uniform.destroy();
  });

  it('not a GPUBuffer at all', async () => {
    const notBuffer = { size: 40 } as unknown as GPUBuffer;
    await expect(createRAdam(device, [{ param: notBuffer, grad, length: N }])).rejects.toThrow(
      /params\[0\]: param is not a GPUBuffer/,
    );
  });

  it('the same buffer as param and grad', async () => {
    await expect(createRAdam(device, [{ param, grad: param, length: N, name: 'w' }])).rejects.toThrow(
      /w: param and grad are the same GPUBuffer/,
    );
  });

  it('param range overlapping another tensor’s grad range', async () => {
    const shared = make(1024);
    const other = make(1024);
    const attempt = createRAdam(device, [
      { param: shared, grad: other, length: 64, name: 'a' },
      { param: other, grad: shared, length: 64, gradOffset: 128, paramOffset: 512, name: 'b' },
    ]);
    await expect(attempt).rejects.toThrow(BufferBindingError);
    await expect(attempt).rejects.toThrow(/overlaps/);
    shared.destroy();
    other.destroy();
  });

  it('two tensors sharing parameter memory', async () => {
    const big = make(1024);
    const grads = make(1024);
    await expect(
      createRAdam(device, [
        { param: big, grad: grads, length: 100, name: 'first' },
        { param: big, grad: grads, length: 100, paramOffset: 200, gradOffset: 512, name: 'second' },
      ]),
    ).rejects.toThrow(/second: param range \[200, 600\) overlaps the param range \[0, 400\) of first/);
    big.destroy();
    grads.destroy();
  });

  it('destroyed buffer', async () => {
    const gone = make(N * 4);
    gone.destroy();
    const attempt = createRAdam(device, [{ param, grad: gone, length: N, name: 'bias' }]);
    await expect(attempt).rejects.toThrow(BufferBindingError);
    await expect(attempt).rejects.toThrow(/bias: a param or grad buffer cannot be used/);
    await expectParamsUntouched();
  });

  it('buffer from another device', async () => {
    const otherDevice = await requestTestDevice();
    const foreign = otherDevice.createBuffer({ size: N * 4, usage: STORAGE_RW });
    await expect(createRAdam(device, [{ param, grad: foreign, length: N }])).rejects.toThrow(
      BufferBindingError,
    );
    otherDevice.destroy();
  });
});

describe('lifetime', () => {
  it('step after destroy() throws and destroy() is idempotent', async () => {
    const optimizer = await createRAdam(device, [{ param, grad, length: N }]);
    optimizer.destroy();
    optimizer.destroy();
    expect(() => optimizer.stepAndSubmit()).toThrow(OptimizerStateError);
    expect(() => optimizer.stepAndSubmit()).toThrow(/RAdam: used after destroy\(\)/);
    expect(optimizer.stepCount).toBe(0);
    await expectParamsUntouched();
  });

  it('too many steps recorded into one encoder is refused before anything changes', async () => {
    const optimizer = await createRAdam(device, [{ param, grad, length: N }], {}, { maxPendingSteps: 2 });
    const encoder = device.createCommandEncoder();
    optimizer.step(encoder);
    optimizer.step(encoder);
    expect(() => optimizer.step(encoder)).toThrow(/2 steps are already recorded into this command encoder/);
    expect(optimizer.stepCount).toBe(2);
    optimizer.destroy();
  });
});
