import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, delimiter, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from './buffers';

// Format: test/golden/README.md.
export type GoldenMode = 'torch' | 'original' | 'tfa' | 'optax' | 'adam' | 'adamw' | 'sgd' | 'lookahead';
/** The modes a lookahead case's `hp.inner.mode` may name. */
export type InnerMode = Exclude<GoldenMode, 'lookahead'>;
/** The state arrays a case may check. */
export type GoldenArray = 'params' | 'm' | 'v' | 'vmax' | 'slow';

export interface Tolerance {
  rtol: number;
  atol: number;
}

interface Trajectory {
  atSteps: number[];
  params: number[][];
  m: number[][];
  v: (number[] | null)[] | null;
  /** AMSGrad's max_exp_avg_sq (cases with amsgrad). */
  vmax?: number[][];
  /** Lookahead's slow weights, after that step's sync (lookahead cases). */
  slow?: number[][];
}

export interface GoldenStepInfo {
  t: number;
  rho_t?: number;
  branch: 'sgd' | 'adaptive' | 'none';
  /** Lookahead cases: whether the step ends with a sync. */
  sync?: boolean;
}

interface GeneratorSpec {
  type: 'mulberry32_uniform';
  seed: number;
  rows: number;
  scalePattern: number[];
  firstValues?: number[];
  /** Per-row factor (a per-step gradient scale). */
  rowScale?: number[];
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
    float32_vs_expected_or_expectedF32: Partial<Record<GoldenArray, Tolerance>>;
  };
  verification?: { alt?: AltVerification };
}

/** Per array, how a float32 run of another implementation compares with `expected` (Ranger's `alt`). */
interface AltVerification {
  source?: string;
  refVsAltF64?: Record<string, { maxAbs: number }>;
  refVsAltF32?: Record<string, { maxAbs: number }>;
}

/** A lookahead case's hp: the sync settings and the inner optimizer's mode and hp. */
export interface LookaheadHp {
  k: number;
  alpha: number;
  preset?: 'ranger';
  inner: Record<string, number | string | boolean> & { mode: InnerMode };
}

const here = dirname(fileURLToPath(import.meta.url));
/** The cases vendored into the repository (copied from the generator's output; never edited by hand). */
export const VENDORED_GOLDEN_DIR = resolve(here, '../golden');

/**
 * The directories whose every `*.json`, at any depth, is a golden case: test/golden plus every folder listed in
 * $RADAM_GOLDEN_DIR (separated like PATH), e.g. held-out cases kept outside the repository.
 */
export function goldenDirectories(): string[] {
  const extra = (process.env.RADAM_GOLDEN_DIR ?? '').split(delimiter).filter((dir) => dir.length > 0);
  const dirs: string[] = [];
  for (const dir of [VENDORED_GOLDEN_DIR, ...extra.map((d) => resolve(d))]) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new Error(`golden directory ${dir} does not exist (from RADAM_GOLDEN_DIR?)`);
    }
    if (!dirs.includes(realpathSync(dir))) dirs.push(realpathSync(dir));
  }
  return dirs;
}

export interface GoldenFile {
  /** Absolute path. */
  path: string;
  /** Path relative to its golden directory, prefixed by that directory's name when it is not test/golden. */
  label: string;
}

function jsonFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return jsonFilesUnder(path);
      return entry.isFile() && entry.name.endsWith('.json') ? [path] : [];
    });
}

export function listGoldenFiles(): GoldenFile[] {
  const vendored = realpathSync(VENDORED_GOLDEN_DIR);
  const seen = new Set<string>();
  return goldenDirectories().flatMap((dir) =>
    jsonFilesUnder(dir)
      .filter((path) => !seen.has(path) && seen.add(path))
      .map((path) => ({
        path,
        label: dir === vendored ? relative(dir, path) : join(basename(dir), relative(dir, path)),
      })),
  );
}

/** The case as stored, unchecked: for tests of the format's generators, which need no optimizer semantics. */
export function readGoldenJson(file: string): GoldenCase {
  return { file, ...(JSON.parse(readFileSync(file, 'utf8')) as Omit<GoldenCase, 'file'>) };
}

