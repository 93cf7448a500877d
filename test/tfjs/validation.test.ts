// Bad options and bad applyGradients arguments: a typed error naming the option (in tfjs naming) and its
// range, thrown before anything changes.
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  adam,
  adamw,
  OptimizerConfigError,
  OptimizerStateError,
  radam,
  sgd,
  WebGPURadamError,
} from '../../src/tfjs/index';
import { makeVariable, randomValues, snapshot, stepWith, thrownBy, uniqueName } from './helpers';

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

describe('options', () => {
  const cases: [string, () => unknown, string, RegExp][] = [
    [
      'negative learningRate',
      () => radam({ learningRate: -1 }),
      'learningRate',
      /Invalid learningRate: -1 .*>= 0/,
    ],
    ['learningRate past f32', () => adam({ learningRate: 1e39 }), 'learningRate', /largest f32/],
    ['beta1 = 1', () => radam({ beta1: 1 }), 'beta1', /Invalid beta1: 1 \(expected 0 <= beta1 < 1\)/],
    ['beta2 NaN', () => adamw({ beta2: Number.NaN }), 'beta2', /Invalid beta2: NaN/],
    ['beta1 null', () => sgd({ momentum: null as unknown as number }), 'momentum', /Invalid momentum: null/],
    ['beta2 null', () => radam({ beta2: null as unknown as number }), 'beta2', /Invalid beta2: null/],
    ['negative epsilon', () => radam({ epsilon: -1e-8 }), 'epsilon', /Invalid epsilon: -1e-8/],
    ['weightDecay past f32', () => radam({ weightDecay: 1e39 }), 'weightDecay', /Invalid weightDecay/],
    [
      'lr * weightDecay past f32',
      () => radam({ learningRate: 1e38, weightDecay: 10, decoupledWeightDecay: true }),
      'learningRate',
      /learningRate \* weightDecay/,
    ],
    ['unknown preset', () => radam({ preset: 'keras' as never }), 'preset', /expected one of "torch"/],
    ['threshold < 4', () => radam({ threshold: 3 }), 'threshold', /expected a finite number >= 4/],
    ['thresholdComparison', () => radam({ thresholdComparison: '<' as never }), 'thresholdComparison', /">"/],
    ['maximize not boolean', () => adamw({ maximize: 1 as never }), 'maximize', /expected true or false/],
    ['nesterov without momentum', () => sgd({ nesterov: true }), 'nesterov', /needs momentum > 0/],
    ['negative momentum', () => sgd({ momentum: -0.9 }), 'momentum', /Invalid momentum/],
    ['torch name lr', () => radam({ lr: 0.1 } as never), 'lr', /this is the tfjs API: use learningRate/],
    ['torch name eps', () => adam({ eps: 1e-8 } as never), 'eps', /use epsilon/],
    ['torch name betas', () => adamw({ betas: [0.9, 0.99] } as never), 'betas', /use beta1 and beta2/],
    ['a typo', () => radam({ learningrate: 0.1 } as never), 'learningrate', /did you mean "learningRate"/],
    ['SGD has no beta1', () => sgd({ beta1: 0.9 } as never), 'beta1', /Unknown SGD option/],
    ['not an object', () => radam('fast' as never), 'options', /expected an object/],
    [
      'a throwing getter',
      () =>
        radam({
          get learningRate(): number {
            throw new Error('boom');
          },
        }),
      'options.learningRate',
      /reading it threw \(boom\)/,
    ],
  ];
  it.each(cases)('%s', (_, create, field, message) => {
    const error = thrownBy(create);
    expect(error).toBeInstanceOf(OptimizerConfigError);
    expect(error).toBeInstanceOf(WebGPURadamError);
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
  });

  it('undefined means "not given"; the defaults are the core\'s', () => {
    const optimizer = track(radam({ learningRate: undefined, beta1: 0.8, epsilon: undefined }));
    expect(optimizer.getConfig()).toMatchObject({
      learningRate: 1e-3,
      beta1: 0.8,
      beta2: 0.999,
      epsilon: 1e-8,
    });
    expect(track(adamw()).getConfig()).toMatchObject({ weightDecay: 1e-2 });
  });
});

