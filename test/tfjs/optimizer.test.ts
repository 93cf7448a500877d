// The tfjs optimizer API on the cpu backend: minimize, both applyGradients forms, tfjs weights, config,
// the package's state format, dispose, and variables that join late, change shape or are reassigned.
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AdamOptimizer,
  AdamWOptimizer,
  adam,
  adamw,
  deserializeState,
  OptimizerStateError,
  RAdamOptimizer,
  radam,
  SGDOptimizer,
  serializeState,
  sgd,
  toTfjsWeights,
  type WebGPURadamTfjsOptimizer,
} from '../../src/tfjs/index';
import { newState, radamReferenceStep, TORCH_RADAM } from '../reference/optimizers';
import {
  copyWeights,
  gradientsFor,
  makeVariable,
  randomValues,
  restore,
  snapshot,
  stepWith,
  thrownBy,
  uniqueName,
} from './helpers';

const live: { dispose(): void }[] = [];
const track = <T extends { dispose(): void }>(value: T): T => {
  live.push(value);
  return value;
};

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterEach(() => {
  for (const value of live.splice(0)) value.dispose();
});

const variableSet = (seed: number) => [
  track(makeVariable(uniqueName('a'), randomValues(seed, 6), [3, 2])),
  track(makeVariable(uniqueName('b'), randomValues(seed + 1, 5))),
];

describe('minimize and applyGradients', () => {
  it('minimize(f, returnCost, varList) steps only the listed variables and the cost falls', () => {
    const a = track(makeVariable(uniqueName('a'), [3, -2, 1]));
    const b = track(makeVariable(uniqueName('b'), [1, 1]));
    const optimizer = track(radam({ learningRate: 0.05 }));
    const target = tf.tensor1d([1, 2, 3]);
    const loss = () => tf.add(tf.sum(tf.square(tf.sub(a, target))), tf.sum(tf.square(b))) as tf.Scalar;
    const costs: number[] = [];
    for (let step = 0; step < 200; step++) {
      const cost = optimizer.minimize(loss, true, [a]);
      costs.push(cost!.dataSync()[0]!);
      cost!.dispose();
    }
    expect(optimizer.minimize(loss, false, [a])).toBeNull();
    target.dispose();
    // b is not in the varList: its part of the cost (2) stays.
    expect(costs.at(-1)! - 2).toBeLessThan((costs[0]! - 2) * 0.05);
    expect(Array.from(b.dataSync())).toEqual([1, 1]);
    expect(optimizer.variableNames).toEqual([a.name]);
    expect(optimizer.iterations).toBe(201);
    expect(optimizer.stepperName).toBe('ops');
  });

  it('minimize(f) without a varList steps every trainable variable it reaches', () => {
    const [a, b] = variableSet(1);
    const optimizer = track(adamw({ learningRate: 0.01 }));
    const before = [a!.dataSync().slice(), b!.dataSync().slice()];
    optimizer.minimize(() => tf.add(tf.sum(tf.square(a!)), tf.sum(tf.square(b!))) as tf.Scalar);
    expect(a!.dataSync()).not.toEqual(before[0]);
    expect(b!.dataSync()).not.toEqual(before[1]);
    expect(new Set(optimizer.variableNames)).toEqual(new Set([a!.name, b!.name]));
  });

  it('the map form and the array form step identically', async () => {
    const first = variableSet(2);
    const second = variableSet(2);
    const byMap = track(radam({ learningRate: 0.01 }));
    const byArray = track(radam({ learningRate: 0.01 }));
    for (let step = 1; step <= 8; step++) {
      const grads = gradientsFor(first, step);
      byMap.applyGradients(grads);
      byArray.applyGradients(second.map((v, i) => ({ name: v.name, tensor: grads[first[i]!.name]! })));
      tf.dispose(Object.values(grads));
    }
    const [x, y] = [await snapshot(byMap, first), await snapshot(byArray, second)];
    expect(y.params).toEqual(x.params);
    expect(Object.values(y.state)).toEqual(Object.values(x.state));
  });

  it('a null gradient leaves that variable and its step count alone; iterations count every call', async () => {
    const [a, b] = variableSet(3);
    const optimizer = track(radam());
    stepWith(optimizer, [a!, b!], 1);
    const bBefore = b!.dataSync().slice();
    const grads = gradientsFor([a!], 2);
    optimizer.applyGradients({ ...grads, [b!.name]: null as unknown as tf.Tensor });
    tf.dispose(Object.values(grads));
    optimizer.applyGradients({});
    expect(b!.dataSync()).toEqual(bBefore);
    expect(optimizer.iterations).toBe(3);
    const state = await optimizer.stateDict();
    expect(state.header.tensors.map((t) => [t.name, t.step])).toEqual([
      [a!.name, 2],
      [b!.name, 1],
    ]);
  });
});