/** The case, after checking that this runner implements every field and hyper-parameter it uses. */
export function loadGoldenCase(file: string): GoldenCase {
  const raw: unknown = JSON.parse(readFileSync(file, 'utf8'));
  const problems = formatProblems(raw);
  if (problems.length > 0) {
    throw new Error(
      `golden case ${file} uses what this runner does not implement, so it cannot be checked ` +
        `(a runner that skipped these would test something else):\n  ${problems.join('\n  ')}`,
    );
  }
  return { file, ...(raw as Omit<GoldenCase, 'file'>) };
}

// What each part of a case may contain (../golden/README.md). Anything else is rejected rather than skipped: a
// field this runner ignores (an `hp.amsgrad: true`, an `expected.vmax`) would make it test a different optimizer.
// Informational fields (notes, verification records, the float64 implementation's tolerances) are listed too.
type Check = (value: unknown) => boolean;
const any: Check = () => true;
const number: Check = (v) => typeof v === 'number';
const boolean: Check = (v) => typeof v === 'boolean';
const oneOf =
  (...allowed: unknown[]): Check =>
  (v) =>
    allowed.includes(v);

const RADAM_HP: Record<string, Check> = {
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  decoupled: boolean,
  threshold: number,
  thresholdOp: oneOf('>', '>='),
  degeneratedToSgd: boolean,
  epsMode: oneOf('uncorrected', 'corrected'),
  maximize: boolean,
};
const ADAM_HP: Record<string, Check> = {
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  decoupled: boolean,
  maximize: boolean,
  // torch's Adam adds eps to the bias-corrected sqrt(v), the only form createAdam implements.
  epsMode: oneOf('corrected'),
  // torch's amsgrad: the denominator uses max(vmax, v); `expected.vmax` checks the max itself.
  amsgrad: boolean,
};
const INNER_HP_BY_MODE: Record<InnerMode, Record<string, Check>> = {
  torch: RADAM_HP,
  original: RADAM_HP,
  tfa: RADAM_HP,
  optax: RADAM_HP,
  adam: { ...ADAM_HP, decoupled: oneOf(false) },
  adamw: { ...ADAM_HP, decoupled: oneOf(true) },
  sgd: {
    lr: number,
    momentum: number,
    dampening: number,
    nesterov: boolean,
    weightDecay: number,
    maximize: boolean,
  },
};
const HP_BY_MODE: Record<GoldenMode, Record<string, Check>> = {
  ...INNER_HP_BY_MODE,
  lookahead: { k: number, alpha: number, preset: oneOf('ranger'), inner: isRecord },
};
// What Ranger 9.3.19 is (../golden/README.md): an inner hp that says otherwise is not a Ranger case.
const RANGER_INNER: Record<string, unknown> = {
  mode: 'torch',
  decoupled: true,
  threshold: 5,
  thresholdOp: '>',
  degeneratedToSgd: true,
  epsMode: 'uncorrected',
  maximize: false,
};
const GENERATOR: Record<string, Check> = {
  type: oneOf('mulberry32_uniform'),
  seed: number,
  rows: number,
  scalePattern: Array.isArray,
  firstValues: Array.isArray,
};
const TRAJECTORY: Record<string, Check> = { atSteps: Array.isArray, params: any, m: any, v: any };
const STEP_INFO: Record<string, Check> = {
  t: number,
  branch: oneOf('sgd', 'adaptive', 'none'),
  // The float64 reference's per-step scalars, informational here (the runner compares the branch).
  rho_t: number,
  bc1: number,
  bc2: number,
  rect: number,
  stepSize: number,
};
const LOOKAHEAD_STEP_INFO: Record<string, Check> = { ...STEP_INFO, sync: boolean };
// observedTorchF32VsF64MaxAbs: how the atol was derived, informational.
const TOLERANCE: Record<string, Check> = { rtol: number, atol: number, observedTorchF32VsF64MaxAbs: any };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every key of `value` (at `where`) not in `known`, or whose value `known[key]` does not accept. */
function unknownFields(value: unknown, known: Record<string, Check>, where: string): string[] {
  if (!isRecord(value)) return [`${where}: expected an object, got ${JSON.stringify(value)}`];
  return Object.entries(value).flatMap(([key, field]) => {
    const check = known[key];
    if (!check) return [`unknown field ${where}.${key}`];
    return check(field) ? [] : [`unsupported value ${where}.${key} = ${JSON.stringify(field)}`];
  });
}

