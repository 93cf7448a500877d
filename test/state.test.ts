import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createRAdam,
  createSGD,
  deserializeState,
  type FusedOptimizer,
  fromTfjsWeights,
  linearWarmup,
  type OptimizerState,
  OptimizerStateError,
  serializeState,
  toTfjsWeights,
} from '../src/index';
import { type PackedModel, packedModel, readMoments } from './helpers/model';
import { requestTestDevice } from './helpers/webgpu-node';

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

async function everything(model: PackedModel, optimizer: FusedOptimizer) {
  const params = await model.readParams();
  const moments = await Promise.all(model.lengths.map((_, i) => readMoments(device, optimizer, i)));
  const { stepCounts } = await optimizer.readGradStats();
  return [
    params.flatMap((p) => Array.from(p)),
    moments.flatMap((m) => [...m.m, ...m.v]),
    Array.from(stepCounts),
  ];
}

const LENGTHS = [31, 256, 5];

describe('state dict', () => {
  it('round-trips exactly through bytes and resumes mid-warmup on the uninterrupted trajectory', async () => {
    const options = { lr: 1e-2, weightDecay: 0.01, schedule: linearWarmup(10), skipNonFinite: true };
    const straight = packedModel(device, LENGTHS, 21);
    const straightOptimizer = await createRAdam(device, straight.specs, options);
    for (let t = 1; t <= 4; t++) {
      straight.writeGradients(t);
      straightOptimizer.stepAndSubmit();
    }
    const saved = await straightOptimizer.stateDict();
    expect(saved.header.step).toBe(4);
    expect(saved.header.tensors.map((t) => t.step)).toEqual([4, 4, 4]);
    const bytes = serializeState(saved);
    const restored = deserializeState(bytes);
    expect(restored.header).toEqual(saved.header);
    expect(Array.from(restored.payload)).toEqual(Array.from(saved.payload));

    // A new optimizer (as after a page reload) over a copy of the parameters at step 4.
    const resumed = packedModel(device, LENGTHS, 21);
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(straight.param, 0, resumed.param, 0, straight.param.size);
    device.queue.submit([encoder.finish()]);
    const resumedOptimizer = await createRAdam(device, resumed.specs, options);
    resumedOptimizer.loadStateDict(restored);
    expect(resumedOptimizer.stepCount).toBe(4);
    for (let t = 5; t <= 12; t++) {
      straight.writeGradients(t);
      resumed.writeGradients(t);
      straightOptimizer.stepAndSubmit();
      resumedOptimizer.stepAndSubmit();
    }
    expect(await everything(resumed, resumedOptimizer)).toEqual(
      await everything(straight, straightOptimizer),
    );
    for (const o of [straightOptimizer, resumedOptimizer]) o.destroy();
    straight.destroy();
    resumed.destroy();
  });

  it('rejects a state that does not fit, with a clear error and nothing changed', async () => {
    const model = packedModel(device, LENGTHS, 22);
    const optimizer = await createRAdam(device, model.specs, { lr: 1e-2 });
    for (let t = 1; t <= 3; t++) {
      model.writeGradients(t);
      optimizer.stepAndSubmit();
    }
    const good = await optimizer.stateDict();
    const before = await everything(model, optimizer);
    const variants: [string, (s: OptimizerState) => OptimizerState, RegExp][] = [
      [
        'another version',
        (s) => ({ ...s, header: { ...s.header, version: 99 } }),
        /version 99 is not supported/,
      ],
      [
        'a foreign format',
        (s) => ({ ...s, header: { ...s.header, format: 'torch' as never } }),
        /format is "torch"/,
      ],
      [
        'fewer tensors',
        (s) => ({ ...s, header: { ...s.header, tensors: s.header.tensors.slice(1) } }),
        /holds 2 tensors, this optimizer has 3/,
      ],
      [
        'a wrong length',
        (s) => ({
          ...s,
          header: {
            ...s.header,
            tensors: s.header.tensors.map((t, i) => (i === 1 ? { ...t, length: 255 } : t)),
          },
        }),
        /tensors\[1\] \(t1\) has length 255, t1 has 256/,
      ],
      [
        'no second moment',
        (s) => ({
          ...s,
          header: { ...s.header, tensors: s.header.tensors.map(({ exp_avg_sq: _, ...t }) => t) },
        }),
        /lacks exp_avg_sq/,
      ],
      [
        'a truncated payload',
        (s) => ({ ...s, payload: s.payload.slice(0, 100) }),
        /outside the payload of 100/,
      ],
      ['a negative step', (s) => ({ ...s, header: { ...s.header, step: -1 } }), /step -1 is not an integer/],
    ];
    for (const [, mutate, message] of variants) {
      expect(() => optimizer.loadStateDict(mutate(good))).toThrow(message);
      expect(() => optimizer.loadStateDict(mutate(good))).toThrow(OptimizerStateError);
    }
    expect(await everything(model, optimizer)).toEqual(before);
    expect(optimizer.stepCount).toBe(3);

    const bytes = serializeState(good);
    expect(() => deserializeState(bytes.slice(0, 20))).toThrow(/header is truncated/);
    expect(() => deserializeState(new ArrayBuffer(12))).toThrow(/RADM magic/);
    const sgd = await createSGD(device, model.specs, { momentum: 0.9 });
    expect(() => sgd.loadStateDict(good)).toThrow(/it is a state of "RAdam", this optimizer is SGD/);
    const relabelled = { ...good, header: { ...good.header, optimizer: 'SGD' } };
    expect(() => sgd.loadStateDict(relabelled)).toThrow(/has exp_avg_sq, which SGD does not keep/);
    sgd.destroy();
    optimizer.destroy();
    model.destroy();
  });

  it('converts to and from the tfjs getWeights() order: iterations, every m, every v', async () => {
    const model = packedModel(device, LENGTHS, 23);
    const optimizer = await createRAdam(device, model.specs);
    for (let t = 1; t <= 2; t++) {
      model.writeGradients(t);
      optimizer.stepAndSubmit();
    }
    const state = await optimizer.stateDict();
    const weights = toTfjsWeights(state);
    expect(weights.map((w) => w.name)).toEqual(['iter', 't0/m', 't1/m', 't2/m', 't0/v', 't1/v', 't2/v']);
    expect(Array.from(weights[0]!.values)).toEqual([2]);
    const moments = await readMoments(device, optimizer, 1);
    expect(Array.from(weights[2]!.values)).toEqual(Array.from(moments.m));
    expect(Array.from(weights[5]!.values)).toEqual(Array.from(moments.v));
    const back = fromTfjsWeights(state.header, weights);
    optimizer.loadStateDict(back);
    expect(toTfjsWeights(await optimizer.stateDict()).map((w) => Array.from(w.values))).toEqual(
      weights.map((w) => Array.from(w.values)),
    );
    optimizer.destroy();
    model.destroy();
  });
});