describe('variables the optimizer has not seen, that change shape, or that user code reassigns', () => {
  it('a variable joining late starts from zero state at its own step 1', async () => {
    const [a] = variableSet(4);
    const late = track(makeVariable(uniqueName('late'), randomValues(9, 4)));
    const alone = track(makeVariable(uniqueName('alone'), randomValues(9, 4)));
    const optimizer = track(radam({ learningRate: 0.01 }));
    const fresh = track(radam({ learningRate: 0.01 }));
    for (let step = 1; step <= 12; step++) {
      const grads = gradientsFor([a!], step);
      const lateGrad = tf.tensor(Array.from(randomValues(step, 4)));
      if (step > 5) grads[late.name] = lateGrad;
      optimizer.applyGradients(grads);
      if (step > 5) fresh.applyGradients({ [alone.name]: lateGrad });
      tf.dispose([...Object.values(grads), lateGrad]);
    }
    expect(late.dataSync()).toEqual(alone.dataSync());
    expect((await optimizer.stateDict()).header.tensors[1]!.step).toBe(7);
  });

  it('a variable whose shape changed is refused (typed error, nothing changed) until resetState()', async () => {
    const [a] = variableSet(5);
    const name = uniqueName('reshaped');
    let reshaped = makeVariable(name, randomValues(6, 4));
    const optimizer = track(radam());
    stepWith(optimizer, [a!, reshaped], 1);
    reshaped.dispose();
    reshaped = track(makeVariable(name, randomValues(7, 4), [2, 2]));
    const before = await snapshot(optimizer, [a!, reshaped]);
    expect(() => stepWith(optimizer, [a!, reshaped], 2)).toThrow(OptimizerStateError);
    expect(() => stepWith(optimizer, [a!, reshaped], 2)).toThrow(/has shape \[2, 2\].*\[4\].*resetState/);
    expect(await snapshot(optimizer, [a!, reshaped])).toEqual(before);

    optimizer.resetState([name]);
    const twin = track(makeVariable(uniqueName('twin'), randomValues(7, 4), [2, 2]));
    const fresh = track(radam());
    stepWith(optimizer, [reshaped], 2);
    const grads = gradientsFor([reshaped], 2);
    fresh.applyGradients({ [twin.name]: grads[name]! });
    tf.dispose(Object.values(grads));
    expect(reshaped.dataSync()).toEqual(twin.dataSync());
  });

  it('a variable reassigned by user code between steps is stepped from its new value, moments kept', () => {
    const values = randomValues(11, 16);
    const v = track(makeVariable(uniqueName('reassigned'), values));
    const optimizer = track(radam({ learningRate: 0.01 }));
    const reference = newState(values);
    const options = { ...TORCH_RADAM, lr: 0.01, weightDecay: 0, decoupled: false };
    for (let step = 1; step <= 14; step++) {
      if (step === 7) {
        const replacement = randomValues(12, 16, 3);
        tf.tidy(() => v.assign(tf.tensor1d(replacement)));
        reference.params.set(replacement);
      }
      const grad = randomValues(100 + step, 16);
      const gradient = tf.tensor1d(grad);
      optimizer.applyGradients({ [v.name]: gradient });
      gradient.dispose();
      radamReferenceStep(reference, grad, options);
    }
    const got = v.dataSync();
    const scale = Math.max(...Array.from(reference.params, Math.abs));
    reference.params.forEach((expected, i) => {
      expect(Math.abs(got[i]! - expected)).toBeLessThanOrEqual(2e-5 * Math.abs(expected) + 2e-5 * scale);
    });
  });
});

