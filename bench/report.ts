// Turns measured records into the ratios, the stdout table and bench/RESULTS.md. Every number printed here comes
// from a record of this run; nothing is filled in when a workload is missing (it shows as "n/a").
import type { TimingPlan } from './measure';
import {
  type BenchRecord,
  type RuntimeName,
  type RuntimeSummary,
  TFJS_FIT_VARIABLES,
  TFJS_MODEL_PARAMS,
} from './suite';

export interface Ratios {
  /** fused adaptive GB/s ÷ seven-stream GB/s, largest N. */
  fusedVsRoofline: number | null;
  /** unfused ms ÷ fused ms (adaptive branch), largest N. */
  fusedVsUnfused: number | null;
  /** tfjs Adam ms ÷ fused ms, one tensor, largest N. */
  fusedVsTfjs: number | null;
  /** tfjs Adam ms ÷ fused ms, both with the model split into 100 tensors, largest N. */
  fusedVsTfjs100: number | null;
  /** JS loop ms ÷ fused ms, largest N. */
  fusedVsJs: number | null;
  /** fused ms with 1000 tensors ÷ fused ms with one tensor of the same total size, largest N. */
  multi1000VsFlat: number | null;
  /** Ranger ms on a Lookahead sync step ÷ on a plain step, largest N (the bytes say 36 / 28 ≈ 1.29). */
  rangerSyncVsPlain: number | null;
  /** Adam with AMSGrad ms ÷ RAdam's adaptive step ms, largest N (the bytes say 36 / 28 ≈ 1.29). */
  amsgradVsFused: number | null;
  /** Bytes of RAdam's moment buffers with bf16 moments ÷ with f32 moments, largest N. */
  stateBytesBf16VsF32: number | null;
  /** fused adaptive ms with bf16 moments ÷ with f32 moments, largest N (the bytes say 20 / 28 ≈ 0.71). */
  bf16VsF32Time: number | null;
  /** tf.train.adam ms ÷ webgpu-radam/tfjs radam ms, one optimizer application, one variable, TFJS_MODEL_PARAMS. */
  tfjsOptimizerVsTfjsAdam: number | null;
  /** The same with the parameters split into 100 variables. */
  tfjsOptimizer100VsTfjsAdam: number | null;
  /** One model.fit batch trained by tf.train.adam ÷ by our radam, same model (TFJS_MODEL_PARAMS weights). */
  tfjsFitVsTfjsAdam: number | null;
}

export interface Target {
  ratio: keyof Ratios;
  /** Met when the ratio is at least (or, for 'max', at most) this value. */
  bound: number;
  kind: 'min' | 'max';
  label: string;
}

export const TARGETS: Target[] = [
  { ratio: 'fusedVsRoofline', bound: 0.85, kind: 'min', label: 'fused step ≥ 85 % of the 7-stream roofline' },
  { ratio: 'fusedVsUnfused', bound: 3, kind: 'min', label: '≥ 3× the unfused RAdam' },
  { ratio: 'fusedVsTfjs', bound: 8, kind: 'min', label: '≥ 8× tfjs Adam, one tensor' },
  { ratio: 'fusedVsTfjs100', bound: 15, kind: 'min', label: '≥ 15× tfjs Adam, 100 tensors' },
  { ratio: 'multi1000VsFlat', bound: 1.2, kind: 'max', label: '1 000 tensors within 1.2× of one tensor' },
  { ratio: 'stateBytesBf16VsF32', bound: 0.52, kind: 'max', label: 'bf16 moments take half the bytes' },
  { ratio: 'bf16VsF32Time', bound: 0.769, kind: 'max', label: 'bf16 moments ≥ 1.3× faster (on a GPU)' },
  {
    ratio: 'tfjsOptimizerVsTfjsAdam',
    bound: 5,
    kind: 'min',
    label: 'webgpu-radam/tfjs ≥ 5× tf.train.adam, one variable',
  },
  {
    ratio: 'tfjsOptimizer100VsTfjsAdam',
    bound: 10,
    kind: 'min',
    label: 'webgpu-radam/tfjs ≥ 10× tf.train.adam, 100 variables',
  },
];

