// Plan invariants without a GPU: buffers are plain objects here (the planner only compares them by identity).
import { describe, expect, it } from 'vitest';
import { type PlanLimits, type PlannedTensor, placeState, planUnits } from '../../src/plan';

const fakeBuffer = (label: string) => ({ label }) as unknown as GPUBuffer;

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomModel(seed: number): { tensors: PlannedTensor[]; limits: PlanLimits } {
  const random = mulberry32(seed);
  const buffers = [fakeBuffer('a'), fakeBuffer('b')];
  const grads = [fakeBuffer('ga'), fakeBuffer('gb')];
  const cursors = [0, 0];
  const tensors = Array.from({ length: 1 + Math.floor(random() * 40) }, () => {
    const which = random() < 0.7 ? 0 : 1;
    const length = 1 + Math.floor(random() ** 3 * 5000);
    const offset = cursors[which]! + 4 * Math.floor(random() * 3);
    cursors[which] = offset + length * 4;
    return { param: buffers[which]!, grad: grads[which]!, length, paramOffset: offset, gradOffset: offset };
  });
  const storageAlignment = 256;
  return {
    tensors,
    limits: {
      storageAlignment,
      maxBindingBytes: storageAlignment * (2 + Math.floor(random() * 40)),
      maxPageBytes: 1 << 20,
      stateElementBytes: random() < 0.5 ? 4 : 2,
      workgroupSize: [4, 64, 256][Math.floor(random() * 3)]!,
      tileElements: [1, 7, 32, 1024][Math.floor(random() * 4)]!,
      vectorize: random() < 0.8,
      soloElements: 1 + Math.floor(random() * 3000),
      soloDispatches: Math.floor(random() * 4),
    },
  };
}

describe('planUnits', () => {
  for (let seed = 1; seed <= 40; seed++) {
    it(`covers every element exactly once within aligned windows (seed ${seed})`, () => {
      const { tensors, limits } = randomModel(seed);
      const { placements } = placeState(tensors, limits);
      const units = planUnits(tensors, placements, limits);
      const covered = tensors.map((t) => new Uint8Array(t.length));
      for (const unit of units) {
        for (const window of [unit.paramWindow, unit.gradWindow, unit.stateWindow]) {
          expect(window.offset % limits.storageAlignment).toBe(0);
          expect(window.size).toBeLessThanOrEqual(limits.maxBindingBytes);
        }
        const elementBytes = 4 * unit.width;
        let position = 0;
        for (const segment of unit.segments) {
          expect(segment.start).toBe(position);
          position += segment.count;
          const tensor = tensors[segment.tensor]!;
          expect(unit.param).toBe(tensor.param);
          const paramByte = unit.paramWindow.offset + segment.paramOffset * elementBytes;
          const first = (paramByte - tensor.paramOffset) / 4;
          expect(unit.gradWindow.offset + segment.gradOffset * elementBytes - tensor.gradOffset).toBe(
            first * 4,
          );
          const stateByte =
            unit.stateWindow.offset + segment.stateOffset * limits.stateElementBytes * unit.width;
          expect(stateByte / limits.stateElementBytes - placements[segment.tensor]!.offset).toBe(first);
          // The segment's bytes lie inside every window.
          expect(paramByte + segment.count * elementBytes).toBeLessThanOrEqual(
            unit.paramWindow.offset + unit.paramWindow.size,
          );
          for (let k = 0; k < segment.count * unit.width; k++) covered[segment.tensor]![first + k]!++;
        }
        // Tiles partition the index space, each inside one segment, with that segment's offsets rebased on it.
        let tileStart = 0;
        for (const tile of unit.tiles) {
          expect(tile.start).toBe(tileStart);
          expect(tile.count).toBeGreaterThan(0);
          expect(tile.count).toBeLessThanOrEqual(limits.tileElements);
          tileStart += tile.count;
          const segment = unit.segments[tile.segment]!;
          expect(tile.tensor).toBe(segment.tensor);
          expect(segment.start).toBeLessThanOrEqual(tile.start);
          expect(segment.start + segment.count).toBeGreaterThanOrEqual(tile.start + tile.count);
          const skipped = tile.start - segment.start;
          expect(tile.paramOffset).toBe(segment.paramOffset + skipped);
          expect(tile.gradOffset).toBe(segment.gradOffset + skipped);
          expect(tile.stateOffset).toBe(segment.stateOffset + skipped);
        }
        expect(tileStart).toBe(position);
      }
      for (const counts of covered) expect(counts.every((count) => count === 1)).toBe(true);
    });
  }

  it('gives the largest pieces of at least soloElements a unit of their own, at most soloDispatches', () => {
    const param = fakeBuffer('p');
    const grad = fakeBuffer('g');
    let offset = 0;
    const tensors = [100, 5000, 70, 9000, 3000].map((length) => {
      const tensor = { param, grad, length, paramOffset: offset, gradOffset: offset };
      offset += length * 4;
      return tensor;
    });
    const limits: PlanLimits = {
      storageAlignment: 256,
      maxBindingBytes: 1 << 20,
      maxPageBytes: 1 << 20,
      stateElementBytes: 4,
      workgroupSize: 64,
      tileElements: 32,
      vectorize: true,
      soloElements: 3000,
      soloDispatches: 2,
    };
    const units = planUnits(tensors, placeState(tensors, limits).placements, limits);
    const solo = units.filter((unit) => unit.segments.length === 1).map((unit) => unit.segments[0]!.tensor);
    expect(solo.sort()).toEqual([1, 3]);
    // The rest batch by width: tensor 2's vec4 body with tensor 0, its scalar tail with tensor 4 (unaligned).
    expect(units).toHaveLength(4);
    const batched = units.filter((unit) => unit.segments.length > 1).flatMap((unit) => unit.segments);
    expect(batched.map((segment) => segment.tensor).sort()).toEqual([0, 2, 2, 4]);
  });
});