describe('getWeights / setWeights', () => {
  it('tfjs order and names, and a round trip that continues bit-identically (same and renamed variables)', async () => {
    const [a, b] = variableSet(20);
    const c = track(makeVariable(uniqueName('c'), randomValues(22, 3)));
    const optimizer = track(radam({ learningRate: 0.02, weightDecay: 0.01, decoupledWeightDecay: true }));
    for (let step = 1; step <= 7; step++) {
      const vars = step === 3 || step === 4 ? [a!] : step < 5 ? [a!, b!] : [a!, b!, c];
      stepWith(optimizer, vars, step);
    }
    const weights = await copyWeights(optimizer);
    expect(weights.map((w) => w.name)).toEqual([
      'iter',
      `${a!.name}/m`,
      `${b!.name}/m`,
      `${c.name}/m`,
      `${a!.name}/v`,
      `${b!.name}/v`,
      `${c.name}/v`,
      `${b!.name}/step`,
      `${c.name}/step`,
    ]);
    expect(weights.map((w) => (w.tensor.dtype === 'int32' ? w.tensor.dataSync()[0] : undefined))).toEqual([
      7,
      ...Array(6).fill(undefined),
      5,
      3,
    ]);
    const start = [a!, b!, c].map((v) => v.dataSync().slice());
    for (let step = 8; step <= 12; step++) stepWith(optimizer, [a!, b!, c], step);
    const expected = await snapshot(optimizer, [a!, b!, c]);

    // The same variables, reset to their values at step 7, under a second optimizer given the weights.
    restore([a!, b!, c], start);
    const resumed = track(RAdamOptimizer.fromConfig(RAdamOptimizer, optimizer.getConfig()) as RAdamOptimizer);
    await resumed.setWeights(weights);
    for (let step = 8; step <= 12; step++) stepWith(resumed, [a!, b!, c], step);
    expect(await snapshot(resumed, [a!, b!, c])).toEqual(expected);

    // Other variables (as a model loaded next to its original gets): matched in order.
    const copies = [a!, b!, c].map((v, i) => track(makeVariable(uniqueName('copy'), start[i]!, v.shape)));
    const moved = track(RAdamOptimizer.fromConfig(RAdamOptimizer, optimizer.getConfig()) as RAdamOptimizer);
    await moved.setWeights(weights);
    for (let step = 8; step <= 12; step++) {
      const grads = gradientsFor([a!, b!, c], step);
      moved.applyGradients(copies.map((v, i) => ({ name: v.name, tensor: grads[[a!, b!, c][i]!.name]! })));
      tf.dispose(Object.values(grads));
    }
    const got = await snapshot(moved, copies);
    expect(got.params).toEqual(expected.params);
    expect(Object.values(got.state)).toEqual(Object.values(expected.state));
    expect(moved.variableNames).toEqual(copies.map((v) => v.name));
    tf.dispose(weights.map((w) => w.tensor));
  });

  it('state matched in order must fit: a shape mismatch throws before anything changes', async () => {
    const [a] = variableSet(30);
    const optimizer = track(radam());
    stepWith(optimizer, [a!], 1);
    const weights = await copyWeights(optimizer);
    const other = track(makeVariable(uniqueName('other'), randomValues(31, 4)));
    const target = track(radam());
    await target.setWeights(weights);
    tf.dispose(weights.map((w) => w.tensor));
    const before = await snapshot(target, [other]);
    expect(() => stepWith(target, [other], 2)).toThrow(/the state set for .* has \[3, 2\]/);
    expect(await snapshot(target, [other])).toEqual(before);
  });

  it('takes tf.train.momentum weights into sgd() and continues on the same trajectory', async () => {
    const [a, b] = variableSet(40);
    const theirs = tf.train.momentum(0.05, 0.9);
    for (let step = 1; step <= 5; step++) {
      const grads = gradientsFor([a!, b!], step);
      theirs.applyGradients(grads as tf.NamedTensorMap as never);
      tf.dispose(Object.values(grads));
    }
    const ours = track(sgd({ learningRate: 0.05, momentum: 0.9 }));
    const weights = await theirs.getWeights();
    expect(weights.map((w) => w.name.split('/').pop())).toEqual(['iter', 'momentum', 'momentum']);
    await ours.setWeights(weights);
    const start = [a!, b!].map((v) => v.dataSync().slice());
    for (let step = 6; step <= 10; step++) stepWith(ours, [a!, b!], step);
    const got = [a!, b!].map((v) => Array.from(v.dataSync()));
    restore([a!, b!], start);
    for (let step = 6; step <= 10; step++) {
      const grads = gradientsFor([a!, b!], step);
      theirs.applyGradients(grads as tf.NamedTensorMap as never);
      tf.dispose(Object.values(grads));
    }
    expect(got).toEqual([a!, b!].map((v) => Array.from(v.dataSync())));
    theirs.dispose();
  });

  it('takes tf.train.adam weights into adam() (same rule; tfjs forms its bias corrections in f32)', async () => {
    const [a] = variableSet(50);
    const theirs = tf.train.adam(0.01, 0.9, 0.999, 1e-8);
    for (let step = 1; step <= 5; step++) {
      const grads = gradientsFor([a!], step);
      theirs.applyGradients(grads as tf.NamedTensorMap as never);
      tf.dispose(Object.values(grads));
    }
    const ours = track(adam({ learningRate: 0.01 }));
    await ours.setWeights(await theirs.getWeights());
    const start = a!.dataSync().slice();
    for (let step = 6; step <= 10; step++) stepWith(ours, [a!], step);
    const got = a!.dataSync().slice();
    tf.tidy(() => a!.assign(tf.tensor(Array.from(start), a!.shape)));
    for (let step = 6; step <= 10; step++) {
      const grads = gradientsFor([a!], step);
      theirs.applyGradients(grads as tf.NamedTensorMap as never);
      tf.dispose(Object.values(grads));
    }
    a!.dataSync().forEach((expected, i) => {
      expect(got[i]).toBeCloseTo(expected, 5);
    });
    theirs.dispose();
  });
});