export interface BenchReport {
  schema: 1;
  timestamp: string;
  /** The command line that produced the run. */
  command: string;
  mode: 'quick' | 'full';
  /** A full run written under its own name (`--label`), e.g. one on a GPU machine. */
  label?: string;
  /** false when no browser was there to draw the chart. */
  chart?: boolean;
  sizes: number[];
  durationS: number;
  /** How each workload was sampled: `rounds` passes over the list, `plan.samples` samples per pass. */
  timing: { rounds: number; plan: TimingPlan };
  /** The machine the run shared: other processes' load skews CPU-emulated numbers. */
  host: { platform: string; cpus: number; loadAverageBefore: number[]; loadAverageAfter: number[] };
  /** The runtime whose ratios are the headline: Chromium where it ran (it has every peer), else Node. */
  runtime: RuntimeSummary | null;
  adapter: RuntimeSummary['adapter'] | null;
  runtimes: RuntimeSummary[];
  results: BenchRecord[];
  ratios: Ratios;
  ratiosByRuntime: Partial<Record<RuntimeName, Ratios>>;
  failures: string[];
}

function find(
  records: readonly BenchRecord[],
  runtime: RuntimeName,
  workload: string,
  n: number,
  tensors = 1,
): BenchRecord | undefined {
  return records.find(
    (r) =>
      r.runtime === runtime &&
      r.workload === workload &&
      r.n === n &&
      r.tensors === tensors &&
      r.error === undefined,
  );
}

function quotient(numerator: number | undefined, denominator: number | undefined): number | null {
  if (numerator === undefined || denominator === undefined || !(denominator > 0)) return null;
  const value = numerator / denominator;
  return Number.isFinite(value) ? value : null;
}

export function computeRatios(records: readonly BenchRecord[], runtime: RuntimeName, n: number): Ratios {
  const ms = (workload: string, tensors = 1) => find(records, runtime, workload, n, tensors)?.msPerStep;
  const fused = ms('fused-adaptive');
  return {
    fusedVsRoofline: quotient(
      find(records, runtime, 'fused-adaptive', n)?.gbps,
      find(records, runtime, 'seven-stream', n)?.gbps,
    ),
    fusedVsUnfused: quotient(ms('unfused-adaptive'), fused),
    fusedVsTfjs: quotient(ms('tfjs-adam'), fused),
    fusedVsTfjs100: quotient(ms('tfjs-adam', 100), ms('multi-tensor', 100)),
    fusedVsJs: quotient(ms('js-loop'), fused),
    multi1000VsFlat: quotient(ms('multi-tensor', 1000), ms('multi-tensor', 1)),
    rangerSyncVsPlain: quotient(ms('ranger-sync'), ms('ranger-plain')),
    amsgradVsFused: quotient(ms('adam-amsgrad'), fused),
    stateBytesBf16VsF32: quotient(
      find(records, runtime, 'fused-adaptive bf16', n)?.momentBytes,
      find(records, runtime, 'fused-adaptive', n)?.momentBytes,
    ),
    bf16VsF32Time: quotient(ms('fused-adaptive bf16'), fused),
    ...tfjsRatios(records, runtime),
  };
}

/** The TensorFlow.js user's ratios, at the tfjs rows' own model size whatever the run's sizes. */
function tfjsRatios(
  records: readonly BenchRecord[],
  runtime: RuntimeName,
): Pick<Ratios, 'tfjsOptimizerVsTfjsAdam' | 'tfjsOptimizer100VsTfjsAdam' | 'tfjsFitVsTfjsAdam'> {
  const ms = (workload: string, tensors: number) =>
    find(records, runtime, workload, TFJS_MODEL_PARAMS, tensors)?.msPerStep;
  return {
    tfjsOptimizerVsTfjsAdam: quotient(ms('tfjs-adam', 1), ms('tfjs-radam', 1)),
    tfjsOptimizer100VsTfjsAdam: quotient(ms('tfjs-adam', 100), ms('tfjs-radam', 100)),
    tfjsFitVsTfjsAdam: quotient(
      ms('tfjs-fit-adam', TFJS_FIT_VARIABLES),
      ms('tfjs-fit-radam', TFJS_FIT_VARIABLES),
    ),
  };
}

export function targetMet(target: Target, value: number | null): boolean | null {
  if (value === null) return null;
  return target.kind === 'min' ? value >= target.bound : value <= target.bound;
}

export function formatCount(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)}M`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)}K`;
  return String(n);
}

function fixed(value: number | null | undefined, digits: number): string {
  return value === null || value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits);
}

