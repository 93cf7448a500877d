// One option table per optimizer, in the spirit of torch's `optim_inputs_func_*`: a row per option, keyed by its
// name, holding its default, the check that turns a caller's value into the resolved one, and a one-line doc. The
// tables are the only place option names are listed: option resolution, the known-key lists (and their "did you
// mean" hints), the split between group and optimizer-wide options, the tfjs names, the hardening tests and the
// README check (test/unit/option-tables.test.ts) all read them.
//
// How to add an option (one row, plus its use in the kernel):
//   1. Add the field, with its TSDoc, to the options interface (`RAdamOptions`, `AdamOptions`, `SgdOptions` in
//      options.ts; `TrainingOptions`, `ExecutionOptions` in training-options.ts). A table's type has exactly one
//      row per field of its interface, so the compiler now asks for step 2.
//   2. Add its row to that interface's table: `name: { default, check, doc }`. `default` is a plain value, or
//      `computed(text, (earlier) => value)` when it depends on rows above it (RAdam's `fromPreset`); rows resolve
//      in table order. `check(value, field)` throws a typed error naming `field` or returns the resolved value.
//      `doc` is one line, and the README must mention the option (the unit test says where it is missing).
//   3. Use the resolved value: a hyper-parameter arrives in the table's `assemble` (options.ts) and goes on to
//      layouts.ts and the WGSL; a training option in `ResolvedTraining`, an execution option in `resolveExecution`.

/** A default that depends on the rows resolved before it (e.g. on the preset); `text` documents it. */
export interface Computed<Value, Earlier> {
  readonly computed: (earlier: Earlier) => Value;
  readonly text: string;
}

/** One option: its default, its check, its one-line doc. The name is the row's key in its table. */
export interface OptionRow<Value, Earlier = unknown> {
  readonly default: Value | Computed<Value, Earlier>;
  /** Throws a typed error naming `field` for a wrong value; returns the value to use (e.g. -0 as 0, a copy). */
  readonly check: (value: unknown, field: string) => Value;
  readonly doc: string;
}

/** What a table resolves to: every option present, none undefined. */
export type Resolved<Options> = { [K in keyof Options]-?: Exclude<Options[K], undefined> };

/** Exactly one row per field of `Options`, so a field without a row (or a row without a field) does not compile. */
export type OptionTable<Options, Earlier = unknown> = {
  readonly [K in keyof Options]-?: OptionRow<Exclude<Options[K], undefined>, Earlier>;
};

export function computed<Value, Earlier>(
  text: string,
  compute: (earlier: Earlier) => Value,
): Computed<Value, Earlier> {
  return { computed: compute, text };
}

function isComputed<Value, Earlier>(
  value: Value | Computed<Value, Earlier>,
): value is Computed<Value, Earlier> {
  return typeof value === 'object' && value !== null && 'computed' in value;
}

/** The option names of a table, in its order. */
export function optionNames<Table extends object>(table: Table): (keyof Table & string)[] {
  return Object.keys(table) as (keyof Table & string)[];
}

/**
 * Each row in table order: the caller's value, or (when undefined: only undefined means "not given", an explicit
 * null is a wrong value) the row's default; either way through the row's check. Reads each option once.
 */
export function resolveTable<Options extends object, Earlier>(
  table: OptionTable<Options, Earlier>,
  options: Options,
): Resolved<Options> {
  const resolved: Record<string, unknown> = {};
  for (const name of Object.keys(table)) {
    const row = (table as Record<string, OptionRow<unknown, Earlier>>)[name]!;
    const given = (options as Record<string, unknown>)[name];
    resolved[name] = row.check(given === undefined ? defaultOf(row, resolved as Earlier) : given, name);
  }
  return resolved as Resolved<Options>;
}

/** A row's default value, computed from `earlier` where it depends on it. */
export function defaultOf<Value, Earlier>(row: OptionRow<Value, Earlier>, earlier: Earlier): Value {
  return isComputed(row.default) ? row.default.computed(earlier) : row.default;
}

/** A row's default as the docs state it. */
export function defaultText(row: OptionRow<unknown, never>): string {
  const value = row.default;
  if (isComputed(value)) return value.text;
  if (Array.isArray(value)) return `[${value.join(', ')}]`;
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'object' && value !== null) {
    return `{ ${Object.entries(value)
      .map(([key, field]) => `${key}: ${String(field)}`)
      .join(', ')} }`;
  }
  return String(value);
}
