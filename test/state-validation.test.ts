// loadStateDict, (de)serialization and the tfjs conversions reject what this package cannot have produced with a
// typed OptimizerStateError naming the field, and change nothing (params, moments, step counts, host step,
// lastStep and learning rates read back identical).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAdam,
  createRAdam,
  deserializeState,
  type FusedOptimizer,
  fromTfjsWeights,
  type OptimizerState,
  OptimizerStateError,
  serializeState,
  toTfjsWeights,
} from '../src/index';
import { MAX_STEP_COUNT } from '../src/step-scalars';
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
  const stats = await optimizer.readGradStats();
  return JSON.stringify({
    params: params.map((p) => Array.from(p)),
    moments: moments.map((m) => [Array.from(m.m), Array.from(m.v)]),
    counts: Array.from(stats.stepCounts),
    completed: stats.completedSteps,
    step: optimizer.stepCount,
    lastStep: optimizer.lastStep,
    lrs: optimizer.paramGroups.map((g) => g.lr),
  });
}

const LENGTHS = [6, 17, 3];

/** A copy of `state` with `edit` applied to a deep copy of its header and a copy of its payload. */
function edited(
  state: OptimizerState,
  edit: (header: Record<string, unknown>, payload: Float32Array) => void,
) {
  const header = structuredClone(state.header) as unknown as Record<string, unknown>;
  const payload = state.payload.slice();
  edit(header, payload);
  return { header, payload } as unknown as OptimizerState;
}
const tensor = (header: Record<string, unknown>, i: number) =>
  (header.tensors as Record<string, unknown>[])[i]!;
const group = (header: Record<string, unknown>, g: number) =>
  (header.paramGroups as Record<string, unknown>[])[g]!;

