// The option tables (src/option-table.ts) are the one list of option names: these checks keep the README, the
// tfjs names and each row's own default in step with them.
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OptimizerConfigError } from '../../src/errors';
import { defaultText, type OptionRow, optionNames, resolveTable } from '../../src/option-table';
import {
  ADAM_OPTIONS,
  ADAMW_OPTIONS,
  RADAM_OPTIONS,
  RADAM_PRESETS,
  type RAdamPreset,
  RANGER_DEFAULTS,
  RANGER_OPTIONS,
  resolveRAdamOptions,
  resolveRangerOptions,
  SGD_OPTIONS,
} from '../../src/options';
import { CORE_ONLY_KEYS, TFJS_ADAM_KEYS, TFJS_RADAM_KEYS, TFJS_SGD_KEYS } from '../../src/tfjs/options';
import { EXECUTION_OPTIONS, TRAINING_OPTIONS } from '../../src/training-options';

const TABLES = {
  RAdam: RADAM_OPTIONS,
  Adam: ADAM_OPTIONS,
  AdamW: ADAMW_OPTIONS,
  SGD: SGD_OPTIONS,
  Ranger: RANGER_OPTIONS,
  training: TRAINING_OPTIONS,
  execution: EXECUTION_OPTIONS,
} as const;

function rows(table: object): [string, OptionRow<unknown, never>][] {
  return Object.entries(table) as [string, OptionRow<unknown, never>][];
}

const README_START =
  '<!-- option tables: generated from the tables by test/unit/option-tables.test.ts; UPDATE_README=1 rewrites it -->';
const README_END = '<!-- /option tables -->';

const HEADINGS: Record<keyof typeof TABLES, string> = {
  RAdam: '`createRAdam`',
  Adam: '`createAdam`',
  AdamW: '`createAdamW`',
  SGD: '`createSGD`',
  Ranger: '`createRanger`',
  training: 'training options, every optimizer',
  execution: 'execution options (`create*(device, params, options, execution)`), every optimizer',
};

