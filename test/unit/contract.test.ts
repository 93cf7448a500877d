// The host↔WGSL contract, checked without a GPU: every binding written out in shaders/*.wgsl against the binding
// tables of src/contract.ts, every struct against its TS declaration, every code the WGSL names against the
// generated prelude, and every entry point's bind-group table against the globals the entry point reaches.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BRANCH,
  CALL,
  FLAG,
  KIND,
  OPTIMIZER_STRUCTS,
  STREAM_PARAMS,
  type StructLayout,
  wgslConstantName,
} from '../../src/contract';
import { OPTIMIZER_BINDINGS, OPTIMIZER_ENTRY_POINTS, STREAM_BINDINGS } from '../../src/contract-bindings';
import { OPTIMIZER_PRELUDE } from '../../src/contract-wgsl';
import { momentAccess } from '../../src/shaders';

const read = (name: string) => readFileSync(new URL(`../../shaders/${name}`, import.meta.url), 'utf8');
const stripComments = (text: string) => text.replace(/\/\/[^\n]*/g, '');

const FILES = {
  common: read('common.wgsl'),
  units: read('units.wgsl'),
  optimizer: read('optimizer.wgsl'),
  gradStats: read('grad-stats.wgsl'),
  streams: read('streams.wgsl'),
};
const OPTIMIZER_FAMILY = [FILES.units, FILES.optimizer, FILES.gradStats];

interface ParsedBinding {
  binding: number;
  kind: string;
  name: string;
}

function bindingsOf(text: string): ParsedBinding[] {
  const kinds: Record<string, string> = {
    'storage, read': 'read-only-storage',
    'storage, read_write': 'storage',
    uniform: 'uniform',
  };
  return [...stripComments(text).matchAll(/@group\(0\)\s*@binding\((\d+)\)\s*var<([^>]+)>\s*(\w+)\s*:/g)].map(
    (match) => ({ binding: Number(match[1]), kind: kinds[match[2]!.trim()] ?? match[2]!, name: match[3]! }),
  );
}

function structsOf(text: string): Map<string, string[]> {
  const structs = new Map<string, string[]>();
  for (const match of stripComments(text).matchAll(/struct\s+(\w+)\s*\{([^}]*)\}/g)) {
    // Commas inside <…> (array<T, N>) do not separate fields.
    const fields = match[2]!
      .split(/,(?![^<]*>)/)
      .map((field) => field.trim().replace(/\s+/g, ' '))
      .filter((field) => field !== '');
    expect(structs.has(match[1]!), `struct ${match[1]} declared twice`).toBe(false);
    structs.set(match[1]!, fields);
  }
  return structs;
}

function declaredFields(layout: StructLayout<string>): string[] {
  const fields = layout.fields.map((field) => `${field}: ${layout.types[field]}`);
  if (layout.tail) fields.push(`${layout.tail.name}: ${layout.tail.type}`);
  return fields;
}