describe('loadStateDict rejects a state it cannot have produced, changing nothing', () => {
  let model: PackedModel;
  let optimizer: FusedOptimizer;
  let good: OptimizerState;
  beforeAll(async () => {
    model = packedModel(device, LENGTHS, 71);
    optimizer = await createRAdam(
      device,
      [{ params: [model.specs[0]!, model.specs[1]!] }, { params: [model.specs[2]!], lr: 3e-3 }],
      { lr: 1e-2, skipNonFinite: true },
    );
    for (let t = 1; t <= 3; t++) {
      model.writeGradients(t);
      optimizer.stepAndSubmit();
    }
    good = await optimizer.stateDict();
  });
  afterAll(() => {
    optimizer.destroy();
    model.destroy();
  });

  const v1 = (h: Record<string, unknown>) => tensor(h, 1).exp_avg_sq as number;
  const m1 = (h: Record<string, unknown>) => tensor(h, 1).exp_avg as number;
  const cases: [string, (h: Record<string, unknown>, p: Float32Array) => void, RegExp][] = [
    // item 6: the optimizer kind
    [
      'an Adam state',
      (h) => {
        h.optimizer = 'Adam';
      },
      /it is a state of "Adam", this optimizer is RAdam/,
    ],
    [
      'a "Lion" state',
      (h) => {
        h.optimizer = 'Lion';
      },
      /it is a state of "Lion"/,
    ],
    [
      'no optimizer name',
      (h) => {
        delete h.optimizer;
      },
      /optimizer is undefined, expected a name/,
    ],
    // item 6: moments no finite gradient produces
    [
      'NaN in exp_avg',
      (h, p) => {
        p[m1(h) + 3] = Number.NaN;
      },
      /tensors\[1\] \(t1\)\.exp_avg\[3\] is NaN/,
    ],
    [
      'Infinity in exp_avg',
      (h, p) => {
        p[m1(h)] = Number.POSITIVE_INFINITY;
      },
      /\(t1\)\.exp_avg\[0\] is Infinity/,
    ],
    [
      '-Infinity in exp_avg',
      (h, p) => {
        p[m1(h) + 16] = Number.NEGATIVE_INFINITY;
      },
      /\(t1\)\.exp_avg\[16\] is -Infinity/,
    ],
    [
      'NaN in exp_avg_sq',
      (h, p) => {
        p[v1(h) + 2] = Number.NaN;
      },
      /\(t1\)\.exp_avg_sq\[2\] is NaN/,
    ],
    [
      'Infinity in exp_avg_sq',
      (h, p) => {
        p[v1(h)] = Number.POSITIVE_INFINITY;
      },
      /\(t1\)\.exp_avg_sq\[0\] is Infinity/,
    ],
    [
      'a negative exp_avg_sq',
      (h, p) => {
        p[v1(h) + 5] = -0.5;
      },
      /\(t1\)\.exp_avg_sq\[5\] is -0\.5 \(expected a finite number >= 0\)/,
    ],
    // item 6: step counts the GPU's u32 counters and the step table cannot hold
    [
      'step 2^32 - 1',
      (h) => {
        h.step = 2 ** 32 - 1;
      },
      /step 4294967295 is not an integer in \[0, 2147483647\]/,
    ],
    [
      'step 2^31',
      (h) => {
        h.step = 2 ** 31;
      },
      /step 2147483648 is not an integer/,
    ],
    [
      'step 2.5',
      (h) => {
        h.step = 2.5;
      },
      /step 2\.5 is not an integer/,
    ],
    [
      'step "3"',
      (h) => {
        h.step = '3';
      },
      /step "3" is not an integer/,
    ],
    [
      'a tensor step 2^32 - 1',
      (h) => {
        tensor(h, 2).step = 2 ** 32 - 1;
      },
      /tensors\[2\] \(t2\)\.step 4294967295 is not an integer/,
    ],
    [
      'a tensor step 1.5',
      (h) => {
        tensor(h, 0).step = 1.5;
      },
      /tensors\[0\] \(t0\)\.step 1\.5 is not an integer/,
    ],
    [
      'a tensor ahead of the optimizer',
      (h) => {
        tensor(h, 0).step = 4;
      },
      /\(t0\)\.step 4 is ahead of the optimizer's step 3/,
    ],
    // item 15: null entries
    [
      'paramGroups: [null, …]',
      (h) => {
        (h.paramGroups as unknown[])[0] = null;
      },
      /paramGroups\[0\] is null, expected \{ lr, params \}/,
    ],
    [
      'tensors: [null, …]',
      (h) => {
        (h.tensors as unknown[])[1] = null;
      },
      /tensors\[1\] is null, expected \{ name, length/,
    ],
    [
      'tensors: null',
      (h) => {
        h.tensors = null;
      },
      /tensors is null, expected an array/,
    ],
    [
      'paramGroups: "x"',
      (h) => {
        h.paramGroups = 'x';
      },
      /paramGroups is "x", expected an array/,
    ],
    // further malformed headers
    [
      'a group lr of 1e39 (Infinity in f32)',
      (h) => {
        group(h, 1).lr = 1e39;
      },
      /paramGroups\[1\]\.lr is 1e\+39/,
    ],
    [
      'a group lr of -1',
      (h) => {
        group(h, 0).lr = -1;
      },
      /paramGroups\[0\]\.lr is -1/,
    ],
    [
      'group params as strings',
      (h) => {
        group(h, 0).params = ['0', '1'];
      },
      /paramGroups\[0\]\.params is an array, expected tensor indices/,
    ],
    [
      'group params reordered',
      (h) => {
        group(h, 0).params = [1, 0];
      },
      /paramGroups\[0\] holds tensors \[1,0\], this optimizer's holds \[0,1\]/,
    ],
    [
      'a tensor name that is not a string',
      (h) => {
        tensor(h, 0).name = 5;
      },
      /tensors\[0\]\.name is 5/,
    ],
    [
      'a negative exp_avg offset',
      (h) => {
        tensor(h, 0).exp_avg = -1;
      },
      /\(t0\)\.exp_avg range \[-1, -1 \+ 6\) is outside the payload/,
    ],
    [
      'a fractional exp_avg_sq offset',
      (h) => {
        tensor(h, 0).exp_avg_sq = 0.5;
      },
      /\(t0\)\.exp_avg_sq range \[0\.5/,
    ],
    [
      'exp_avg_sq: null',
      (h) => {
        tensor(h, 0).exp_avg_sq = null;
      },
      /\(t0\)\.exp_avg_sq range \[null/,
    ],
    [
      'version "1"',
      (h) => {
        h.version = '1';
      },
      /version "1" is not supported/,
    ],
    [
      'version 2',
      (h) => {
        h.version = 2;
      },
      /version 2 is not supported \(expected 1\)/,
    ],
  ];

  it.each(cases)('%s', async (_, edit, message) => {
    const before = await everything(model, optimizer);
    const bad = edited(good, edit);
    expect(() => optimizer.loadStateDict(bad)).toThrow(OptimizerStateError);
    expect(() => optimizer.loadStateDict(bad)).toThrow(message);
    expect(await everything(model, optimizer)).toBe(before);
  });

  it('null, undefined, a number and a state without payload', async () => {
    const before = await everything(model, optimizer);
    for (const bad of [
      null,
      undefined,
      7,
      'state',
      {},
      { header: good.header },
      { payload: good.payload },
      { header: [], payload: good.payload },
    ]) {
      expect(() => optimizer.loadStateDict(bad as never), String(bad)).toThrow(OptimizerStateError);
    }
    expect(await everything(model, optimizer)).toBe(before);
  });

  it('the good state still loads, and an Adam state loads into Adam', async () => {
    optimizer.loadStateDict(good);
    const adam = await createAdam(device, model.specs);
    const adamState = await adam.stateDict();
    expect(adamState.header.optimizer).toBe('Adam');
    adam.loadStateDict(adamState);
    expect(() => optimizer.loadStateDict(adamState)).toThrow(/it is a state of "Adam"/);
    adam.destroy();
  });
});

describe('the largest step count', () => {
  it(`is ${MAX_STEP_COUNT}: loaded there, the next step() throws and nothing moves`, async () => {
    const model = packedModel(device, [5], 72);
    const optimizer = await createRAdam(device, model.specs, { lr: 1e-2 });
    const state = await optimizer.stateDict();
    state.header.step = MAX_STEP_COUNT - 1;
    state.header.tensors[0]!.step = MAX_STEP_COUNT - 1;
    optimizer.loadStateDict(state);
    model.writeGradients(1);
    optimizer.stepAndSubmit();
    expect(optimizer.stepCount).toBe(MAX_STEP_COUNT);
    const before = await everything(model, optimizer);
    expect(JSON.parse(before).counts).toEqual([MAX_STEP_COUNT]);
    expect(() => optimizer.stepAndSubmit()).toThrow(OptimizerStateError);
    expect(() => optimizer.stepAndSubmit()).toThrow(/step 2147483648 would pass the largest step count/);
    expect(await everything(model, optimizer)).toBe(before);
    optimizer.destroy();
    model.destroy();
  });
});

describe('deserializeState takes any view of the bytes', () => {
  let state: OptimizerState;
  let bytes: ArrayBuffer;
  beforeAll(async () => {
    const model = packedModel(device, LENGTHS, 73);
    const optimizer = await createRAdam(device, model.specs);
    model.writeGradients(1);
    optimizer.stepAndSubmit();
    state = await optimizer.stateDict();
    bytes = serializeState(state);
    optimizer.destroy();
    model.destroy();
  });
  const expectSame = (restored: OptimizerState) => {
    expect(restored.header).toEqual(state.header);
    expect(Array.from(restored.payload)).toEqual(Array.from(state.payload));
  };

  it('fs.readFileSync of a written file (a Node Buffer)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'radam-state-'));
    try {
      const file = join(dir, 'state.radm');
      writeFileSync(file, new Uint8Array(bytes));
      expectSame(deserializeState(readFileSync(file)));
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('views at an odd offset into a larger buffer: Uint8Array, Buffer, DataView', () => {
    const big = new ArrayBuffer(bytes.byteLength + 10);
    new Uint8Array(big).fill(0xee);
    new Uint8Array(big, 3, bytes.byteLength).set(new Uint8Array(bytes));
    expectSame(deserializeState(new Uint8Array(big, 3, bytes.byteLength)));
    expectSame(deserializeState(Buffer.from(big, 3, bytes.byteLength)));
    expectSame(deserializeState(new DataView(big, 3, bytes.byteLength)));
    // A pooled Buffer: small copies share one slab at a non-zero offset.
    const pooled = Buffer.from(new Uint8Array(bytes));
    expectSame(deserializeState(pooled));
  });

  it('ArrayBuffer, SharedArrayBuffer and a Float32Array view', () => {
    expectSame(deserializeState(bytes));
    const shared = new SharedArrayBuffer(bytes.byteLength);
    new Uint8Array(shared).set(new Uint8Array(bytes));
    expectSame(deserializeState(shared));
    expectSame(deserializeState(new Uint8Array(shared)));
    expectSame(deserializeState(new Float32Array(bytes)));
  });

  it('anything else is a typed error', () => {
    for (const bad of [null, undefined, 'RADM', 42, {}, [0x52, 0x41, 0x44, 0x4d], { byteLength: 12 }]) {
      expect(() => deserializeState(bad as never), String(bad)).toThrow(OptimizerStateError);
      expect(() => deserializeState(bad as never), String(bad)).toThrow(/expected an ArrayBuffer or a view/);
    }
  });

  it('malformed bytes are typed errors: short, foreign, truncated, bad JSON, bad header, misaligned payload', () => {
    const withHeader = (json: string, payloadBytes = 0) => {
      const text = new TextEncoder().encode(json);
      const start = Math.ceil((8 + text.length) / 4) * 4;
      const out = new Uint8Array(start + payloadBytes);
      new DataView(out.buffer).setUint32(0, 0x4d444152, true);
      new DataView(out.buffer).setUint32(4, text.length, true);
      out.set(text, 8);
      return out;
    };
    const header = JSON.stringify(state.header);
    const cases: [string, Uint8Array | ArrayBuffer, RegExp][] = [
      ['4 bytes', new Uint8Array(4), /4 bytes is too short/],
      ['no magic', new Uint8Array(16), /RADM magic/],
      ['a truncated header', new Uint8Array(bytes).subarray(0, 40), /header is truncated/],
      ['a header that is not JSON', withHeader('{"format":'), /header is not JSON/],
      ['a null header', withHeader('null'), /the header is null, expected an object/],
      [
        'a header from the future',
        withHeader(header.replace('"version":1', '"version":2'), state.payload.byteLength),
        /version 2 is not supported/,
      ],
      [
        'a payload one value short',
        withHeader(header, state.payload.byteLength - 4),
        /outside the payload of/,
      ],
      [
        'a payload of 2 extra bytes',
        withHeader(header, state.payload.byteLength + 2),
        /not a whole number of f32 values/,
      ],
      [
        'tensors: [null]',
        withHeader(header.replace('"tensors":[{', '"tensors":[null,{'), state.payload.byteLength),
        /tensors\[0\] is null/,
      ],
    ];
    for (const [label, input, message] of cases) {
      expect(() => deserializeState(input), label).toThrow(OptimizerStateError);
      expect(() => deserializeState(input), label).toThrow(message);
    }
    // Extra payload after the last tensor is harmless (a state converted from elsewhere may carry some).
    expect(deserializeState(withHeader(header, state.payload.byteLength + 8)).payload.length).toBe(
      state.payload.length + 2,
    );
  });
});

describe('tfjs conversions and serializeState take only what they can convert', () => {
  let state: OptimizerState;
  beforeAll(async () => {
    const model = packedModel(device, LENGTHS, 74);
    const optimizer = await createRAdam(device, model.specs);
    model.writeGradients(1);
    optimizer.stepAndSubmit();
    state = await optimizer.stateDict();
    optimizer.destroy();
    model.destroy();
  });

  it('fromTfjsWeights: null or malformed template and weights', () => {
    const weights = toTfjsWeights(state);
    const withIterations = (value: unknown) => [{ values: [value] }, ...weights.slice(1)] as never;
    const cases: [string, () => unknown, RegExp][] = [
      ['a null template', () => fromTfjsWeights(null as never, weights), /the template is null/],
      [
        'an undefined template',
        () => fromTfjsWeights(undefined as never, weights),
        /the template is undefined/,
      ],
      [
        'a template without tensors',
        () => fromTfjsWeights({} as never, weights),
        /the template is an object, expected a state header with tensors/,
      ],
      [
        'a template with a null tensor',
        () => fromTfjsWeights({ ...state.header, tensors: [null] } as never, weights),
        /template tensors\[0\] is null/,
      ],
      ['null weights', () => fromTfjsWeights(state.header, null as never), /weights is null/],
      [
        'a null weight',
        () => fromTfjsWeights(state.header, [null, ...weights.slice(1)] as never),
        /weights\[0\] is null/,
      ],
      [
        'a weight without values',
        () => fromTfjsWeights(state.header, [{}, ...weights.slice(1)] as never),
        /weights\[0\] is an object/,
      ],
      ['too few weights', () => fromTfjsWeights(state.header, weights.slice(1)), /expected 7 arrays/],
      [
        'iterations NaN',
        () => fromTfjsWeights(state.header, withIterations(Number.NaN)),
        /weights\[0\] \(iterations\) is NaN/,
      ],
      ['iterations -1', () => fromTfjsWeights(state.header, withIterations(-1)), /\(iterations\) is -1/],
      ['iterations 1.5', () => fromTfjsWeights(state.header, withIterations(1.5)), /\(iterations\) is 1\.5/],
      [
        'iterations 2^32',
        () => fromTfjsWeights(state.header, withIterations(2 ** 32)),
        /\(iterations\) is 4294967296/,
      ],
      [
        'a string among the moments',
        () =>
          fromTfjsWeights(state.header, [
            weights[0]!,
            { values: ['0.5', 0, 0, 0, 0, 0] },
            ...weights.slice(2),
          ] as never),
        /weights\[1\]\[0\] is "0\.5", expected a number/,
      ],
      [
        'toTfjsWeights(null)',
        () => toTfjsWeights(null as never),
        /toTfjsWeights: expected \{ header, payload: Float32Array \}/,
      ],
      [
        'toTfjsWeights with a broken header',
        () => toTfjsWeights({ header: {} as never, payload: state.payload }),
        /toTfjsWeights: format is undefined/,
      ],
      [
        'serializeState(null)',
        () => serializeState(null as never),
        /serializeState: expected \{ header, payload: Float32Array \}/,
      ],
      [
        'serializeState with tensors: [null]',
        () =>
          serializeState({ header: { ...state.header, tensors: [null as never] }, payload: state.payload }),
        /serializeState: tensors\[0\] is null/,
      ],
    ];
    for (const [label, attempt, message] of cases) {
      expect(attempt, label).toThrow(OptimizerStateError);
      expect(attempt, label).toThrow(message);
    }
    const back = toTfjsWeights(fromTfjsWeights(state.header, weights));
    expect(back.map((w) => Array.from(w.values))).toEqual(weights.map((w) => Array.from(w.values)));
  });
});