/** Table rows for one runtime; shared by the stdout table and the markdown. */
function rows(records: readonly BenchRecord[], runtime: RuntimeName): string[][] {
  const header = [
    'workload',
    'N',
    'tensors',
    'ms/step',
    'spread',
    'GB/s',
    '% roofline',
    'fused ×',
    'dispatches',
    'host ms',
    'GPU ms',
  ];
  const body = records
    .filter((r) => r.runtime === runtime)
    .map((r) => {
      if (r.error !== undefined || r.msPerStep === undefined) {
        return [r.workload, formatCount(r.n), String(r.tensors), 'FAILED', '', '', '', '', '', '', ''];
      }
      const roof = find(records, runtime, 'seven-stream', r.n)?.gbps;
      // The speed-up column compares each peer with our step on the same layout.
      // tf.train.adam and a model.fit with it compare with webgpu-radam/tfjs where the core's rows are absent
      // (the tfjs rows' model size in a quick run).
      const ours =
        r.kind === 'tfjs-fit-adam'
          ? find(records, runtime, 'tfjs-fit-radam', r.n, r.tensors)
          : ((r.kind === 'tfjs' && r.tensors > 1
              ? find(records, runtime, 'multi-tensor', r.n, r.tensors)
              : find(records, runtime, 'fused-adaptive', r.n)) ??
            (r.kind === 'tfjs' ? find(records, runtime, 'tfjs-radam', r.n, r.tensors) : undefined));
      const isPeer =
        r.kind === 'unfused' || r.kind === 'tfjs' || r.kind === 'js' || r.kind === 'tfjs-fit-adam';
      const spread =
        r.minMsPerStep !== undefined && r.maxMsPerStep !== undefined
          ? `±${fixed((50 * (r.maxMsPerStep - r.minMsPerStep)) / r.msPerStep, 1)}%`
          : '';
      return [
        r.workload,
        formatCount(r.n),
        String(r.tensors),
        fixed(r.msPerStep, 3),
        spread,
        fixed(r.gbps, 2),
        roof && r.gbps !== undefined ? fixed((100 * r.gbps) / roof, 0) : 'n/a',
        isPeer ? fixed(quotient(r.msPerStep, ours?.msPerStep), 2) : '',
        r.dispatchesPerStep === undefined ? '' : String(r.dispatchesPerStep),
        fixed(r.hostMsPerStep, 3),
        fixed(r.gpuMsPerStep, 3),
      ];
    });
  return [header, ...body];
}