/** Every function's body, by name (brace matching; WGSL has no braces in strings). */
function functionsOf(text: string): Map<string, string> {
  const source = stripComments(text);
  const functions = new Map<string, string>();
  for (const match of source.matchAll(/\bfn\s+(\w+)\s*\(/g)) {
    let at = source.indexOf('{', match.index);
    let depth = 0;
    do {
      if (source[at] === '{') depth++;
      if (source[at] === '}') depth--;
      at++;
    } while (depth > 0);
    functions.set(match[1]!, source.slice(match.index, at));
  }
  return functions;
}

/** The identifiers an entry point reaches, through the functions it calls; member names (`x.count`) excluded. */
function reachedIdentifiers(functions: Map<string, string>, entry: string): Set<string> {
  const reached = new Set<string>();
  const pending = [entry];
  const visited = new Set<string>();
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (visited.has(name)) continue;
    visited.add(name);
    const body = functions.get(name)!;
    for (const [identifier] of body.matchAll(/(?<![.\w])[A-Za-z_]\w*/g)) reached.add(identifier);
    // Only calls lead elsewhere: a local named like a function (`let step = …`) does not.
    for (const [, callee] of body.matchAll(/(?<![.\w])([A-Za-z_]\w*)\s*\(/g)) {
      if (functions.has(callee!) && callee !== name) pending.push(callee!);
    }
  }
  return reached;
}

describe('bindings', () => {
  it('every optimizer-family binding is declared once, with the number and kind of its table entry', () => {
    const declared = OPTIMIZER_FAMILY.flatMap(bindingsOf);
    const expected = Object.entries(OPTIMIZER_BINDINGS).map(([name, decl]) => ({
      binding: decl.binding,
      kind: decl.kind,
      name,
    }));
    const byName = (a: ParsedBinding, b: ParsedBinding) => a.name.localeCompare(b.name);
    expect(declared.sort(byName)).toEqual(expected.sort(byName));
    expect(new Set(declared.map((b) => b.binding)).size).toBe(declared.length);
  });

  it('the streams kernels bind what STREAM_BINDINGS says', () => {
    const expected = Object.entries(STREAM_BINDINGS).map(([name, decl]) => ({
      binding: decl.binding,
      kind: decl.kind,
      name,
    }));
    expect(bindingsOf(FILES.streams)).toEqual(expected);
  });

  it("each entry point's table lists exactly the globals it reaches", () => {
    const modules = {
      step: OPTIMIZER_PRELUDE + FILES.common + FILES.units + momentAccess(4, 'bf16') + FILES.optimizer,
      stats: OPTIMIZER_PRELUDE + FILES.common + FILES.units + FILES.gradStats,
    };
    const globals = new Set(Object.keys(OPTIMIZER_BINDINGS));
    for (const [entry, table] of Object.entries(OPTIMIZER_ENTRY_POINTS)) {
      const module = entry === 'reduceGrads' || entry === 'finalizeGradStats' ? modules.stats : modules.step;
      const functions = functionsOf(module);
      expect(functions.has(entry), `entry point ${entry}`).toBe(true);
      expect(module).toMatch(new RegExp(`@compute[^;{]*fn ${entry}\\(`));
      const used = [...reachedIdentifiers(functions, entry)].filter((name) => globals.has(name));
      expect(used.sort(), entry).toEqual([...table].sort());
    }
  });
});

describe('structs', () => {
  it('every host-visible struct is declared once (in the prelude), field by field as in contract.ts', () => {
    const prelude = structsOf(OPTIMIZER_PRELUDE);
    const handWritten = OPTIMIZER_FAMILY.map(structsOf);
    for (const layout of OPTIMIZER_STRUCTS) {
      expect(prelude.get(layout.name), layout.name).toEqual(declaredFields(layout));
      for (const file of handWritten) expect(file.has(layout.name), `${layout.name} redeclared`).toBe(false);
    }
    expect(prelude.get('PreparedSlot')).toEqual(['scalars: StepScalars', '_pad: array<vec4<u32>, 12>']);
  });

  it('struct StreamParams matches its declaration', () => {
    expect(structsOf(FILES.streams).get('StreamParams')).toEqual(declaredFields(STREAM_PARAMS));
  });

  it('host structs hold only 32-bit scalars, densely packed', () => {
    const layouts: StructLayout<string>[] = [...OPTIMIZER_STRUCTS, STREAM_PARAMS];
    for (const layout of layouts) {
      layout.fields.forEach((field, index) => {
        expect(layout.offset[field]).toBe(index * 4);
      });
    }
  });
});

describe('codes', () => {
  const tables = [BRANCH, KIND, FLAG, CALL];
  const generated = new Set(
    tables.flatMap((table) => Object.keys(table.code).map((name) => wgslConstantName(table.prefix, name))),
  );

  it('the prelude declares every code with its TS value', () => {
    for (const table of tables) {
      for (const [name, value] of Object.entries(table.code)) {
        expect(OPTIMIZER_PRELUDE).toContain(
          `const ${wgslConstantName(table.prefix, name)}: u32 = ${value}u;`,
        );
      }
    }
  });

  it('the hand-written WGSL declares no code and names none the prelude lacks', () => {
    for (const text of OPTIMIZER_FAMILY) {
      const source = stripComments(text);
      expect(source).not.toMatch(/const (BRANCH|KIND|FLAG|CALL)_/);
      for (const [name] of source.matchAll(/\b(BRANCH|KIND|FLAG|CALL)_[A-Z0-9_]+\b/g)) {
        expect(generated.has(name), name).toBe(true);
      }
    }
  });

  it('codes within a table are distinct; call words are 0..n-1', () => {
    for (const table of tables) {
      const values = Object.values(table.code);
      expect(new Set(values).size).toBe(values.length);
    }
    expect(Object.values(CALL.code)).toEqual([...Object.keys(CALL.code).keys()]);
  });
});
