import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from './buffers';

// Format: ../shared/golden/README.md.
export type GoldenMode = 'torch' | 'original' | 'tfa' | 'optax' | 'adam' | 'adamw' | 'sgd';

export interface Tolerance {
  rtol: number;
  atol: number;
}

interface Trajectory {
  atSteps: number[];
  params: number[][];
  m: number[][];
  v: (number[] | null)[] | null;
}

export interface GoldenStepInfo {
  t: number;
  rho_t?: number;
  branch: 'sgd' | 'adaptive' | 'none';
}

interface GeneratorSpec {
  type: 'mulberry32_uniform';
  seed: number;
  rows: number;
  scalePattern: number[];
  firstValues?: number[];
}

export interface GoldenCase {
  file: string;
  name: string;
  mode: GoldenMode;
  hp: Record<string, number | string | boolean>;
  n: number;
  steps: number;
  params0: number[];
  params0Spec: GeneratorSpec | 'explicit';
  grads: number[][] | null;
  gradSpec: GeneratorSpec | { type: 'rosenbrock' } | 'explicit';
  expected: Trajectory & { stepInfo: GoldenStepInfo[] };
  expectedF32?: Trajectory;
  tolerances: {
    float32_vs_expected_or_expectedF32: Record<'params' | 'm' | 'v', Tolerance | undefined>;
  };
}

const here = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_GOLDEN_DIR = resolve(here, '../../../shared/golden');

/** The directories whose every *.json is a golden case: ../shared/golden plus $RADAM_GOLDEN_DIR when set. */
export function goldenDirectories(): string[] {
  const dirs = [DEFAULT_GOLDEN_DIR];
  const extra = process.env.RADAM_GOLDEN_DIR;
  if (extra && resolve(extra) !== DEFAULT_GOLDEN_DIR) dirs.push(resolve(extra));
  for (const dir of dirs) {
    if (!existsSync(dir)) throw new Error(`golden directory ${dir} does not exist`);
  }
  return dirs;
}

export function listGoldenFiles(): string[] {
  return goldenDirectories().flatMap((dir) =>
    readdirSync(dir)
      .filter((file) => file.endsWith('.json'))
      .sort()
      .map((file) => join(dir, file)),
  );
}

export function loadGoldenCase(file: string): GoldenCase {
  return { file, ...(JSON.parse(readFileSync(file, 'utf8')) as Omit<GoldenCase, 'file'>) };
}

/** Rows of `n` values from one mulberry32 stream, drawn row-major; value = scale[i % len] * (2u - 1). */
export function generateRows(spec: GeneratorSpec, n: number): number[][] {
  const random = mulberry32(spec.seed);
  const rows: number[][] = [];
  for (let r = 0; r < spec.rows; r++) {
    const row: number[] = [];
    for (let i = 0; i < n; i++) {
      const scale = spec.scalePattern[i % spec.scalePattern.length]!;
      row.push(scale * (2 * random() - 1));
    }
    rows.push(row);
  }
  return rows;
}

export function initialParams(golden: GoldenCase): number[] {
  if (golden.params0Spec !== 'explicit' && (!golden.params0 || golden.params0.length === 0)) {
    return generateRows({ ...golden.params0Spec, rows: 1 }, golden.n)[0]!;
  }
  return golden.params0;
}

/** Gradient for step t (1-based), given the parameters before that step (needed by the rosenbrock spec). */
export function gradientSource(golden: GoldenCase): (t: number, params: Float32Array) => number[] {
  const spec = golden.gradSpec;
  if (typeof spec === 'object' && spec.type === 'rosenbrock') {
    return (_t, p) => {
      const x = p[0]!;
      const y = p[1]!;
      const d = y - x * x;
      return [-2 * (1 - x) - 400 * x * d, 200 * d];
    };
  }
  const rows = golden.grads ?? (typeof spec === 'object' ? generateRows(spec, golden.n) : undefined);
  if (!rows) throw new Error(`${golden.name}: no grads and no generator spec`);
  return (t) => {
    const row = rows[t - 1];
    if (!row) throw new Error(`${golden.name}: no gradient row for step ${t}`);
    return row;
  };
}

/** Largest |got - exp| / (atol + rtol*|exp|): <= 1 passes. */
export function worstRatio(
  got: ArrayLike<number>,
  expected: readonly number[],
  tolerance: Tolerance,
): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const allowed = tolerance.atol + tolerance.rtol * Math.abs(expected[i]!);
    const error = Math.abs(got[i]! - expected[i]!);
    const ratio = Number.isNaN(error) ? Number.POSITIVE_INFINITY : error / allowed;
    if (ratio > worst) worst = ratio;
  }
  return worst;
}

export function maxRelativeError(got: ArrayLike<number>, expected: readonly number[]): number {
  let worst = 0;
  const floor = 1e-3 * Math.max(...expected.map(Math.abs), 0);
  for (let i = 0; i < expected.length; i++) {
    const denom = Math.max(Math.abs(expected[i]!), floor, Number.MIN_VALUE);
    worst = Math.max(worst, Math.abs(got[i]! - expected[i]!) / denom);
  }
  return worst;
}
