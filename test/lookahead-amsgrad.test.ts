// AMSGrad, Lookahead and Ranger beyond the golden cases: option validation, when a sync happens (multiples of
// the per-tensor count, skipped and inactive steps not counting), and their state in state dicts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createAdam,
  createAdamW,
  createRAdam,
  createRanger,
  createSGD,
  deserializeState,
  type FusedOptimizer,
  OptimizerConfigError,
  type OptimizerState,
  OptimizerStateError,
  serializeState,
} from '../src/index';
import { readF32 } from './helpers/buffers';
import { type PackedModel, packedModel, readMoments } from './helpers/model';
import { requestTestDevice } from './helpers/webgpu-node';
import { adamReferenceStep, lookaheadReferenceSync, newState } from './reference/optimizers';

let device: GPUDevice;
beforeAll(async () => {
  device = await requestTestDevice();
});
afterAll(() => device.destroy());

/** Params, moments, max and slow weights of every tensor, flattened per kind. */
async function snapshot(model: PackedModel, optimizer: FusedOptimizer) {
  const params = await model.readParams();
  const state = await Promise.all(
    model.lengths.map(async (length, i) => {
      const at = optimizer.stateLocation(i);
      const { m, v } = await readMoments(device, optimizer, i);
      const vmax = at.expAvgSqMax ? await readF32(device, at.expAvgSqMax, at.byteOffset, length) : [];
      const slow = at.slow ? await readF32(device, at.slow, at.slowByteOffset, length) : [];
      return { m: [...m], v: [...v], vmax: [...vmax], slow: [...slow] };
    }),
  );
  return { params: params.map((p) => [...p]), state };
}

describe('option validation', () => {
  const model = () => packedModel(device, [8], 3);
  const rejects = async (create: (specs: PackedModel['specs']) => Promise<FusedOptimizer>, field: string) => {
    const m = model();
    const error = await create(m.specs).catch((e: unknown) => e);
    m.destroy();
    expect(error).toBeInstanceOf(OptimizerConfigError);
    expect((error as OptimizerConfigError).field).toBe(field);
    return (error as Error).message;
  };
  it.each([
    [{ k: 0, alpha: 0.5 }, 'lookahead.k'],
    [{ k: 2.5, alpha: 0.5 }, 'lookahead.k'],
    [{ k: '6', alpha: 0.5 }, 'lookahead.k'],
    [{ k: 2 ** 31, alpha: 0.5 }, 'lookahead.k'],
    [{ k: 5, alpha: 0 }, 'lookahead.alpha'],
    [{ k: 5, alpha: 1.5 }, 'lookahead.alpha'],
    [{ k: 5, alpha: Number.NaN }, 'lookahead.alpha'],
    [{ k: 5, alpha: 1e-50 }, 'lookahead.alpha'],
    [{ k: 5 }, 'lookahead.alpha'],
    [{ k: 5, alpha: 0.5, steps: 3 }, 'lookahead.steps'],
    [6, 'lookahead'],
  ])('lookahead %j is refused (%s), on every optimizer', async (lookahead, field) => {
    const options = { lookahead } as unknown as { lookahead: { k: number; alpha: number } };
    for (const create of [createRAdam, createAdam, createAdamW, createSGD, createRanger]) {
      await rejects((specs) => create(device, specs, options), field);
    }
  });
  it('names the allowed ranges', async () => {
    const k = await rejects((s) => createAdam(device, s, { lookahead: { k: 0, alpha: 0.5 } }), 'lookahead.k');
    expect(k).toMatch(/integer in 1\.\.2147483647/);
    const alpha = await rejects(
      (s) => createAdam(device, s, { lookahead: { k: 1, alpha: 2 } }),
      'lookahead.alpha',
    );
    expect(alpha).toMatch(/0 < alpha <= 1/);
  });
  it('amsgrad: a boolean, Adam/AdamW only, the same in every param group', async () => {
    await rejects((s) => createAdam(device, s, { amsgrad: 1 as unknown as boolean }), 'amsgrad');
    await rejects((s) => createRAdam(device, s, { amsgrad: true } as never), 'amsgrad');
    await rejects((s) => createRanger(device, s, { amsgrad: true } as never), 'amsgrad');
    const message = await rejects(
      (s) =>
        createAdamW(device, [{ params: [s[0]!] }, { params: [], amsgrad: true }], {
          amsgrad: false,
        }),
      'paramGroups[1].amsgrad',
    );
    expect(message).toMatch(/the same in every param group/);
  });
  it('Ranger takes Ranger 9.3.19 defaults', async () => {
    const m = model();
    const ranger = await createRanger(device, m.specs);
    expect({ ...ranger.paramGroups[0]!.hyperParameters }).toMatchObject({
      kind: 'rectified',
      lr: 1e-3,
      beta1: 0.95,
      beta2: 0.999,
      eps: 1e-5,
      weightDecay: 0,
      decoupledWeightDecay: true,
      threshold: 5,
      thresholdComparison: '>',
      epsMode: 'uncorrected',
      degeneratedToSgd: true,
      lookaheadK: 6,
      lookaheadAlpha: 0.5,
    });
    expect(ranger.name).toBe('Ranger');
    ranger.destroy();
    m.destroy();
  });
  it('without amsgrad or lookahead no extra buffer exists (nothing extra is bound or moved)', async () => {
    const m = model();
    const plain = await createAdam(device, m.specs);
    const amsgrad = await createAdam(device, m.specs, { amsgrad: true });
    const lookahead = await createAdam(device, m.specs, { lookahead: { k: 2, alpha: 0.5 } });
    expect(plain.stateLocation(0).expAvgSqMax).toBeUndefined();
    expect(plain.stateLocation(0).slow).toBeUndefined();
    expect(amsgrad.stateLocation(0).expAvgSqMax).toBeDefined();
    expect(lookahead.stateLocation(0).slow).toBeDefined();
    expect(amsgrad.byteSize).toBeGreaterThan(plain.byteSize);
    for (const o of [plain, amsgrad, lookahead]) o.destroy();
    m.destroy();
  });
});

