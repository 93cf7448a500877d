// Issue 11 (items 2, 3, 4, 9, 10, 15) and issue 12 (item 8): inputs an outside attack got through. Every row
// expects a typed error and then reads everything back unchanged, as the tables in hardening.test.ts do.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BufferBindingError,
  createAdam,
  createAdamW,
  createParameterArena,
  createRAdam,
  createRanger,
  createSGD,
  type FusedOptimizer,
  OptimizerConfigError,
  OptimizerStateError,
  type ParamSpec,
  WebGPURadamError,
} from '../src/index';
import { optionNames } from '../src/option-table';
import { ADAM_OPTIONS, ADAMW_OPTIONS, RADAM_OPTIONS, RANGER_OPTIONS, SGD_OPTIONS } from '../src/options';
import { EXECUTION_OPTIONS, TRAINING_OPTIONS } from '../src/training-options';
import { readF32, STORAGE_RW, uploadF32 } from './helpers/buffers';
import { type PackedModel, packedModel, readMoments } from './helpers/model';
import { requestTestDevice } from './helpers/webgpu-node';

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

type ErrorClass = new (...args: never[]) => Error;

async function snapshot(model: PackedModel, optimizer: FusedOptimizer) {
  const params = await model.readParams();
  const moments = await Promise.all(model.lengths.map((_, i) => readMoments(device, optimizer, i)));
  const stats = await optimizer.readGradStats();
  const state = await optimizer.stateDict();
  return JSON.stringify({
    params: params.map((p) => Array.from(p)),
    moments: moments.map((m) => [Array.from(m.m), Array.from(m.v)]),
    counts: Array.from(stats.stepCounts),
    step: optimizer.stepCount,
    lastStep: optimizer.lastStep,
    lr: optimizer.lr,
    gradScale: optimizer.gradScale,
    groups: optimizer.paramGroups.map((g) => ({
      lr: g.lr,
      tensors: [...g.tensors],
      hp: { ...g.hyperParameters },
    })),
    active: model.lengths.map((_, i) => optimizer.isActive(i)),
    header: state.header,
  });
}

/** Runs `attempt`, which must throw (or reject with) `type` matching `message`, and leave `param` as it was. */
async function expectRejected(
  param: GPUBuffer,
  label: string,
  attempt: () => unknown,
  type: ErrorClass,
  message: RegExp,
): Promise<void> {
  const before = Array.from(await readF32(device, param));
  let caught: unknown;
  try {
    const result = await attempt();
    (result as FusedOptimizer | undefined)?.destroy?.();
  } catch (error) {
    caught = error;
  }
  expect(caught, label).toBeInstanceOf(type);
  expect(caught, label).toBeInstanceOf(WebGPURadamError);
  expect((caught as Error).message, label).toMatch(message);
  expect(Array.from(await readF32(device, param)), label).toEqual(before);
}