function padTable(table: string[][]): string {
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => (row[c] ?? '').length)));
  return table
    .map((row) =>
      row.map((cell, c) => (c < 3 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '),
    )
    .join('\n');
}

function markdownTable(table: string[][]): string {
  const [header, ...body] = table;
  const line = (row: string[]) => `| ${row.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`;
  return [
    line(header!),
    `|${header!.map((_, c) => (c < 3 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}

export function describeAdapterSummary(runtime: RuntimeSummary): string {
  const a = runtime.adapter;
  const parts = [a.vendor, a.architecture, a.device, a.description].filter((s) => s.length > 0);
  return `${parts.join(' / ')}${a.isFallbackAdapter ? ' (fallback adapter)' : ''}`;
}

function ratioLines(ratios: Ratios): string[][] {
  const header = ['ratio', 'measured', 'target', 'met'];
  const body = (Object.keys(ratios) as (keyof Ratios)[]).map((key) => {
    const target = TARGETS.find((t) => t.ratio === key);
    const met = target ? targetMet(target, ratios[key]) : null;
    return [
      key,
      fixed(ratios[key], 3),
      target ? `${target.kind === 'min' ? '≥' : '≤'} ${target.bound}` : '—',
      target ? (met === null ? 'n/a' : met ? 'yes' : 'NO') : '',
    ];
  });
  return [header, ...body];
}

export function formatStdout(report: BenchReport): string {
  const out: string[] = [];
  for (const runtime of report.runtimes) {
    out.push('', `== ${runtime.name}: ${runtime.version}`, `   adapter: ${describeAdapterSummary(runtime)}`);
    out.push(padTable(rows(report.results, runtime.name)));
    const ratios = report.ratiosByRuntime[runtime.name];
    if (ratios) {
      out.push('', `   ratios at N = ${formatCount(Math.max(...report.sizes))}:`);
      out.push(padTable(ratioLines(ratios)));
    }
  }
  if (report.failures.length > 0) out.push('', 'FAILURES:', ...report.failures.map((f) => `  ${f}`));
  return out.join('\n');
}

function defaultsVerdict(fused: BenchRecord, scalar: BenchRecord, wg64: BenchRecord): string {
  const ms = fused.msPerStep ?? Number.NaN;
  const slower = [
    (scalar.msPerStep ?? 0) > ms ? 'vec4 loads' : undefined,
    (wg64.msPerStep ?? 0) > ms ? 'workgroups of 256' : undefined,
  ].filter((s): s is string => s !== undefined);
  if (slower.length === 2) return 'both defaults measured faster than the alternatives';
  if (slower.length === 1) return `only ${slower[0]} measured faster than the alternative`;
  return 'neither default measured faster here: worth a look in the library';
}

/** Explanations for missed targets, each built from this run's own measurements. */
function missedTargetNotes(report: BenchReport, runtime: RuntimeSummary): string[] {
  const ratios = report.ratiosByRuntime[runtime.name];
  if (!ratios) return [];
  const n = Math.max(...report.sizes);
  const rec = (workload: string, tensors = 1) => find(report.results, runtime.name, workload, n, tensors);
  const emulated = runtime.adapter.isFallbackAdapter || /swiftshader/i.test(describeAdapterSummary(runtime));
  const notes: string[] = [];
  const missed = (key: keyof Ratios) => {
    const target = TARGETS.find((t) => t.ratio === key);
    return target !== undefined && targetMet(target, ratios[key]) === false;
  };
  if (missed('fusedVsRoofline')) {
    const momentum = rec('fused-momentum');
    const seven = rec('seven-stream');
    notes.push(
      `**Roofline (${fixed(ratios.fusedVsRoofline, 2)} of the 7-stream kernel).** Both kernels move the same 28 B ` +
        'per parameter with the same vec4 loads and workgroup size, so the difference is the work per element: ' +
        'the fused step updates two moments, reads its factors from a uniform struct and switches on the branch, ' +
        `where the 7-stream kernel does three multiply-adds. The momentum branch (no sqrt or divide) reaches ` +
        `${fixed(momentum?.gbps, 2)} GB/s and the adaptive branch ${fixed(rec('fused-adaptive')?.gbps, 2)} GB/s ` +
        `against the 7-stream kernel's ${fixed(seven?.gbps, 2)} GB/s. ` +
        (emulated
          ? 'On this CPU-emulated adapter every WGSL instruction runs as CPU code, so the kernel is ' +
            'compute-bound and extra arithmetic costs time directly; on a GPU both kernels are memory-bound ' +
            'and this ratio is the one to re-measure there.'
          : 'Profile the arithmetic per element (sqrt, divide, the uniform switch) on this adapter.'),
    );
    const scalar = rec('fused-adaptive scalar');
    const wg64 = rec('fused-adaptive wg64');
    const fused = rec('fused-adaptive');
    if (scalar && wg64 && fused) {
      notes.push(
        `Profile at N = ${formatCount(n)}: the shipped configuration (vec4 loads, workgroup 256) takes ` +
          `${fixed(fused.msPerStep, 2)} ms; scalar loads take ${fixed(scalar.msPerStep, 2)} ms and workgroups of ` +
          `64 take ${fixed(wg64.msPerStep, 2)} ms (${defaultsVerdict(fused, scalar, wg64)}). The step ` +
          `writes one 48-byte uniform slot per step (host time ${fixed(fused.hostMsPerStep, 3)} ms) and ` +
          `dispatches ${fused.dispatchesPerStep ?? 'n/a'} time(s), so neither uniform updates nor dispatch shape ` +
          'explain the gap.',
      );
    }
  }
  if (missed('fusedVsUnfused')) {
    const unfused = rec('unfused-adaptive');
    notes.push(
      `**Unfused (${fixed(ratios.fusedVsUnfused, 2)}×).** The unfused step runs ${unfused?.dispatchesPerStep ?? 'n/a'} ` +
        'dispatches that each stream 2–3 full arrays. ' +
        (emulated
          ? 'On an emulator that is compute-bound the extra loads and stores cost less than on a GPU, where ' +
            'they are the whole cost.'
          : ''),
    );
  }
  if (missed('fusedVsTfjs') || missed('fusedVsTfjs100')) {
    notes.push(
      `**TensorFlow.js (${fixed(ratios.fusedVsTfjs, 2)}× on one tensor, ${fixed(ratios.fusedVsTfjs100, 2)}× on ` +
        `100).** tfjs Adam takes ${fixed(rec('tfjs-adam')?.msPerStep, 2)} ms per step on one tensor and ` +
        `${fixed(rec('tfjs-adam', 100)?.msPerStep, 2)} ms on 100 (host time issuing its ops: ` +
        `${fixed(rec('tfjs-adam', 100)?.hostMsPerStep, 2)} ms); the rest is its chain of per-op kernels, each a ` +
        'full pass over memory. ' +
        (emulated
          ? 'On a compute-bound emulator those extra passes cost relatively less than on a memory-bound GPU, ' +
            'so this adapter is expected to understate the gap; the headline comparison needs a GPU.'
          : 'Those extra memory passes and dispatches set the ratio.'),
    );
  }
  if (missed('tfjsOptimizerVsTfjsAdam') || missed('tfjsOptimizer100VsTfjsAdam')) {
    const at = (workload: string, tensors: number) =>
      find(report.results, runtime.name, workload, TFJS_MODEL_PARAMS, tensors);
    notes.push(
      `**webgpu-radam/tfjs vs tf.train.adam (${fixed(ratios.tfjsOptimizerVsTfjsAdam, 2)}× on one variable, ` +
        `${fixed(ratios.tfjsOptimizer100VsTfjsAdam, 2)}× on 100).** Our tfjs radam takes ` +
        `${fixed(at('tfjs-radam', 1)?.msPerStep, 2)} / ${fixed(at('tfjs-radam', 100)?.msPerStep, 2)} ms per ` +
        `application (host ${fixed(at('tfjs-radam', 1)?.hostMsPerStep, 2)} / ` +
        `${fixed(at('tfjs-radam', 100)?.hostMsPerStep, 2)} ms), the core's fused step on the same parameters ` +
        `${fixed(find(report.results, runtime.name, 'fused-adaptive', TFJS_MODEL_PARAMS)?.msPerStep, 2)} ms: ` +
        'the difference is the tfjs side (submitting its pending work, looking up each tensor, the step scalars).',
    );
  }
  if (missed('multi1000VsFlat')) {
    const many = rec('multi-tensor', 1000);
    const one = rec('multi-tensor', 1);
    notes.push(
      `**1 000 tensors (${fixed(ratios.multi1000VsFlat, 2)}× one tensor).** The optimizer records ` +
        `${many?.dispatchesPerStep ?? 'n/a'} dispatches per step for 1 000 tensors against ` +
        `${one?.dispatchesPerStep ?? 'n/a'} for one (host time ${fixed(many?.hostMsPerStep, 3)} vs ` +
        `${fixed(one?.hostMsPerStep, 3)} ms per step)` +
        ((many?.dispatchesPerStep ?? 0) >= 1000
          ? ': each tensor is still its own dispatch, and each dispatch has a fixed cost.'
          : ': dispatches are not the cost. One big tensor runs the lookup-free kernel (offsets and scalars as ' +
            'uniforms), while 1 000 small ones run the batched kernel, where every invocation loads its tile, ' +
            'segment and tensor scalars from storage; on a compute-bound emulator those loads cost about as much ' +
            'as the update. On a GPU they are cached broadcasts next to 28 B of memory traffic per element, and ' +
            'the alternative, one dispatch per tensor, costs microseconds each: re-measure this row there.'),
    );
  }
  if (missed('bf16VsF32Time')) {
    const many = rec('multi-tensor bf16', 1000);
    notes.push(
      `**bf16 moments (${fixed(ratios.bf16VsF32Time, 2)}× the f32 step's time).** The bf16 step moves 20 B per ` +
        `parameter instead of 28 (${fixed(rec('fused-adaptive bf16')?.gbps, 2)} GB/s of that at ` +
        `${fixed(rec('fused-adaptive bf16')?.msPerStep, 2)} ms) but adds per element a hash for the stochastic ` +
        'rounding and the packing of two halves per word. ' +
        (emulated
          ? 'On this CPU-emulated adapter the step is compute-bound, so the integer work costs time and the bytes ' +
            'saved gain little; on a GPU the step is memory-bound and the bytes set the time: run `npm run bench` ' +
            'there for this ratio.'
          : 'Profile the rounding (hash, pack) on this adapter.') +
        (many ? ` With 1 000 tensors the bf16 step takes ${fixed(many.msPerStep, 2)} ms.` : ''),
    );
  }
  const measured = report.results.filter((r) => r.runtime === runtime.name && r.msPerStep !== undefined);
  const noisy = measured.filter(
    (r) =>
      r.minMsPerStep !== undefined &&
      r.maxMsPerStep !== undefined &&
      (r.maxMsPerStep - r.minMsPerStep) / r.msPerStep! > 1,
  );
  if (noisy.length > 0) {
    notes.push(
      `**Noise.** ${noisy.length} of ${measured.length} rows have a spread above ±50 % (samples ranging over more ` +
        'than their median): other processes competed for the CPUs that emulate the adapter. Their medians ' +
        'are pooled across rounds, but rerun on a quiet machine before drawing conclusions from them.',
    );
  }
  return notes;
}

