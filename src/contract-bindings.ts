// The binding half of the host↔WGSL contract (contract.ts holds the structs and codes): every global of the
// optimizer family and of the streaming kernels by WGSL name, and per entry point the globals it binds, from which
// both the bind-group layout and the bind-group entries are made. test/unit/contract.test.ts checks these tables
// against every @binding in shaders/*.wgsl.

type BindingKind = 'storage' | 'read-only-storage' | 'uniform';

interface BindingDecl {
  readonly binding: number;
  readonly kind: BindingKind;
  /** Bound with a dynamic offset that each recorded call supplies. */
  readonly dynamic?: boolean;
}

/** Every global of the optimizer family (shaders/optimizer.wgsl, units.wgsl, grad-stats.wgsl), by WGSL name. */
export const OPTIMIZER_BINDINGS = {
  tensorGroups: { binding: 0, kind: 'read-only-storage' },
  groupConfigs: { binding: 1, kind: 'read-only-storage' },
  stepTable: { binding: 2, kind: 'read-only-storage' },
  stepCounts: { binding: 3, kind: 'storage' },
  preparedScalars: { binding: 4, kind: 'storage' },
  call: { binding: 5, kind: 'read-only-storage', dynamic: true },
  control: { binding: 6, kind: 'storage' },
  unitScalars: { binding: 7, kind: 'uniform' },
  params: { binding: 8, kind: 'storage' },
  grads: { binding: 9, kind: 'read-only-storage' },
  expAvg: { binding: 10, kind: 'storage' },
  expAvgSq: { binding: 11, kind: 'storage' },
  tiles: { binding: 12, kind: 'read-only-storage' },
  tensorScalars: { binding: 13, kind: 'read-only-storage' },
  unitSegment: { binding: 15, kind: 'uniform' },
  expectedEpoch: { binding: 16, kind: 'uniform', dynamic: true },
  partialSums: { binding: 18, kind: 'storage' },
  extraState: { binding: 19, kind: 'storage' },
  slowSeeded: { binding: 21, kind: 'storage' },
} as const satisfies Record<string, BindingDecl>;

export type OptimizerGlobal = keyof typeof OPTIMIZER_BINDINGS;

/**
 * Which globals each entry point's bind group holds (dynamic offsets follow binding numbers: call's slot, then
 * expectedEpoch's). The same list makes the bind-group layout and the bind group, and the contract test checks it
 * against the globals each entry point reaches in the WGSL.
 */
export const OPTIMIZER_ENTRY_POINTS = {
  prepare: [
    'tensorGroups',
    'groupConfigs',
    'stepTable',
    'stepCounts',
    'preparedScalars',
    'call',
    'control',
    'expectedEpoch',
    'slowSeeded',
  ],
  step: ['params', 'grads', 'expAvg', 'expAvgSq', 'tiles', 'tensorScalars', 'extraState'],
  stepSegment: ['params', 'grads', 'expAvg', 'expAvgSq', 'unitScalars', 'unitSegment', 'extraState'],
  reduceGrads: ['call', 'control', 'grads', 'tiles', 'partialSums'],
  finalizeGradStats: ['call', 'control', 'partialSums'],
} as const satisfies Record<string, readonly OptimizerGlobal[]>;

export type OptimizerEntryPoint = keyof typeof OPTIMIZER_ENTRY_POINTS;

/** The globals one entry point binds. */
export type EntryGlobals<Entry extends OptimizerEntryPoint> = (typeof OPTIMIZER_ENTRY_POINTS)[Entry][number];

/** The globals of shaders/streams.wgsl; `x` is read, the others are written. */
export const STREAM_BINDINGS = {
  stream: { binding: 0, kind: 'uniform' },
  x: { binding: 1, kind: 'read-only-storage' },
  y: { binding: 2, kind: 'storage' },
  z: { binding: 3, kind: 'storage' },
  w: { binding: 4, kind: 'storage' },
} as const satisfies Record<string, BindingDecl>;

/** The layout entry of one declared binding. */
export function layoutEntry(declaration: BindingDecl): GPUBindGroupLayoutEntry {
  const { binding, kind, dynamic = false } = declaration;
  return {
    binding,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type: kind, hasDynamicOffset: dynamic },
  };
}

/** The bind-group layout entries of one entry point. */
export function entryLayout(entry: OptimizerEntryPoint): GPUBindGroupLayoutEntry[] {
  return OPTIMIZER_ENTRY_POINTS[entry].map((name) => layoutEntry(OPTIMIZER_BINDINGS[name]));
}

/** The bind-group entries of one entry point: every global it binds must be given, and nothing else. */
export function entryBindings<Entry extends OptimizerEntryPoint>(
  entry: Entry,
  resources: Readonly<Record<EntryGlobals<Entry>, GPUBufferBinding>>,
): GPUBindGroupEntry[] {
  const names: readonly EntryGlobals<Entry>[] = OPTIMIZER_ENTRY_POINTS[entry];
  return names.map((name) => ({ binding: OPTIMIZER_BINDINGS[name].binding, resource: resources[name] }));
}