describe('when Lookahead syncs', () => {
  it('exactly after steps that are multiples of k; params and slow match float64 AMSGrad + Lookahead', async () => {
    const lengths = [37, 12];
    const model = packedModel(device, lengths, 11);
    const k = 3;
    const options = { lr: 0.05, amsgrad: true, lookahead: { k, alpha: 0.6 } } as const;
    const optimizer = await createAdam(device, model.specs, options);
    const references = (await model.readParams()).map((p) => newState(p));
    let previous = await snapshot(model, optimizer);
    for (let t = 1; t <= 8; t++) {
      const grads = model.writeGradients(t);
      optimizer.stepAndSubmit();
      expect(optimizer.lastStep.sync, `step ${t}`).toBe(t % k === 0);
      references.forEach((reference, i) => {
        adamReferenceStep(reference, grads[i]!, {
          ...options,
          beta1: 0.9,
          beta2: 0.999,
          eps: 1e-8,
          weightDecay: 0,
          decoupled: false,
          maximize: false,
        });
        lookaheadReferenceSync(reference, k, options.lookahead.alpha);
      });
      const now = await snapshot(model, optimizer);
      for (let i = 0; i < lengths.length; i++) {
        if (t % k === 0) {
          expect(now.params[i], `params = slow after sync step ${t}`).toEqual(now.state[i]!.slow);
        } else if (t > 1) {
          expect(now.state[i]!.slow, `slow untouched at step ${t}`).toEqual(previous.state[i]!.slow);
          expect(now.params[i]).not.toEqual(now.state[i]!.slow);
        }
        const reference = references[i]!;
        for (const [got, want] of [
          [now.params[i]!, reference.params],
          [now.state[i]!.slow, reference.slow],
          [now.state[i]!.vmax, reference.vmax],
        ] as const) {
          got.forEach((value, e) => {
            expect(Math.abs(value - want[e]!)).toBeLessThanOrEqual(2e-5 * Math.abs(want[e]!) + 2e-6);
          });
        }
      }
      previous = now;
    }
    optimizer.destroy();
    model.destroy();
  });

  it('skipped (non-finite) steps do not count toward k', async () => {
    const options = { lr: 0.05, skipNonFinite: true, lookahead: { k: 2, alpha: 0.5 } };
    const dirty = packedModel(device, [20], 5);
    const clean = packedModel(device, [20], 5);
    const dirtyOptimizer = await createRAdam(device, dirty.specs, options);
    const cleanOptimizer = await createRAdam(device, clean.specs, options);
    // dirty: good, NaN (skipped), good, good; clean: the same good steps only.
    dirty.writeGradients(1);
    dirtyOptimizer.stepAndSubmit();
    dirty.writeGradients(2, (_, values) => {
      values[3] = Number.NaN;
    });
    dirtyOptimizer.stepAndSubmit();
    const afterSkip = await snapshot(dirty, dirtyOptimizer);
    for (const t of [2, 3]) {
      dirty.writeGradients(t);
      dirtyOptimizer.stepAndSubmit();
      if (t === 2) {
        // The third call is the second step taken: it syncs.
        const synced = await snapshot(dirty, dirtyOptimizer);
        expect(synced.params[0]).toEqual(synced.state[0]!.slow);
        expect(synced.state[0]!.slow).not.toEqual(afterSkip.state[0]!.slow);
      }
    }
    for (const t of [1, 2, 3]) {
      clean.writeGradients(t);
      cleanOptimizer.stepAndSubmit();
    }
    expect(await snapshot(dirty, dirtyOptimizer)).toEqual(await snapshot(clean, cleanOptimizer));
    expect(Array.from((await dirtyOptimizer.readGradStats()).stepCounts)).toEqual([3]);
    for (const o of [dirtyOptimizer, cleanOptimizer]) o.destroy();
    dirty.destroy();
    clean.destroy();
  });

  it('inactive tensors keep their own count: each syncs on its own k-th step', async () => {
    const model = packedModel(device, [16, 9], 8);
    const optimizer = await createSGD(device, model.specs, {
      lr: 0.1,
      momentum: 0.9,
      lookahead: { k: 2, alpha: 0.5 },
    });
    const synced = async () => {
      const s = await snapshot(model, optimizer);
      return s.params.map((p, i) => p.every((value, e) => value === s.state[i]!.slow[e]));
    };
    model.writeGradients(1);
    optimizer.stepAndSubmit(); // counts [1, 1]
    optimizer.setActive(1, false);
    model.writeGradients(2);
    optimizer.stepAndSubmit(); // counts [2, 1]: tensor 0 syncs
    expect(await synced()).toEqual([true, false]);
    optimizer.setActive(1, true);
    model.writeGradients(3);
    optimizer.stepAndSubmit(); // counts [3, 2]: tensor 1 syncs
    expect(await synced()).toEqual([false, true]);
    expect(Array.from((await optimizer.readGradStats()).stepCounts)).toEqual([3, 2]);
    optimizer.destroy();
    model.destroy();
  });

  it('slow weights start from the params the first step sees (params written after creation count)', async () => {
    const model = packedModel(device, [10], 9);
    const optimizer = await createAdam(device, model.specs, { lookahead: { k: 5, alpha: 0.5 } });
    const loaded = Float32Array.from({ length: 10 }, (_, i) => i / 10);
    device.queue.writeBuffer(model.param, 0, loaded);
    model.writeGradients(1);
    optimizer.stepAndSubmit();
    expect((await snapshot(model, optimizer)).state[0]!.slow).toEqual([...loaded]);
    optimizer.destroy();
    model.destroy();
  });
});