describe('creation rejects what it cannot run exactly, before allocating anything', () => {
  it('item 2: a param range overlapping a grad range that is not its neighbour in sorted order', async () => {
    const x = device.createBuffer({ size: 1024, usage: STORAGE_RW, label: 'X' });
    const y = device.createBuffer({ size: 2048, usage: STORAGE_RW, label: 'Y' });
    const gi = device.createBuffer({ size: 64, usage: STORAGE_RW, label: 'Gi' });
    const wideGrad = device.createBuffer({ size: 2048, usage: STORAGE_RW, label: 'G' });
    device.queue.writeBuffer(
      y,
      0,
      Float32Array.from({ length: 512 }, (_, i) => i),
    );
    const cases: [string, ParamSpec[], RegExp][] = [
      [
        'the issue’s X/Y/Gi layout',
        [
          { param: y, grad: x, length: 250, name: 'first' },
          { param: y, grad: x, length: 5, paramOffset: 1024, gradOffset: 40, name: 'second' },
          { param: x, grad: gi, length: 5, paramOffset: 100, name: 'third' },
        ],
        /third: param range \[100, 120\) overlaps the grad range \[0, 1000\) of first/,
      ],
      [
        'the written range first, two reads inside it',
        [
          { param: x, grad: gi, length: 5, paramOffset: 100, name: 'writer' },
          { param: y, grad: x, length: 250, name: 'wide' },
          { param: y, grad: x, length: 2, paramOffset: 1024, gradOffset: 4, name: 'narrow' },
        ],
        /(writer|wide): (param|grad) range .* overlaps the (grad|param) range .* of (wide|writer)/,
      ],
      [
        'a param nested in another param three ranges earlier',
        [
          { param: y, grad: wideGrad, length: 400, name: 'big' },
          { param: x, grad: gi, length: 1, paramOffset: 800, name: 'a' },
          { param: x, grad: gi, length: 1, paramOffset: 900, name: 'b' },
          { param: y, grad: gi, length: 1, paramOffset: 1200, name: 'c' },
          { param: y, grad: gi, length: 1, paramOffset: 1000, name: 'd' },
        ],
        /d: param range \[1000, 1004\) overlaps the param range \[0, 1600\) of big/,
      ],
    ];
    for (const [label, specs, message] of cases) {
      await expectRejected(y, label, () => createRAdam(device, specs), BufferBindingError, message);
    }
    // Reads may share memory: two grads over the same bytes are fine.
    const shared = await createRAdam(device, [
      { param: y, grad: x, length: 250 },
      { param: y, grad: x, length: 5, paramOffset: 1024, gradOffset: 40 },
    ]);
    shared.destroy();
    for (const b of [x, y, gi, wideGrad]) b.destroy();
  });

  it('item 3: unknown keys in a spec, a param group, the options or the execution options, with the nearest name', async () => {
    const param = uploadF32(
      device,
      Float32Array.from({ length: 64 }, (_, i) => i / 7),
    );
    const grad = uploadF32(device, new Float32Array(64).fill(0.25));
    const spec = { param, grad, length: 4 };
    const cases: [string, () => Promise<FusedOptimizer>, RegExp][] = [
      [
        'offset',
        () => createRAdam(device, [{ ...spec, offset: 128 } as ParamSpec]),
        /params\[0\]: unknown parameter spec key "offset"; did you mean "paramOffset"\?/,
      ],
      [
        'paramoffset',
        () => createRAdam(device, [{ ...spec, paramoffset: 128 } as ParamSpec]),
        /unknown parameter spec key "paramoffset"; did you mean "paramOffset"\?/,
      ],
      [
        'byteOffset',
        () => createRAdam(device, [{ ...spec, byteOffset: 128 } as ParamSpec]),
        /"byteOffset"; did you mean "paramOffset"\?/,
      ],
      [
        'gradOffest',
        () => createAdam(device, [{ ...spec, gradOffest: 16 } as ParamSpec]),
        /"gradOffest"; did you mean "gradOffset"\?/,
      ],
      [
        'size in the second spec',
        () => createSGD(device, [spec, { ...spec, paramOffset: 64, size: 4 } as ParamSpec]),
        /params\[1\]: unknown parameter spec key "size"; did you mean "length"\?/,
      ],
      [
        'a group key',
        () => createRAdam(device, [{ params: [spec], learningRate: 0.1 } as never]),
        /paramGroups\[0\]: unknown param group key "learningRate"; did you mean "lr"\?/,
      ],
      [
        'a misspelt group key',
        () => createAdamW(device, [{ params: [spec], weight_decay: 0.1 } as never]),
        /paramGroups\[0\]: unknown param group key "weight_decay"; did you mean "weightDecay"\?/,
      ],
      [
        'an optimizer-wide option in a group',
        () => createRAdam(device, [{ params: [spec], gradScale: 2 } as never]),
        /gradScale applies to the whole optimizer: pass it in the options, not in a param group/,
      ],
      [
        'params instead of param in a spec',
        () => createRAdam(device, [{ params: param, grad, length: 4 }] as never),
        /paramGroups\[0\]: unknown param group key "grad".*its buffer key is "param"/,
      ],
      [
        'a spec in a list of groups',
        () => createRAdam(device, [{ params: [spec] }, spec] as never),
        /Invalid paramGroups\[1\].*expected a param group/,
      ],
      [
        'an option',
        () => createRAdam(device, [spec], { clipNorm: 1 } as never),
        /Unknown RAdam option "clipNorm"; did you mean "maxGradNorm"\?/,
      ],
      [
        'an option with its case wrong',
        () => createSGD(device, [spec], { Momentum: 0.9 } as never),
        /Unknown SGD option "Momentum"; did you mean "momentum"\?/,
      ],
      [
        'an execution option',
        () => createRAdam(device, [spec], {}, { workgroupsize: 64 } as never),
        /execution: unknown option "workgroupsize"; did you mean "workgroupSize"\?/,
      ],
      [
        'an execution option, misspelt',
        () => createRAdam(device, [spec], {}, { maxPendingStep: 4 } as never),
        /did you mean "maxPendingSteps"\?/,
      ],
      [
        'execution options that are not an object',
        () => createRAdam(device, [spec], {}, null as never),
        /Invalid execution: null \(expected an object\)/,
      ],
      [
        'an execution knob of the wrong type',
        () => createRAdam(device, [spec], {}, { vectorize: 'no' } as never),
        /Invalid vectorize: "no" \(expected true or false\)/,
      ],
      [
        'a Symbol workgroup size',
        () => createRAdam(device, [spec], {}, { workgroupSize: Symbol('wg') } as never),
        /Invalid workgroupSize: Symbol\(wg\) \(expected an integer\)/,
      ],
    ];
    // Every name of every option table, shouted: the nearest-name hint must find each of them, at the top level,
    // in a param group (optimizer-wide ones are pointed out of it) and among the execution options.
    const escaped = (name: string) => name.replace(/[[\]]/g, '\\$&');
    type Create = (params: never, options?: object) => Promise<FusedOptimizer>;
    const tables: [string, Create, readonly string[]][] = [
      ['RAdam', (p, o) => createRAdam(device, p, o), optionNames(RADAM_OPTIONS)],
      ['Adam', (p, o) => createAdam(device, p, o), optionNames(ADAM_OPTIONS)],
      ['AdamW', (p, o) => createAdamW(device, p, o), optionNames(ADAMW_OPTIONS)],
      ['SGD', (p, o) => createSGD(device, p, o), optionNames(SGD_OPTIONS)],
      ['Ranger', (p, o) => createRanger(device, p, o), optionNames(RANGER_OPTIONS)],
    ];
    for (const [algorithm, create, names] of tables) {
      for (const name of [...names, ...optionNames(TRAINING_OPTIONS)]) {
        const shouted = name.toUpperCase();
        cases.push([
          `${algorithm} ${shouted}`,
          () => create([spec] as never, { [shouted]: 1 }),
          new RegExp(`Unknown ${algorithm} option "${shouted}"; did you mean "${escaped(name)}"\\?`),
        ]);
      }
      for (const name of names) {
        cases.push([
          `${algorithm} group ${name.toUpperCase()}`,
          () => create([{ params: [spec], [name.toUpperCase()]: 1 }] as never),
          new RegExp(
            `paramGroups\\[0\\]: unknown param group key "${name.toUpperCase()}"; did you mean "${name}"`,
          ),
        ]);
      }
    }
    for (const name of optionNames(TRAINING_OPTIONS)) {
      cases.push([
        `${name} in a group`,
        () => createRAdam(device, [{ params: [spec], [name]: 1 }] as never),
        new RegExp(`${name} applies to the whole optimizer`),
      ]);
    }
    for (const name of optionNames(EXECUTION_OPTIONS)) {
      cases.push([
        `execution ${name.toUpperCase()}`,
        () => createRAdam(device, [spec], {}, { [name.toUpperCase()]: 1 } as never),
        new RegExp(`execution: unknown option "${name.toUpperCase()}"; did you mean "${name}"\\?`),
      ]);
    }
    for (const [label, attempt, message] of cases) {
      await expectRejected(param, label, attempt, OptimizerConfigError, message);
    }
    param.destroy();
    grad.destroy();
  });

  it('item 4: values finite in float64 but not in f32, and host products that overflow f32', async () => {
    const param = uploadF32(device, [1, 2, 3, 4]);
    const grad = uploadF32(device, [0.5, -0.5, 0.25, 1]);
    const specs = [{ param, grad, length: 4 }];
    const f32Range = /at most 3\.4028235e38, the largest f32/;
    const cases: [string, () => Promise<FusedOptimizer>, RegExp][] = [
      ['RAdam lr 1e39', () => createRAdam(device, specs, { lr: 1e39 }), f32Range],
      ['Adam lr 1e39', () => createAdam(device, specs, { lr: 1e39 }), f32Range],
      ['SGD lr 3.5e38', () => createSGD(device, specs, { lr: 3.5e38 }), f32Range],
      ['weightDecay 1e39', () => createRAdam(device, specs, { weightDecay: 1e39 }), f32Range],
      ['AdamW weightDecay 1e39', () => createAdamW(device, specs, { weightDecay: 1e39 }), f32Range],
      ['eps 1e39', () => createAdam(device, specs, { eps: 1e39 }), f32Range],
      ['momentum 1e39', () => createSGD(device, specs, { momentum: 1e39 }), f32Range],
      ['dampening 1e39', () => createSGD(device, specs, { momentum: 0.9, dampening: 1e39 }), f32Range],
      [
        'group lr 1e39',
        () => createRAdam(device, [{ params: specs, lr: 1e39 }], { lr: 0.1 }),
        /paramGroups\[0\]: Invalid lr: 1e\+39/,
      ],
      [
        'AdamW lr × weightDecay beyond f32',
        () => createAdamW(device, specs, { lr: 1e20, weightDecay: 1e20 }),
        /lr \* weightDecay = 1\.0000000\d*e\+40 must be at most 3\.4028235e38/,
      ],
      [
        'decoupled RAdam lr × weightDecay beyond f32',
        () => createRAdam(device, specs, { lr: 1e30, weightDecay: 1e10, decoupledWeightDecay: true }),
        /lr \* weightDecay/,
      ],
      [
        'gradScale 1e-39 (1/gradScale is Infinity in f32)',
        () => createRAdam(device, specs, { gradScale: 1e-39 }),
        /2\^-126, 2\^126/,
      ],
      [
        'gradScale 1e38 (1/gradScale is subnormal)',
        () => createRAdam(device, specs, { gradScale: 1e38 }),
        /normal f32/,
      ],
      ['maxGradNorm 1e39', () => createRAdam(device, specs, { maxGradNorm: 1e39 }), /normal f32 range/],
      [
        'maxGradNorm 1e-40 (flushed to 0, clipping off)',
        () => createRAdam(device, specs, { maxGradNorm: 1e-40 }),
        /0, which turns clipping off/,
      ],
    ];
    for (const [label, attempt, message] of cases) {
      await expectRejected(param, label, attempt, OptimizerConfigError, message);
    }
    // The edges themselves are accepted: the largest f32 lr, and lr × weightDecay exactly at the largest f32.
    for (const optimizer of [
      await createRAdam(device, specs, { lr: 3.4028234663852886e38 }),
      await createAdamW(device, specs, { lr: 2 ** 64, weightDecay: 3.4028234663852886e38 / 2 ** 64 }),
      await createRAdam(device, specs, { gradScale: 2 ** 126, maxGradNorm: 2 ** -126 }),
    ]) {
      optimizer.destroy();
    }
    param.destroy();
    grad.destroy();
  });

  it('item 15 and issue 12 item 8: no device, or not a usable one, says how to get one', async () => {
    const param = uploadF32(device, [1, 2, 3, 4]);
    const grad = uploadF32(device, [0.5, -0.5, 0.25, 1]);
    const specs = [{ param, grad, length: 4 }];
    const howTo =
      /secure context.*navigator\.gpu\.requestAdapter\(\).*adapter\.requestDevice\(\).*npm i webgpu.*Object\.assign\(globalThis, globals\).*create\(\[\]\).*keep `gpu` referenced/s;
    const notDevices: unknown[] = [
      undefined,
      null,
      {},
      { limits: {} },
      'device',
      42,
      Symbol('device'),
      10n,
      [],
      () => device,
      { ...device, limits: device.limits },
      new Proxy(
        {},
        {
          get() {
            throw new Error('trap');
          },
        },
      ),
    ];
    for (const [index, bad] of notDevices.entries()) {
      for (const create of [createRAdam, createAdam, createAdamW, createSGD]) {
        await expectRejected(
          param,
          `${create.name}(notDevices[${index}])`,
          () => create(bad as GPUDevice, specs),
          OptimizerConfigError,
          howTo,
        );
      }
      await expectRejected(
        param,
        `createParameterArena(notDevices[${index}])`,
        () => createParameterArena(bad as GPUDevice, [{ length: 4 }]),
        OptimizerConfigError,
        howTo,
      );
    }
    await expectRejected(
      param,
      'undefined device names the caller',
      () => createRAdam(undefined as never, specs),
      OptimizerConfigError,
      /^createRAdam: no usable GPUDevice: got undefined instead of a GPUDevice/,
    );

    // Node without `Object.assign(globalThis, globals)`: the enums are missing, and the message says so.
    const saved = Reflect.get(globalThis, 'GPUBufferUsage');
    const beforeGlobals = Array.from(await readF32(device, param));
    Reflect.deleteProperty(globalThis, 'GPUBufferUsage');
    let caught: unknown;
    try {
      await createRAdam(device, specs);
    } catch (error) {
      caught = error;
    } finally {
      Reflect.set(globalThis, 'GPUBufferUsage', saved);
    }
    expect(caught).toBeInstanceOf(OptimizerConfigError);
    expect((caught as Error).message).toMatch(
      /WebGPU globals GPUBufferUsage are not defined.*Object\.assign\(globalThis, globals\)/,
    );
    expect(Array.from(await readF32(device, param))).toEqual(beforeGlobals);

    // A device that is already lost: creation fails instead of handing back an optimizer that cannot step.
    const lostDevice = await requestTestDevice();
    const lostParam = lostDevice.createBuffer({ size: 16, usage: STORAGE_RW });
    const lostGrad = lostDevice.createBuffer({ size: 16, usage: STORAGE_RW });
    lostDevice.destroy();
    for (const create of [createRAdam, createSGD]) {
      const attempt = create(lostDevice, [{ param: lostParam, grad: lostGrad, length: 4 }]);
      await expect(attempt).rejects.toThrow(OptimizerStateError);
      await expect(attempt).rejects.toThrow(/the GPUDevice is lost \(destroyed.*navigator\.gpu/s);
    }
    param.destroy();
    grad.destroy();
  });

  it('item 15: createParameterArena with a bad list or bad entries', async () => {
    const holey: unknown[] = [{ length: 4 }];
    holey[2] = { length: 4 };
    const cases: [string, unknown, unknown, RegExp][] = [
      ['null', null, undefined, /Invalid tensors: null \(expected an array/],
      ['undefined', undefined, undefined, /Invalid tensors: undefined/],
      ['a number', 3, undefined, /Invalid tensors: 3/],
      ['[null]', [null], undefined, /Invalid tensors\[0\]: null \(expected \{ length, name\? \}\)/],
      ['a hole', holey, undefined, /Invalid tensors\[1\]: undefined/],
      ['length -1', [{ length: -1 }], undefined, /Invalid tensors\[0\]\.length: -1/],
      ['length 1.5', [{ length: 1.5 }], undefined, /Invalid tensors\[0\]\.length: 1\.5/],
      ['length "4"', [{ length: '4' }], undefined, /Invalid tensors\[0\]\.length: "4"/],
      ['length 4n', [{ length: 4n }], undefined, /Invalid tensors\[0\]\.length: 4n/],
      ['length Symbol', [{ length: Symbol('n') }], undefined, /Invalid tensors\[0\]\.length: Symbol\(n\)/],
      ['length 2^53', [{ length: 2 ** 53 }], undefined, /Invalid tensors\[0\]\.length/],
      ['length over maxBufferSize', [{ length: 2 ** 40 }], undefined, /over this device's maxBufferSize/],
      ['name 5', [{ length: 4, name: 5 }], undefined, /Invalid tensors\[0\]\.name: 5 \(expected a string\)/],
      [
        'size instead of length',
        [{ size: 4 }],
        undefined,
        /tensors\[0\]: unknown key "size"; did you mean "length"\?/,
      ],
      ['options null', [{ length: 4 }], null, /Invalid options: null/],
      ['options label 5', [{ length: 4 }], { label: 5 }, /Invalid options\.label: 5/],
      ['options usage MAP_READ', [{ length: 4 }], { usage: 1 }, /Invalid options\.usage: 1/],
      ['options usage 2^40', [{ length: 4 }], { usage: 2 ** 40 }, /Invalid options\.usage/],
      ['options typo', [{ length: 4 }], { lable: 'x' }, /unknown option "lable"; did you mean "label"\?/],
      [
        'a throwing getter',
        [
          {
            get length(): number {
              throw new Error('boom');
            },
          },
        ],
        undefined,
        /Invalid tensors\[0\]\.length: reading it threw \(boom\)/,
      ],
    ];
    for (const [label, tensors, options, message] of cases) {
      let caught: unknown;
      try {
        createParameterArena(device, tensors as never, options as never)?.destroy();
      } catch (error) {
        caught = error;
      }
      expect(caught, label).toBeInstanceOf(OptimizerConfigError);
      expect((caught as Error).message, label).toMatch(message);
    }
  });
});

describe('item 9: an explicit undefined means "not given", as in torch', () => {
  it('a group with lr: undefined inherits the optimizer-level lr, and steps exactly like one given it', async () => {
    const a = packedModel(device, [33, 5], 7);
    const b = packedModel(device, [33, 5], 7);
    const inherited = await createRAdam(
      device,
      [{ params: a.specs, lr: undefined, weightDecay: undefined, betas: undefined }],
      { lr: 0.5, weightDecay: 0.125, betas: [0.8, 0.99] },
    );
    const explicit = await createRAdam(device, [
      { params: b.specs, lr: 0.5, weightDecay: 0.125, betas: [0.8, 0.99] },
    ]);
    expect(inherited.paramGroups[0]!.lr).toBe(0.5);
    expect(inherited.paramGroups[0]!.hyperParameters).toMatchObject({
      weightDecay: 0.125,
      beta1: 0.8,
      beta2: 0.99,
    });
    for (let t = 1; t <= 8; t++) {
      a.writeGradients(t);
      b.writeGradients(t);
      inherited.stepAndSubmit();
      explicit.stepAndSubmit();
    }
    expect((await a.readParams()).map((p) => Array.from(p))).toEqual(
      (await b.readParams()).map((p) => Array.from(p)),
    );
    // Top-level undefined values and undefined training options are "not given" too.
    const defaults = await createSGD(device, a.specs, {
      lr: undefined,
      momentum: undefined,
      gradScale: undefined,
    });
    expect(defaults.lr).toBe(1e-3);
    expect(defaults.gradScale).toBe(1);
    for (const o of [inherited, explicit, defaults]) o.destroy();
    a.destroy();
    b.destroy();
  });
});

describe('a live optimizer: items 4, 10 and 15', () => {
  it('rejects every bad write with a typed error and changes nothing', async () => {
    const model = packedModel(device, [33, 5, 9], 12);
    const optimizer = await createAdamW(
      device,
      [
        { params: model.specs.slice(0, 2), lr: 1e-2, weightDecay: 1e10 },
        { params: model.specs.slice(2), lr: 1e-3 },
      ],
      { skipNonFinite: true },
    );
    for (let t = 1; t <= 3; t++) {
      model.writeGradients(t);
      optimizer.stepAndSubmit();
    }
    const before = await snapshot(model, optimizer);
    const group = optimizer.paramGroups[0]!;
    const hp = group.hyperParameters as unknown as Record<string, unknown>;
    const tensors = group.tensors as number[];
    const groups = optimizer.paramGroups as unknown as unknown[];
    const C = OptimizerConfigError;
    const rows: [string, () => unknown, ErrorClass, RegExp][] = [
      // Item 4: f32 range, and lr × weightDecay (group 0 has weightDecay 1e10).
      ['lr = 1e39', () => Reflect.set(optimizer, 'lr', 1e39), C, /Invalid lr: 1e\+39.*largest f32/],
      [
        'lr = 1e30 (× weightDecay 1e10 overflows in group 0)',
        () => Reflect.set(optimizer, 'lr', 1e30),
        C,
        /lr \* weightDecay/,
      ],
      ['paramGroups[0].lr = 1e39', () => Reflect.set(group, 'lr', 1e39), C, /paramGroups\[0\]\.lr: 1e\+39/],
      [
        'paramGroups[0].lr = 1e30',
        () => Reflect.set(group, 'lr', 1e30),
        C,
        /paramGroups\[0\]\.lr.*lr \* weightDecay/,
      ],
      ['gradScale = 1e-39', () => Reflect.set(optimizer, 'gradScale', 1e-39), C, /Invalid gradScale: 1e-39/],
      ['gradScale = 2^127', () => Reflect.set(optimizer, 'gradScale', 2 ** 127), C, /Invalid gradScale/],
      ['gradScale = 0', () => Reflect.set(optimizer, 'gradScale', 0), C, /Invalid gradScale: 0/],
      ['gradScale = -0', () => Reflect.set(optimizer, 'gradScale', -0), C, /Invalid gradScale: -0/],
      ['lr = Symbol', () => Reflect.set(optimizer, 'lr', Symbol('lr')), C, /Invalid lr: Symbol\(lr\)/],
      ['lr = 1n', () => Reflect.set(optimizer, 'lr', 1n), C, /Invalid lr: 1n/],
      [
        'lr = a throwing object',
        () => Reflect.set(optimizer, 'lr', { valueOf: () => 0.1 }),
        C,
        /Invalid lr: an object/,
      ],
      // Item 10: the views read through; only lr can be written, and it is validated.
      [
        'hyperParameters.lr = NaN',
        () => (hp.lr = Number.NaN),
        C,
        /paramGroups\[0\]\.hyperParameters\.lr: NaN/,
      ],
      ['hyperParameters.lr = -1', () => (hp.lr = -1), C, /Invalid paramGroups\[0\]\.hyperParameters\.lr: -1/],
      [
        'hyperParameters.beta1 = 0.5',
        () => (hp.beta1 = 0.5),
        C,
        /paramGroups\[0\]\.hyperParameters\.beta1 cannot be assigned/,
      ],
      ['hyperParameters.weightDecay = 0', () => (hp.weightDecay = 0), C, /read-only view/],
      ['hyperParameters.kind = "sgd"', () => (hp.kind = 'sgd'), C, /cannot be assigned/],
      ['hyperParameters.extra = 1', () => (hp.extra = 1), C, /cannot be assigned/],
      ['delete hyperParameters.lr', () => delete hp.lr, C, /cannot be deleted/],
      [
        'defineProperty(hyperParameters, lr)',
        () => Object.defineProperty(hp, 'lr', { value: Number.NaN }),
        C,
        /hyperParameters\.lr cannot be redefined/,
      ],
      ['Object.freeze(hyperParameters)', () => Object.freeze(hp), C, /cannot be frozen or sealed/],
      ['setPrototypeOf(hyperParameters)', () => Object.setPrototypeOf(hp, null), C, /another prototype/],
      ['tensors.push(7)', () => tensors.push(7), C, /paramGroups\[0\]\.tensors\.\d cannot be assigned/],
      ['tensors[0] = 2', () => (tensors[0] = 2), C, /tensors\.0 cannot be assigned/],
      ['tensors.length = 0', () => (tensors.length = 0), C, /tensors\.length cannot be assigned/],
      ['tensors.reverse()', () => tensors.reverse(), C, /cannot be assigned/],
      ['tensors.sort()', () => tensors.sort(), C, /cannot be assigned/],
      [
        'group.tensors = []',
        () => Reflect.set(group, 'tensors', []),
        C,
        /paramGroups\[0\]\.tensors cannot be assigned/,
      ],
      [
        'group.hyperParameters = {}',
        () => Reflect.set(group, 'hyperParameters', {}),
        C,
        /cannot be assigned/,
      ],
      ['delete group.lr', () => Reflect.deleteProperty(group, 'lr'), C, /cannot be deleted/],
      ['paramGroups.push({})', () => groups.push({}), C, /paramGroups\.2 cannot be assigned/],
      ['paramGroups.pop()', () => groups.pop(), C, /paramGroups\.\w+ cannot be (assigned|deleted)/],
      ['paramGroups[0] = {}', () => (groups[0] = {}), C, /paramGroups\.0 cannot be assigned/],
      ['paramGroups.length = 1', () => (groups.length = 1), C, /paramGroups\.length cannot be assigned/],
      [
        'optimizer.paramGroups = []',
        () => Reflect.set(optimizer, 'paramGroups', []),
        C,
        /paramGroups is read-only/,
      ],
      [
        'optimizer.tensorCount = 9',
        () => Reflect.set(optimizer, 'tensorCount', 9),
        C,
        /tensorCount is read-only/,
      ],
      ['optimizer.name = "SGD"', () => Reflect.set(optimizer, 'name', 'SGD'), C, /name is read-only/],
      // Item 15: setActive takes a boolean, isActive an index in range.
      [
        "setActive(0, 'no')",
        () => optimizer.setActive(0, 'no' as never),
        C,
        /Invalid active: "no" \(expected true or false\)/,
      ],
      ['setActive(0, 0)', () => optimizer.setActive(0, 0 as never), C, /Invalid active: 0/],
      [
        'setActive(0, undefined)',
        () => optimizer.setActive(0, undefined as never),
        C,
        /Invalid active: undefined/,
      ],
      [
        'setActive(Symbol)',
        () => optimizer.setActive(Symbol('i') as never, false),
        C,
        /Invalid tensor index: Symbol\(i\)/,
      ],
      ["setActive('0')", () => optimizer.setActive('0' as never, false), C, /Invalid tensor index: "0"/],
      [
        'setActive(-0) is tensor 0, with a bad flag',
        () => optimizer.setActive(-0, 'x' as never),
        C,
        /Invalid active/,
      ],
      [
        'isActive(99)',
        () => optimizer.isActive(99),
        C,
        /Invalid tensor index: 99 \(expected an integer in 0\.\.2\)/,
      ],
      ['isActive(3)', () => optimizer.isActive(3), C, /Invalid tensor index: 3/],
      ['isActive(-1)', () => optimizer.isActive(-1), C, /Invalid tensor index: -1/],
      ['isActive(0.5)', () => optimizer.isActive(0.5), C, /Invalid tensor index: 0\.5/],
      ["isActive('1')", () => optimizer.isActive('1' as never), C, /Invalid tensor index: "1"/],
      ['isActive(NaN)', () => optimizer.isActive(Number.NaN), C, /Invalid tensor index: NaN/],
      ['isActive(2^53)', () => optimizer.isActive(2 ** 53), C, /Invalid tensor index/],
    ];
    for (const [label, attempt, type, message] of rows) {
      let caught: unknown;
      try {
        attempt();
      } catch (error) {
        caught = error;
      }
      expect(caught, label).toBeInstanceOf(type);
      expect((caught as Error).message, label).toMatch(message);
    }
    expect(await snapshot(model, optimizer), 'after every rejected write').toBe(before);

    // Writes that are allowed go through the same validation and land in the live optimizer.
    hp.lr = 0.25;
    expect(group.lr).toBe(0.25);
    expect(optimizer.paramGroups[0]!.hyperParameters.lr).toBe(0.25);
    expect(optimizer.paramGroups[1]!.lr).toBe(1e-3);
    // What the API hands out is a copy when spread: mutating the copy changes nothing.
    const copy = { ...optimizer.paramGroups[1]!.hyperParameters, lr: Number.NaN };
    const tensorCopy = [...optimizer.paramGroups[1]!.tensors, 0];
    expect(copy.lr).toBeNaN();
    expect(tensorCopy).toHaveLength(2);
    expect(optimizer.paramGroups[1]!.lr).toBe(1e-3);
    expect([...optimizer.paramGroups[1]!.tensors]).toEqual([2]);
    expect((await optimizer.stateDict()).header.paramGroups).toEqual([
      { lr: 0.25, params: [0, 1] },
      { lr: 1e-3, params: [2] },
    ]);
    optimizer.destroy();
    model.destroy();
  });
});

describe('second pass: getters, proxies and sizes', () => {
  it('reads every caller field once, and turns throwing getters and revoked proxies into typed errors', async () => {
    const param = uploadF32(device, [1, 2, 3, 4]);
    const grad = uploadF32(device, [0.5, -0.5, 0.25, 1]);
    const spec = { param, grad, length: 4 };
    // A getter that hands the checks a real buffer and the optimizer something else would slip past them.
    let reads = 0;
    const flaky = {
      grad,
      length: 4,
      get param() {
        reads++;
        return reads === 1 ? param : ({} as GPUBuffer);
      },
    };
    const optimizer = await createSGD(device, [flaky], { lr: 0.5 });
    expect(reads).toBe(1);
    optimizer.stepAndSubmit();
    expect(Array.from(await readF32(device, param))).toEqual([0.75, 2.25, 2.875, 3.5]);
    optimizer.destroy();
    // Options given by a class with getters are read, not silently dropped.
    class Options {
      get lr() {
        return 0.25;
      }
    }
    const fromClass = await createSGD(device, [spec], new Options());
    expect(fromClass.lr).toBe(0.25);
    fromClass.destroy();

    const revoked = () => {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return proxy;
    };
    const throwing = {
      get lr(): number {
        throw new Error('getter');
      },
    };
    const cases: [string, () => Promise<FusedOptimizer>, RegExp][] = [
      ['revoked options', () => createRAdam(device, [spec], revoked()), /Invalid options: reading it threw/],
      ['revoked params', () => createRAdam(device, revoked() as never), /Invalid params: reading it threw/],
      [
        'revoked spec',
        () => createRAdam(device, [revoked()] as never),
        /Invalid params\[0\]: reading it threw/,
      ],
      [
        'throwing option getter',
        () => createRAdam(device, [spec], throwing),
        /Invalid options\.lr: reading it threw \(getter\)/,
      ],
      [
        'params with length Infinity',
        () =>
          createRAdam(
            device,
            new Proxy([], { get: (t, k) => (k === 'length' ? Infinity : Reflect.get(t, k)) }) as never,
          ),
        /at most \d+ tensors/,
      ],
      [
        'a sparse params list',
        () => createRAdam(device, new Array(3) as never),
        /Invalid params\[0\]: undefined/,
      ],
      ['1e6 params', () => createRAdam(device, new Array(1e6) as never), /Invalid params: 1000000 entries/],
      [
        'lr as a Number object',
        () => createRAdam(device, [spec], { lr: new Number(0.1) as never }),
        /Invalid lr: a Number/,
      ],
      [
        'name as a Symbol',
        () => createRAdam(device, [{ ...spec, name: Symbol('w') as never }]),
        /Invalid params\[0\]\.name: Symbol\(w\)/,
      ],
      [
        'paramOffset as a BigInt',
        () => createRAdam(device, [{ ...spec, paramOffset: 16n as never }]),
        /Invalid params\[0\]\.paramOffset: 16n/,
      ],
      [
        'paramOffset 2^53',
        () => createRAdam(device, [{ ...spec, paramOffset: 2 ** 53 }]),
        /Invalid params\[0\]\.paramOffset/,
      ],
      [
        'length 2^53',
        () => createRAdam(device, [{ ...spec, length: 2 ** 53 }]),
        /Invalid params\[0\]\.length/,
      ],
      [
        'stepTableLength 1e9 (a 16 GB host table)',
        () => createRAdam(device, [spec], {}, { stepTableLength: 1e9 }),
        /Invalid stepTableLength: 1000000000/,
      ],
    ];
    for (const [label, attempt, message] of cases) {
      await expectRejected(param, label, attempt, WebGPURadamError, message);
    }
    param.destroy();
    grad.destroy();
  });
});