function formatProblems(raw: unknown): string[] {
  if (!isRecord(raw)) return ['the file is not a JSON object'];
  const mode = raw.mode as GoldenMode;
  const hp = HP_BY_MODE[mode];
  const problems = unknownFields(
    raw,
    {
      name: (v) => typeof v === 'string',
      mode: (v) => typeof v === 'string' && Object.hasOwn(HP_BY_MODE, v),
      hp: isRecord,
      n: number,
      steps: number,
      note: any,
      params0: Array.isArray,
      params0Spec: (v) => v === 'explicit' || isRecord(v),
      grads: (v) => v === null || Array.isArray(v),
      gradSpec: (v) => v === 'explicit' || isRecord(v),
      atSteps: Array.isArray,
      expected: isRecord,
      expectedF32: (v) => v === null || isRecord(v),
      tolerances: isRecord,
      verification: any,
      verification_closedLoopSensitivityMaxAbs: any,
    },
    'case',
  );
  if (hp) problems.push(...unknownFields(raw.hp, hp, 'hp'));
  const lookahead = mode === 'lookahead';
  let amsgrad = false;
  if (lookahead && isRecord(raw.hp)) {
    const inner = raw.hp.inner;
    if (!isRecord(inner)) problems.push("hp.inner: expected the inner optimizer's { mode, ...hp }");
    else {
      const innerMode = inner.mode as InnerMode;
      const innerHp = Object.hasOwn(INNER_HP_BY_MODE, innerMode) ? INNER_HP_BY_MODE[innerMode] : undefined;
      if (!innerHp) problems.push(`unsupported value hp.inner.mode = ${JSON.stringify(inner.mode)}`);
      else problems.push(...unknownFields(inner, { ...innerHp, mode: any }, 'hp.inner'));
      amsgrad = inner.amsgrad === true;
      if (raw.hp.preset === 'ranger') {
        for (const [key, value] of Object.entries(RANGER_INNER)) {
          if (inner[key] !== value)
            problems.push(
              `hp.inner.${key} = ${JSON.stringify(inner[key])} is not Ranger's ${JSON.stringify(value)}`,
            );
        }
      }
    }
    const { k, alpha } = raw.hp;
    if (!(Number.isInteger(k) && (k as number) >= 1))
      problems.push(`unsupported value hp.k = ${JSON.stringify(k)}`);
    if (!(typeof alpha === 'number' && alpha > 0 && alpha <= 1))
      problems.push(`unsupported value hp.alpha = ${JSON.stringify(alpha)}`);
  } else if (isRecord(raw.hp)) {
    amsgrad = raw.hp.amsgrad === true;
  }
  // The arrays a case may check: vmax only where amsgrad is on, slow only for lookahead.
  const arrays: Record<string, Check> = { ...TRAJECTORY };
  if (amsgrad) arrays.vmax = any;
  if (lookahead) arrays.slow = any;
  if (isRecord(raw.params0Spec)) problems.push(...unknownFields(raw.params0Spec, GENERATOR, 'params0Spec'));
  if (isRecord(raw.gradSpec)) {
    const rosenbrock = raw.gradSpec.type === 'rosenbrock';
    const known = rosenbrock ? { type: any, formula: any } : { ...GENERATOR, rowScale: Array.isArray };
    problems.push(...unknownFields(raw.gradSpec, known, 'gradSpec'));
  }
  if (isRecord(raw.expected)) {
    // `f`: the Rosenbrock case's loss per atStep, informational.
    problems.push(...unknownFields(raw.expected, { ...arrays, stepInfo: Array.isArray, f: any }, 'expected'));
    const stepInfo = Array.isArray(raw.expected.stepInfo) ? raw.expected.stepInfo : [];
    const infoFields = lookahead ? LOOKAHEAD_STEP_INFO : STEP_INFO;
    const first = stepInfo.flatMap((info, i) =>
      unknownFields(info, infoFields, `expected.stepInfo[${i}]`),
    )[0];
    if (first) problems.push(first);
  }
  if (isRecord(raw.expectedF32)) {
    problems.push(...unknownFields(raw.expectedF32, { ...arrays, source: any }, 'expectedF32'));
  }
  if (isRecord(raw.tolerances)) {
    const perArray: Record<string, Check> = { params: isRecord, m: isRecord, v: isRecord };
    if (amsgrad) perArray.vmax = isRecord;
    if (lookahead) perArray.slow = isRecord;
    problems.push(
      ...unknownFields(
        raw.tolerances,
        { check: any, float64_vs_expected: any, float32_vs_expected_or_expectedF32: isRecord },
        'tolerances',
      ),
    );
    const f32 = raw.tolerances.float32_vs_expected_or_expectedF32;
    problems.push(...unknownFields(f32, perArray, 'tolerances.float32_vs_expected_or_expectedF32'));
    if (isRecord(f32)) {
      for (const [array, tolerance] of Object.entries(f32)) {
        problems.push(
          ...unknownFields(tolerance, TOLERANCE, `tolerances.float32_vs_expected_or_expectedF32.${array}`),
        );
      }
    }
  }
  if (isRecord(raw.verification) && raw.verification.alt !== undefined) {
    problems.push(...altProblems(raw.verification.alt, raw.tolerances, raw.expected));
  }
  if (
    Array.isArray(raw.atSteps) &&
    isRecord(raw.expected) &&
    JSON.stringify(raw.atSteps) !== JSON.stringify(raw.expected.atSteps)
  ) {
    problems.push('case.atSteps differs from expected.atSteps');
  }
  return problems;
}