export function formatMarkdown(report: BenchReport, command: string): string {
  const lines: string[] = [
    '# Benchmark results',
    '',
    `Generated by \`${command}\` on ${report.timestamp} (${report.mode} mode, N = ` +
      `${report.sizes.map(formatCount).join(', ')}; ${report.durationS.toFixed(0)} s). Regenerate with ` +
      (report.label !== undefined
        ? `\`${command}\`; raw numbers in \`bench/results/${report.label}.json\`.`
        : report.mode === 'quick'
          ? '`npm run bench -- --quick`; raw numbers in `bench/results/quick.json`.'
          : '`npm run bench`; raw numbers in `bench/results/latest.json`.'),
    '',
    `msPerStep is the median wall time per step over ${report.timing.rounds * report.timing.plan.samples} ` +
      `samples (${report.timing.rounds} rounds over the whole list, alternately forwards and backwards, ` +
      `${report.timing.plan.samples} samples per round of ${report.timing.plan.minStepsPerSample}–` +
      `${report.timing.plan.maxStepsPerSample} steps, as many as last about ${report.timing.plan.targetSampleMs} ms ` +
      'by a timed calibration batch after the warm-up; one submit per step, timed to `onSubmittedWorkDone()`), ' +
      'GB/s counts the 28 B per parameter an Adam-like step must move (8 B for copy), "% roofline" divides by ' +
      'the 7-stream kernel at the same N, and "fused ×" is how many times slower the peer is than our step on ' +
      'the same layout (> 1: we are faster). Spread is ±half the min–max range of the samples.',
    '',
  ];
  lines.push(
    `Host: ${report.host.platform}, ${report.host.cpus} CPUs, 1-minute load average ` +
      `${report.host.loadAverageBefore[0]?.toFixed(2)} before and ${report.host.loadAverageAfter[0]?.toFixed(2)} ` +
      'after the run' +
      (report.runtimes.some((r) => r.adapter.isFallbackAdapter || /swiftshader/i.test(r.adapter.description))
        ? ' (a CPU-emulated adapter shares these CPUs with everything else on the machine).'
        : '.'),
    '',
  );
  if (
    report.runtimes.some((r) => r.adapter.isFallbackAdapter || /swiftshader/i.test(r.adapter.description))
  ) {
    lines.push(
      '> These numbers come from SwiftShader, a CPU emulation of a GPU. Absolute speeds ' +
        "are an emulator's, and it is compute-bound rather than memory-bound; ratios between GPU workloads on " +
        'the same adapter are meaningful, headline numbers need a real GPU.',
      '',
    );
  }
  const primary = report.runtime;
  if (primary) {
    lines.push(
      `## Headline ratios (${primary.name}, ${describeAdapterSummary(primary)}, N = ${formatCount(Math.max(...report.sizes))})`,
      '',
      markdownTable(ratioLines(report.ratios)),
      '',
    );
  }
  // RESULTS.md sits in bench/, quick.md beside its chart in bench/results/; a run without a browser has none.
  if (report.chart !== false) {
    const chart =
      report.label !== undefined
        ? `results/${report.label}-chart.png`
        : report.mode === 'quick'
          ? 'quick-chart.png'
          : 'results/chart.png';
    lines.push(`![benchmark chart](${chart})`, '');
  }
  for (const runtime of report.runtimes) {
    lines.push(
      `## ${runtime.name}`,
      '',
      `- runtime: ${runtime.version}`,
      `- adapter: ${describeAdapterSummary(runtime)}`,
      `- timestamp-query: ${runtime.timestampQuery ? 'yes (GPU ms column)' : 'no'}`,
      '',
      markdownTable(rows(report.results, runtime.name)),
      '',
    );
    const ratios = report.ratiosByRuntime[runtime.name];
    if (ratios && runtime !== primary) lines.push(markdownTable(ratioLines(ratios)), '');
    const notes = missedTargetNotes(report, runtime);
    if (notes.length > 0)
      lines.push(`### Missed targets and caveats on ${runtime.name}`, '', ...notes.flatMap((n) => [n, '']));
  }
  if (report.failures.length > 0) {
    lines.push('## Failures', '', ...report.failures.map((f) => `- ${f}`), '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