describe('getConfig / fromConfig', () => {
  const cases: [string, () => WebGPURadamTfjsOptimizer, string][] = [
    [
      'RAdam',
      () => radam({ preset: 'optax', learningRate: 0.02, beta2: 0.99, weightDecay: 0.1 }),
      'WebGPURadam.RAdam',
    ],
    ['AdamW', () => adamw({ learningRate: 0.003, epsilon: 1e-6, maximize: true }), 'WebGPURadam.AdamW'],
    ['Adam', () => adam({ beta1: 0.8, weightDecay: 0.01 }), 'WebGPURadam.Adam'],
    [
      'SGD',
      () => sgd({ learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }),
      'WebGPURadam.SGD',
    ],
  ];
  it.each(cases)(
    '%s: registered class, JSON config round trip, identical steps',
    async (_, create, className) => {
      const optimizer = track(create());
      expect(optimizer.getClassName()).toBe(className);
      const [cls, fromConfig] = tf.serialization.SerializationMap.getMap().classNameMap[className]!;
      const config = JSON.parse(JSON.stringify(optimizer.getConfig())) as tf.serialization.ConfigDict;
      const restored = track(fromConfig(cls, config) as WebGPURadamTfjsOptimizer);
      expect(restored).toBeInstanceOf(optimizer.constructor);
      expect(restored.getConfig()).toEqual(optimizer.getConfig());
      const first = variableSet(60);
      const second = variableSet(60);
      for (let step = 1; step <= 8; step++) {
        stepWith(optimizer, first, step);
        stepWith(restored, second, step);
      }
      expect((await snapshot(restored, second)).params).toEqual((await snapshot(optimizer, first)).params);
    },
  );

  it('the RAdam config writes the preset out, so fromConfig needs no defaults', () => {
    expect(radam({ preset: 'tfa' }).getConfig()).toEqual({
      preset: 'tfa',
      learningRate: 1e-3,
      beta1: 0.9,
      beta2: 0.999,
      epsilon: 1e-7,
      weightDecay: 0,
      decoupledWeightDecay: true,
      maximize: false,
      threshold: 5,
      thresholdComparison: '>=',
      epsMode: 'corrected',
      degeneratedToSgd: true,
      fused: true,
    });
    expect([AdamOptimizer, AdamWOptimizer, SGDOptimizer, RAdamOptimizer].map((c) => c.className)).toEqual([
      'WebGPURadam.Adam',
      'WebGPURadam.AdamW',
      'WebGPURadam.SGD',
      'WebGPURadam.RAdam',
    ]);
  });
});