describe('applyGradients arguments', () => {
  it('rejects each bad argument with a typed error naming it, and changes nothing', async () => {
    const a = track(makeVariable(uniqueName('a'), randomValues(1, 4)));
    const ints = track(tf.variable(tf.tensor1d([1, 2], 'int32'), true, uniqueName('ints')));
    const disposed = tf.tensor1d([1, 2, 3, 4]);
    disposed.dispose();
    const optimizer = track(radam());
    stepWith(optimizer, [a], 1);
    const good = tf.tensor1d([0.1, 0.2, 0.3, 0.4]);
    const wrongShape = tf.tensor2d([[1, 2, 3, 4]]);
    const intGrad = tf.tensor1d([1, 2, 3, 4], 'int32');
    const cases: [string, unknown, string, RegExp][] = [
      ['not a map or array', 42, 'variableGradients', /expected \{ \[variableName\]: Tensor \}/],
      ['null', null, 'variableGradients', /null/],
      [
        'unknown variable',
        { [a.name]: good, nope: good },
        'variableGradients["nope"]',
        /no variable of that name/,
      ],
      [
        'gradient shape',
        [{ name: a.name, tensor: wrongShape }],
        `variableGradients["${a.name}"]`,
        /shape \[1, 4\], the variable \[4\]/,
      ],
      [
        'int32 gradient',
        { [a.name]: intGrad },
        `variableGradients["${a.name}"]`,
        /int32 \(expected float32\)/,
      ],
      ['disposed gradient', { [a.name]: disposed }, `variableGradients["${a.name}"]`, /disposed/],
      ['numbers', { [a.name]: [1, 2, 3, 4] }, `variableGradients["${a.name}"]`, /not a tfjs Tensor/],
      [
        'named twice',
        [
          { name: a.name, tensor: good },
          { name: a.name, tensor: good },
        ],
        `variableGradients["${a.name}"]`,
        /named twice/,
      ],
      [
        'entry without a name',
        [{ tensor: good }],
        'variableGradients[0]',
        /expected \{ name: string, tensor: Tensor \}/,
      ],
      [
        'int32 variable',
        { [a.name]: good, [ints.name]: tf.tensor1d([1, 2]) },
        `variableGradients["${ints.name}"]`,
        /variable is int32/,
      ],
    ];
    for (const [label, argument, field, message] of cases) {
      const before = await snapshot(optimizer, [a]);
      const error = thrownBy(() => optimizer.applyGradients(argument as never));
      expect(error, label).toBeInstanceOf(OptimizerConfigError);
      expect(error.field, label).toBe(field);
      expect(error.message, label).toMatch(message);
      expect(await snapshot(optimizer, [a]), label).toEqual(before);
    }
    tf.dispose([good, wrongShape, intGrad]);
  });

  it('used after dispose: a typed error from every method', async () => {
    const optimizer = radam();
    optimizer.dispose();
    expect(() => optimizer.applyGradients({})).toThrow(OptimizerStateError);
    expect(() => optimizer.resetState()).toThrow(OptimizerStateError);
    expect(() => {
      optimizer.learningRate = 0.1;
    }).toThrow(/disposed/);
    await expect(optimizer.setWeights([])).rejects.toThrow(OptimizerStateError);
  });

  it('setWeights rejects malformed weights before replacing anything', async () => {
    const a = track(makeVariable(uniqueName('a'), randomValues(2, 3)));
    const optimizer = track(radam());
    stepWith(optimizer, [a], 1);
    const before = await snapshot(optimizer, [a]);
    const iter = tf.scalar(1, 'int32');
    const m = tf.zeros([3]);
    const cases: [string, unknown, RegExp][] = [
      ['empty', [], /expected \[iterations/],
      ['not an array', 'x', /expected \[iterations/],
      ['fractional iterations', [{ name: 'iter', tensor: tf.scalar(1.5) }], /integer/],
      [
        'no second moment',
        [
          { name: 'iter', tensor: iter },
          { name: 'x/m', tensor: m },
        ],
        /no second moment/,
      ],
      [
        'unknown kind',
        [
          { name: 'iter', tensor: iter },
          { name: 'x/velocity', tensor: m },
        ],
        /expects "<variable>\/m"/,
      ],
      [
        'no variable part',
        [
          { name: 'iter', tensor: iter },
          { name: 'm', tensor: m },
        ],
        /expects/,
      ],
      [
        'shapes differ',
        [
          { name: 'iter', tensor: iter },
          { name: 'x/m', tensor: m },
          { name: 'x/v', tensor: tf.zeros([2]) },
        ],
        /x\/m has shape \[3\] but x\/v has \[2\]/,
      ],
      ['not a tensor', [{ name: 'iter', tensor: 1 }], /not a live tensor/],
    ];
    for (const [label, weights, message] of cases) {
      await expect(optimizer.setWeights(weights as never), label).rejects.toThrow(OptimizerStateError);
      await expect(optimizer.setWeights(weights as never), label).rejects.toThrow(message);
    }
    expect(await snapshot(optimizer, [a])).toEqual(before);
    tf.dispose([iter, m]);
  });

  it('resetState takes variable names only', () => {
    const optimizer = track(sgd());
    const error = thrownBy(() => optimizer.resetState('a' as never));
    expect([error.name, error.field]).toEqual(['OptimizerConfigError', 'variableNames']);
  });
});
