/** Small deterministic PRNG (mulberry32): the same seed gives the same data, init and batches everywhere. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Dataset {
  /** x, y pairs, row-major. */
  points: Float32Array<ArrayBuffer>;
  labels: Uint32Array<ArrayBuffer>;
  count: number;
  classes: number;
}

/**
 * Interleaved spiral arms, one class per arm. Generated rather than shipped so the page needs no download; the
 * noise makes the arms overlap a little, so no optimizer reaches zero loss and the curves stay comparable.
 */
export function spiralDataset(perClass: number, classes: number, seed: number): Dataset {
  const random = createRandom(seed);
  const count = perClass * classes;
  const points = new Float32Array(count * 2);
  const labels = new Uint32Array(count);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  for (let c = 0; c < classes; c++) {
    for (let i = 0; i < perClass; i++) {
      const k = c * perClass + i;
      const r = i / perClass;
      const angle = (c * 2 * Math.PI) / classes + r * 1.25 * 2 * Math.PI + gaussian() * 0.1;
      points[2 * k] = r * Math.cos(angle);
      points[2 * k + 1] = r * Math.sin(angle);
      labels[k] = c;
    }
  }
  return { points, labels, count, classes };
}

/** Minibatch indices for `steps` steps, drawn once so every optimizer sees exactly the same batches. */
export function batchSchedule(
  count: number,
  batch: number,
  steps: number,
  seed: number,
): Uint32Array<ArrayBuffer> {
  const random = createRandom(seed);
  const indices = new Uint32Array(steps * batch);
  for (let i = 0; i < indices.length; i++) indices[i] = Math.floor(random() * count);
  return indices;
}