describe("the package's state format (stateDict / loadStateDict)", () => {
  it('round-trips through serializeState and continues bit-identically', async () => {
    const vars = variableSet(70);
    const optimizer = track(radam({ learningRate: 0.01 }));
    for (let step = 1; step <= 6; step++) stepWith(optimizer, step === 2 ? [vars[0]!] : vars, step);
    const state = await optimizer.stateDict();
    expect(state.header.optimizer).toBe('RAdam');
    expect(state.header.step).toBe(6);
    expect(state.header.paramGroups).toEqual([{ lr: 0.01, params: [0, 1] }]);
    expect(state.header.tensors.map((t) => [t.name, t.length, t.step])).toEqual([
      [vars[0]!.name, 6, 6],
      [vars[1]!.name, 5, 5],
    ]);
    const start = vars.map((v) => v.dataSync().slice());
    for (let step = 7; step <= 10; step++) stepWith(optimizer, vars, step);
    const expected = await snapshot(optimizer, vars);

    restore(vars, start);
    const resumed = track(radam({ learningRate: 0.5 }));
    resumed.loadStateDict(deserializeState(serializeState(state)));
    expect(resumed.learningRate).toBe(0.01);
    for (let step = 7; step <= 10; step++) stepWith(resumed, vars, step);
    expect(await snapshot(resumed, vars)).toEqual(expected);
  });

  it('loads onto other variables given in order, and agrees with toTfjsWeights + setWeights', async () => {
    const vars = variableSet(80);
    const optimizer = track(sgd({ learningRate: 0.01, momentum: 0.9 }));
    for (let step = 1; step <= 4; step++) stepWith(optimizer, vars, step);
    const state = await optimizer.stateDict();
    expect(state.header.tensors.every((t) => t.exp_avg_sq === undefined)).toBe(true);
    const byState = vars.map((v) => track(makeVariable(uniqueName('s'), v.dataSync(), v.shape)));
    const byWeights = vars.map((v) => track(makeVariable(uniqueName('w'), v.dataSync(), v.shape)));
    const loaded = track(sgd({ learningRate: 0.01, momentum: 0.9 }));
    loaded.loadStateDict(state, byState);
    const weighted = track(sgd({ learningRate: 0.01, momentum: 0.9 }));
    const weights = toTfjsWeights(state).map((w, i) => ({
      name: w.name,
      tensor:
        i === 0 ? tf.scalar(w.values[0]!, 'int32') : tf.tensor(Array.from(w.values), vars[i - 1]!.shape),
    }));
    await weighted.setWeights(weights);
    tf.dispose(weights.map((w) => w.tensor));
    for (let step = 5; step <= 8; step++) {
      stepWith(optimizer, vars, step);
      for (const [target, copies] of [
        [loaded, byState],
        [weighted, byWeights],
      ] as const) {
        const grads = gradientsFor(vars, step);
        target.applyGradients(copies.map((v, i) => ({ name: v.name, tensor: grads[vars[i]!.name]! })));
        tf.dispose(Object.values(grads));
      }
    }
    const expected = (await snapshot(optimizer, vars)).params;
    expect((await snapshot(loaded, byState)).params).toEqual(expected);
    expect((await snapshot(weighted, byWeights)).params).toEqual(expected);
  });

  it('rejects a state that does not fit, with nothing changed', async () => {
    const vars = variableSet(90);
    const optimizer = track(radam());
    stepWith(optimizer, vars, 1);
    const good = await optimizer.stateDict();
    const before = await snapshot(optimizer, vars);
    const variants: [string, () => unknown, RegExp][] = [
      ['version', () => ({ ...good, header: { ...good.header, version: 99 } }), /version 99/],
      ['format', () => ({ ...good, header: { ...good.header, format: 'x' } }), /format/],
      ['no payload', () => ({ header: good.header }), /Float32Array/],
      [
        'length',
        () => ({
          ...good,
          header: {
            ...good.header,
            tensors: [{ ...good.header.tensors[0]!, length: 5 }, good.header.tensors[1]],
          },
        }),
        /has 5 elements/,
      ],
      [
        'no second moment',
        () => ({
          ...good,
          header: { ...good.header, tensors: good.header.tensors.map(({ exp_avg_sq: _, ...t }) => t) },
        }),
        /lacks exp_avg_sq/,
      ],
      ['payload bounds', () => ({ ...good, payload: good.payload.slice(0, 10) }), /outside the payload/],
      [
        'unknown variable',
        () => ({
          ...good,
          header: {
            ...good.header,
            tensors: [{ ...good.header.tensors[0]!, name: 'nope' }, good.header.tensors[1]],
          },
        }),
        /names no registered tfjs variable/,
      ],
      ['step', () => ({ ...good, header: { ...good.header, step: -1 } }), /step -1/],
      [
        'a null tensor entry',
        () => ({ ...good, header: { ...good.header, tensors: [null, good.header.tensors[1]] } }),
        /tensors\[0\] is null/,
      ],
      [
        'two learning rates',
        () => ({
          ...good,
          header: {
            ...good.header,
            paramGroups: [
              { lr: 1, params: [0] },
              { lr: 2, params: [1] },
            ],
          },
        }),
        /different learning rates/,
      ],
    ];
    for (const [label, make, message] of variants) {
      expect(() => optimizer.loadStateDict(make() as never), label).toThrow(OptimizerStateError);
      expect(() => optimizer.loadStateDict(make() as never), label).toThrow(message);
    }
    expect(() => sgd().loadStateDict(good)).toThrow(/has exp_avg_sq, which SGD does not keep/);
    expect(await snapshot(optimizer, vars)).toEqual(before);
  });
});