describe('state dict with max_exp_avg_sq and slow_buffer', () => {
  const LENGTHS = [33, 8];
  const OPTIONS = { lr: 0.02, weightDecay: 0.01, amsgrad: true, lookahead: { k: 3, alpha: 0.5 } };

  async function trained(steps: number) {
    const model = packedModel(device, LENGTHS, 17);
    const optimizer = await createAdamW(device, model.specs, OPTIONS);
    for (let t = 1; t <= steps; t++) {
      model.writeGradients(t);
      optimizer.stepAndSubmit();
    }
    return { model, optimizer };
  }

  async function resumedFrom(source: PackedModel, state: OptimizerState) {
    const model = packedModel(device, LENGTHS, 17);
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(source.param, 0, model.param, 0, source.param.size);
    device.queue.submit([encoder.finish()]);
    const optimizer = await createAdamW(device, model.specs, OPTIONS);
    optimizer.loadStateDict(state);
    return { model, optimizer };
  }

  it('round-trips bit-exactly and resumes on the uninterrupted trajectory', async () => {
    const straight = await trained(4);
    const saved = await straight.optimizer.stateDict();
    for (const t of saved.header.tensors) {
      expect(t.max_exp_avg_sq).toBeDefined();
      expect(t.slow_buffer).toBeDefined();
    }
    const restored = deserializeState(serializeState(saved));
    expect(restored.header).toEqual(saved.header);
    expect([...restored.payload]).toEqual([...saved.payload]);
    const resumed = await resumedFrom(straight.model, restored);
    expect([...(await resumed.optimizer.stateDict()).payload]).toEqual([...saved.payload]);
    for (let t = 5; t <= 7; t++) {
      for (const run of [straight, resumed]) {
        run.model.writeGradients(t);
        run.optimizer.stepAndSubmit();
      }
    }
    expect(await snapshot(resumed.model, resumed.optimizer)).toEqual(
      await snapshot(straight.model, straight.optimizer),
    );
    for (const run of [straight, resumed]) {
      run.optimizer.destroy();
      run.model.destroy();
    }
  });

  it('a state without them (saved before AMSGrad/Lookahead) loads: max from exp_avg_sq, slow from the next step', async () => {
    const straight = await trained(4);
    const saved = await straight.optimizer.stateDict();
    const old: OptimizerState = {
      header: {
        ...saved.header,
        tensors: saved.header.tensors.map(({ max_exp_avg_sq: _, slow_buffer: __, ...rest }) => rest),
      },
      payload: saved.payload,
    };
    const resumed = await resumedFrom(straight.model, old);
    const loaded = await resumed.optimizer.stateDict();
    loaded.header.tensors.forEach((t, i) => {
      const from = saved.header.tensors[i]!;
      expect([...loaded.payload.subarray(t.max_exp_avg_sq!, t.max_exp_avg_sq! + t.length)]).toEqual([
        ...saved.payload.subarray(from.exp_avg_sq!, from.exp_avg_sq! + t.length),
      ]);
      // No slow weights until the tensor's next step.
      expect(t.slow_buffer).toBeUndefined();
    });
    const before = await resumed.model.readParams();
    resumed.model.writeGradients(5);
    resumed.optimizer.stepAndSubmit(); // step 5: not a sync step (k = 3)
    const after = await snapshot(resumed.model, resumed.optimizer);
    after.state.forEach((s, i) => {
      expect(s.slow).toEqual([...before[i]!]);
    });
    for (const run of [straight, resumed]) {
      run.optimizer.destroy();
      run.model.destroy();
    }
  });

  it('refuses what it would drop, and states of another kind, with nothing changed', async () => {
    const withBoth = await trained(2);
    const saved = await withBoth.optimizer.stateDict();
    const plain = await createAdamW(device, withBoth.model.specs, { lr: 0.02, weightDecay: 0.01 });
    expect(() => plain.loadStateDict(saved)).toThrow(/has max_exp_avg_sq/);
    const ranger = await createRanger(device, withBoth.model.specs);
    expect(() => ranger.loadStateDict(saved)).toThrow(OptimizerStateError);
    expect(() => ranger.loadStateDict(saved)).toThrow(/state of "AdamW", this optimizer is Ranger/);
    expect(ranger.stepCount).toBe(0);
    for (const o of [plain, ranger, withBoth.optimizer]) o.destroy();
    withBoth.model.destroy();
  });
});
