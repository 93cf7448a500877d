// The WGSL side of contract.ts: the prelude of declarations (codes, call-word offsets, structs) every
// optimizer-family module starts with, generated from the tables there, so the two sides cannot drift apart.
import {
  BRANCH,
  CALL,
  type CodeTable,
  FLAG,
  KIND,
  OPTIMIZER_STRUCTS,
  PREPARED_SLOT_BYTES,
  STEP_SCALARS,
  STRUCT_ALIGNMENT,
  type StructLayout,
  wgslConstantName,
} from './contract';

function comment(doc: string | undefined): string {
  return doc === undefined ? '' : `  // ${doc}`;
}

function structWgsl(layout: StructLayout<string>): string {
  const lines = layout.fields.map(
    (field) => `  ${field}: ${layout.types[field]},${comment(layout.docs[field])}`,
  );
  if (layout.tail) lines.push(`  ${layout.tail.name}: ${layout.tail.type},${comment(layout.tail.doc)}`);
  return `// ${layout.doc}\nstruct ${layout.name} {\n${lines.join('\n')}\n}\n`;
}

function codesWgsl(table: CodeTable<string>): string {
  const lines = Object.entries(table.code).map(
    ([name, value]) =>
      `const ${wgslConstantName(table.prefix, name)}: u32 = ${value}u;${comment(table.docs[name])}`,
  );
  return `// ${table.doc}\n${lines.join('\n')}\n`;
}

function preparedSlotWgsl(): string {
  const padVectors = (PREPARED_SLOT_BYTES - STEP_SCALARS.bytes) / STRUCT_ALIGNMENT;
  return (
    `// One tensor's StepScalars padded to ${PREPARED_SLOT_BYTES} bytes, bindable as a uniform at its offset.\n` +
    `struct PreparedSlot {\n  scalars: StepScalars,\n  _pad: array<vec4<u32>, ${padVectors}>,\n}\n`
  );
}

/**
 * The declarations every optimizer-family module starts with (after the `Element` alias and common.wgsl):
 * codes, call-word offsets and structs, generated from the tables above.
 */
export const OPTIMIZER_PRELUDE = [
  '// ---- generated from src/contract.ts: edit the declarations there ----\n',
  ...[BRANCH, KIND, FLAG, CALL].map(codesWgsl),
  "// Tiled kernels: invocations per tile, the `lanes` of the optimizer's TileShape (TILE_SHAPES in contract.ts).\noverride TILE_LANES: u32;\n",
  '// Per-call data: flat u32 words, laid out as the CALL_* offsets say.\nstruct CallData { words: array<u32> }\n',
  ...OPTIMIZER_STRUCTS.map(structWgsl),
  preparedSlotWgsl(),
  '// ---- end of generated declarations ----\n',
].join('\n');