describe('learning rate, dispose', () => {
  it('learningRate can change between steps (validated) and stateDict carries it', async () => {
    const first = variableSet(100);
    const second = variableSet(100);
    const changed = track(radam({ learningRate: 1e-3 }));
    for (let step = 1; step <= 3; step++) stepWith(changed, first, step);
    const midway = await changed.stateDict();
    changed.learningRate = 0.05;
    const error = thrownBy(() => {
      changed.learningRate = -1;
    });
    expect([error.name, error.field]).toEqual(['OptimizerConfigError', 'learningRate']);
    expect(changed.learningRate).toBe(0.05);
    const direct = track(radam({ learningRate: 0.05 }));
    direct.loadStateDict(
      { ...midway, header: { ...midway.header, paramGroups: [{ lr: 0.05, params: [0, 1] }] } },
      second,
    );
    restore(
      second,
      first.map((v) => v.dataSync()),
    );
    for (let step = 4; step <= 9; step++) {
      stepWith(changed, first, step);
      const grads = gradientsFor(first, step);
      direct.applyGradients(second.map((v, i) => ({ name: v.name, tensor: grads[first[i]!.name]! })));
      tf.dispose(Object.values(grads));
    }
    expect(changed.lastStep).toMatchObject({ step: 9, lr: 0.05, branch: 'adaptive' });
    expect((await snapshot(direct, second)).params).toEqual((await snapshot(changed, first)).params);
  });

  it('dispose frees every tensor it made, is idempotent, and later use throws a typed error', async () => {
    const baseline = tf.memory().numTensors;
    const vars = variableSet(110);
    const withVariables = tf.memory().numTensors;
    for (const optimizer of [radam(), adamw(), adam(), sgd({ momentum: 0.9 })]) {
      stepWith(optimizer, vars, 1);
      const afterOneStep = tf.memory().numTensors;
      for (let step = 2; step <= 25; step++) stepWith(optimizer, vars, step);
      expect(tf.memory().numTensors, 'no growth per step').toBe(afterOneStep);
      const weights = await optimizer.getWeights();
      tf.dispose(weights.filter((w) => w.tensor.dtype === 'int32').map((w) => w.tensor));
      optimizer.loadStateDict(await optimizer.stateDict());
      const copies = await copyWeights(optimizer);
      await optimizer.setWeights(copies);
      tf.dispose(copies.map((w) => w.tensor));
      expect(tf.memory().numTensors).toBeGreaterThan(withVariables);
      optimizer.dispose();
      optimizer.dispose();
      expect(tf.memory().numTensors, `${optimizer.algorithm} left tensors behind`).toBe(withVariables);
      expect(() => stepWith(optimizer, vars, 26)).toThrow(OptimizerStateError);
      await expect(optimizer.getWeights()).rejects.toThrow(/disposed/);
      await expect(optimizer.stateDict()).rejects.toThrow(OptimizerStateError);
    }
    for (const v of live.splice(0)) v.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });
});