/** A markdown table padded as biome formats the README (it checks markdown too). */
function markdownTable(header: readonly string[], body: readonly string[][]): string[] {
  const widths = header.map((_, c) => Math.max(header[c]!.length, ...body.map((cells) => cells[c]!.length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...body.map(line)];
}

function renderTables(): string {
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  return Object.entries(TABLES)
    .map(([tableName, table]) =>
      [
        `${HEADINGS[tableName as keyof typeof TABLES]}:`,
        '',
        ...markdownTable(
          ['option', 'default', 'what it does'],
          rows(table).map(([name, row]) => [`\`${name}\``, cell(defaultText(row)), cell(row.doc)]),
        ),
        '',
      ].join('\n'),
    )
    .join('\n');
}

describe('option tables', () => {
  it('every row has a one-line doc and a documented default', () => {
    for (const [tableName, table] of Object.entries(TABLES)) {
      for (const [name, row] of rows(table)) {
        expect(row.doc, `${tableName}.${name}`).toMatch(/^[^\n]{10,120}$/);
        expect(defaultText(row), `${tableName}.${name}`).not.toBe('');
      }
    }
  });

  it("the README's option tables are rendered from the tables (UPDATE_README=1 rewrites them)", () => {
    const path = new URL('../../README.md', import.meta.url);
    const readme = readFileSync(path, 'utf8');
    const open = readme.indexOf(README_START);
    const close = readme.indexOf(README_END);
    expect(open, 'the README has the option-table markers').toBeGreaterThan(0);
    const rendered = `${README_START}\n${renderTables()}${README_END}`;
    const current = readme.slice(open, close + README_END.length);
    if (process.env.UPDATE_README === '1' && current !== rendered) {
      writeFileSync(path, readme.replace(current, rendered));
      return;
    }
    expect(current).toBe(rendered);
  });

  it('each default passes its own check, for every preset', () => {
    for (const table of [ADAM_OPTIONS, ADAMW_OPTIONS, SGD_OPTIONS, RANGER_OPTIONS, TRAINING_OPTIONS]) {
      expect(() => resolveTable(table as never, {})).not.toThrow();
    }
    for (const preset of Object.keys(RADAM_PRESETS) as RAdamPreset[]) {
      const resolved = resolveTable(RADAM_OPTIONS, { preset });
      expect(resolved).toMatchObject({ preset, ...RADAM_PRESETS[preset] });
    }
  });

  it('resolves in table order, reads each option once, and treats only undefined as "not given"', () => {
    expect(optionNames(RADAM_OPTIONS)[0]).toBe('preset');
    let reads = 0;
    const options = {
      get lr() {
        reads++;
        return 0.5;
      },
    };
    expect(resolveTable(SGD_OPTIONS, options).lr).toBe(0.5);
    expect(reads).toBe(1);
    expect(resolveTable(ADAMW_OPTIONS, { weightDecay: undefined }).weightDecay).toBe(1e-2);
    expect(() => resolveTable(ADAM_OPTIONS, { eps: null as never })).toThrow(OptimizerConfigError);
    expect(resolveRAdamOptions({ preset: 'tfa', eps: undefined }).eps).toBe(1e-7);
  });

  it("Ranger's table holds its defaults, and resolves to RAdam's torch preset with decoupled decay", () => {
    const { preset: _preset, ...defaults } = resolveTable(RADAM_OPTIONS, {});
    expect(resolveTable(RANGER_OPTIONS, {})).toEqual({
      lr: RANGER_DEFAULTS.lr,
      betas: RANGER_DEFAULTS.betas,
      eps: RANGER_DEFAULTS.eps,
      weightDecay: RANGER_DEFAULTS.weightDecay,
      maximize: defaults.maximize,
      lookahead: RANGER_DEFAULTS.lookahead,
    });
    expect(resolveRangerOptions({})).toMatchObject({
      kind: 'rectified',
      ...RADAM_PRESETS.torch,
      eps: RANGER_DEFAULTS.eps,
      decoupledWeightDecay: true,
      lookaheadK: RANGER_DEFAULTS.lookahead.k,
      lookaheadAlpha: RANGER_DEFAULTS.lookahead.alpha,
    });
    // Lookahead is off by default everywhere else, and { k: 0 } (the resolved "off") is still a caller's error.
    expect(resolveRAdamOptions({})).toMatchObject({ lookaheadK: 0, lookaheadAlpha: 0, amsgrad: false });
    expect(() => resolveRAdamOptions({ lookahead: { k: 0, alpha: 0 } })).toThrow(/lookahead\.k/);
  });

  it('the tfjs names are the core tables renamed (lr, betas, eps), in the same order, with fused first', () => {
    const renamed = (keys: readonly string[]) =>
      keys
        .filter((key) => !CORE_ONLY_KEYS.includes(key))
        .flatMap((key) =>
          key === 'lr'
            ? ['learningRate']
            : key === 'betas'
              ? ['beta1', 'beta2']
              : key === 'eps'
                ? ['epsilon']
                : [key],
        );
    expect(TFJS_RADAM_KEYS).toEqual(['fused', ...renamed(optionNames(RADAM_OPTIONS))]);
    expect(TFJS_ADAM_KEYS).toEqual(['fused', ...renamed(optionNames(ADAM_OPTIONS))]);
    expect(TFJS_SGD_KEYS).toEqual(['fused', ...renamed(optionNames(SGD_OPTIONS))]);
    expect(TFJS_RADAM_KEYS).toContain('degeneratedToSgd');
    // The tfjs optimizers implement neither AMSGrad nor Lookahead: unknown keys there, as before.
    for (const key of CORE_ONLY_KEYS) {
      expect(optionNames(ADAM_OPTIONS)).toContain(key);
      expect([...TFJS_RADAM_KEYS, ...TFJS_ADAM_KEYS, ...TFJS_SGD_KEYS]).not.toContain(key);
    }
  });
});