/**
 * Ranger cases' `verification.alt`: a second float32 implementation (torch.optim.RAdam + torch-op sync) compared
 * with `expected`. The case claims it passes the float32 tolerances too; an alt record that does not, or that
 * names an array the case has no tolerance for, is a case this runner cannot vouch for.
 */
function altProblems(alt: unknown, tolerances: unknown, expected: unknown): string[] {
  if (!isRecord(alt)) return ['verification.alt: expected an object'];
  const problems = unknownFields(
    alt,
    { source: any, refVsAltF64: isRecord, refVsAltF32: isRecord },
    'verification.alt',
  );
  const f32 = isRecord(tolerances) ? tolerances.float32_vs_expected_or_expectedF32 : undefined;
  for (const which of ['refVsAltF64', 'refVsAltF32'] as const) {
    const record = alt[which];
    if (!isRecord(record)) continue;
    for (const [array, errors] of Object.entries(record)) {
      const tolerance = isRecord(f32) ? f32[array] : undefined;
      const maxAbs = isRecord(errors) ? errors.maxAbs : undefined;
      if (!isRecord(tolerance) || typeof tolerance.atol !== 'number' || typeof maxAbs !== 'number') {
        problems.push(
          `verification.alt.${which}.${array}: no float32 tolerance or maxAbs to check it against`,
        );
      } else {
        // The most the tolerance allows anywhere: atol + rtol * the largest |expected| of that array.
        const values =
          isRecord(expected) && Array.isArray(expected[array]) ? (expected[array] as unknown[]) : [];
        const largest = Math.max(0, ...values.flat().map((x) => Math.abs(Number(x))));
        const rtol = typeof tolerance.rtol === 'number' ? tolerance.rtol : 0;
        if (!(maxAbs <= tolerance.atol + rtol * largest))
          problems.push(`verification.alt.${which}.${array}.maxAbs ${maxAbs} exceeds the case's tolerance`);
      }
    }
  }
  return problems;
}

/**
 * Rows of `n` values from one mulberry32 stream, drawn row-major; value = scale[i % len] * (2u - 1), times
 * rowScale[row] when given.
 */
export function generateRows(spec: GeneratorSpec, n: number): number[][] {
  const random = mulberry32(spec.seed);
  const rows: number[][] = [];
  for (let r = 0; r < spec.rows; r++) {
    const row: number[] = [];
    const rowScale = spec.rowScale?.[r];
    for (let i = 0; i < n; i++) {
      const scale = spec.scalePattern[i % spec.scalePattern.length]!;
      const value = scale * (2 * random() - 1);
      row.push(rowScale === undefined ? value : rowScale * value);
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