describe('switching backends mid-training', () => {
  it('a second backend continues the same trajectory (state moves with the variables)', async () => {
    // A copy of the cpu backend under another name: tfjs moves every tensor's data across on first use.
    if (!tf.findBackend('cpu-copy')) {
      const CpuBackend = tf.findBackend('cpu')!.constructor as new () => tf.KernelBackend;
      tf.registerBackend('cpu-copy', () => new CpuBackend());
      for (const kernel of tf.getKernelsForBackend('cpu'))
        tf.registerKernel({ ...kernel, backendName: 'cpu-copy' });
    }
    const moving = variableSet(120);
    const staying = variableSet(120);
    const movingOptimizer = track(radam({ learningRate: 0.01 }));
    const stayingOptimizer = track(radam({ learningRate: 0.01 }));
    for (let step = 1; step <= 10; step++) {
      await tf.setBackend(step > 5 ? 'cpu-copy' : 'cpu');
      stepWith(movingOptimizer, moving, step);
      expect([tf.getBackend(), movingOptimizer.stepperName]).toEqual([step > 5 ? 'cpu-copy' : 'cpu', 'ops']);
      await tf.setBackend('cpu');
      stepWith(stayingOptimizer, staying, step);
    }
    await tf.setBackend('cpu');
    expect((await snapshot(movingOptimizer, moving)).params).toEqual(
      (await snapshot(stayingOptimizer, staying)).params,
    );
  });
});
