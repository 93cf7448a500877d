// The host↔WGSL contract, declared once. Every struct the host writes or reads back, every code the kernels
// switch on and every binding of every entry point is declared here. The WGSL side of the structs and codes is
// generated from these declarations (contract-wgsl.ts: the prelude spliced in front of each kernel family, like
// the `Element` alias); the bindings stay written out in shaders/*.wgsl, where they document each kernel, and
// test/unit/contract.test.ts checks them, and every struct, against these tables. Pure data: no GPU calls.

/** Bytes of one struct member, counter or call word: every host-visible struct holds only 32-bit scalars. */
export const WORD_BYTES = 4;
/** Bytes of one parameter or gradient element: the API takes f32 tensors. */
export const PARAM_ELEMENT_BYTES = 4;
/**
 * Bytes of one f32 optimizer-state element: moments in the 'f32' format, and always AMSGrad's max and the
 * Lookahead slow weights (extraState), which sit at the same element index as the moments.
 */
export const STATE_ELEMENT_BYTES = 4;
/** Bytes of one moment stored as bf16 (the upper half of an f32; two per u32 word). */
export const BF16_STATE_ELEMENT_BYTES = 2;

/** Bytes of one stored moment in a state format. */
export function momentElementBytes(format: 'f32' | 'bf16'): number {
  return format === 'bf16' ? BF16_STATE_ELEMENT_BYTES : STATE_ELEMENT_BYTES;
}
/** WGSL's alignment of a struct that ends in a vec4: host structs are padded to multiples of it. */
export const STRUCT_ALIGNMENT = 16;

type ScalarType = 'u32' | 'f32' | 'atomic<u32>';

/** One field: its WGSL type and an optional comment that goes into the generated WGSL. */
type FieldSpec = readonly [type: ScalarType, doc?: string];

/** A struct of 32-bit scalars (optionally followed by a runtime-sized array), by field name. */
export interface StructLayout<Field extends string> {
  readonly name: string;
  readonly doc: string;
  /** In declaration order, pads (`_pad0`…) included. */
  readonly fields: readonly Field[];
  readonly types: Readonly<Record<Field, ScalarType>>;
  readonly docs: Readonly<Record<Field, string | undefined>>;
  /** Byte offset of each field from the start of the struct. */
  readonly offset: Readonly<Record<Field, number>>;
  /** Bytes of the scalar fields (the runtime array starts here). */
  readonly bytes: number;
  /** `array<Entry>` after the scalars, e.g. GradControl's schedule table. */
  readonly tail?: { readonly name: string; readonly type: string; readonly doc: string };
}

function struct<const Spec extends Record<string, FieldSpec>>(
  name: string,
  doc: string,
  spec: Spec,
  tail?: StructLayout<string>['tail'],
): StructLayout<keyof Spec & string> {
  type Field = keyof Spec & string;
  const fields = Object.keys(spec) as Field[];
  const types = {} as Record<Field, ScalarType>;
  const docs = {} as Record<Field, string | undefined>;
  const offset = {} as Record<Field, number>;
  fields.forEach((field, index) => {
    const [type, fieldDoc] = spec[field]!;
    types[field] = type;
    docs[field] = fieldDoc;
    offset[field] = index * WORD_BYTES;
  });
  const layout: StructLayout<Field> = {
    name,
    doc,
    fields,
    types,
    docs,
    offset,
    bytes: fields.length * WORD_BYTES,
  };
  return tail === undefined ? layout : { ...layout, tail };
}

/** The fields a caller must give when packing: every field but the pads, which are written as 0. */
export type StructValues<Field extends string> = {
  readonly [K in Field as K extends `_${string}` ? never : K]: number;
};

/** Writes `values` at `byteOffset` as the struct's little-endian words, by field name. Creation time only. */
export function packStruct<Field extends string>(
  layout: StructLayout<Field>,
  values: StructValues<Field>,
  view: DataView,
  byteOffset: number,
): void {
  const given = values as Readonly<Record<string, number>>;
  for (const field of layout.fields) {
    const at = byteOffset + layout.offset[field];
    const value = field.startsWith('_') ? 0 : given[field]!;
    if (layout.types[field] === 'f32') view.setFloat32(at, value, true);
    else view.setUint32(at, value, true);
  }
}

/** Reads the struct at `byteOffset` back into a record by field name (pads included). */
export function readStruct<Field extends string>(
  layout: StructLayout<Field>,
  view: DataView,
  byteOffset: number,
): Record<Field, number> {
  const values = {} as Record<Field, number>;
  for (const field of layout.fields) {
    const at = byteOffset + layout.offset[field];
    values[field] = layout.types[field] === 'f32' ? view.getFloat32(at, true) : view.getUint32(at, true);
  }
  return values;
}

/** A family of u32 codes, generated into the WGSL as `const PREFIX_NAME: u32 = …u;`. */
export interface CodeTable<Name extends string> {
  readonly prefix: string;
  readonly doc: string;
  readonly code: Readonly<Record<Name, number>>;
  readonly docs: Readonly<Record<Name, string | undefined>>;
}

function codes<const Spec extends Record<string, readonly [value: number, doc?: string]>>(
  prefix: string,
  doc: string,
  spec: Spec,
): CodeTable<keyof Spec & string> {
  type Name = keyof Spec & string;
  const code = {} as Record<Name, number>;
  const docs = {} as Record<Name, string | undefined>;
  for (const name of Object.keys(spec) as Name[]) {
    code[name] = spec[name]![0];
    docs[name] = spec[name]![1];
  }
  return { prefix, doc, code, docs };
}

/** `epsCorrected` → `EPS_CORRECTED`: the WGSL spelling of a code or call-word name. */
export function wgslConstantName(prefix: string, name: string): string {
  return `${prefix}_${name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

// ---- codes ----

export const BRANCH = codes(
  'BRANCH',
  'Which update a step applies (StepScalars.branch, StepFactors.branch).',
  {
    none: [0, 'moments only (original RAdam before the threshold, degenerated_to_sgd=False)'],
    momentum: [1, 'p -= momentumScale * m'],
    adaptive: [2, 'p -= adaptiveScale * m / (sqrt(v) + denomEps)'],
    nesterov: [3, 'p -= momentumScale * (g + nesterovMomentum * m)'],
    skip: [4, 'nothing at all: tensor inactive this call, or non-finite gradients'],
  },
);

export const KIND = codes('KIND', 'Which algorithm a param group runs (GroupConfig.kind).', {
  rectified: [0, 'RAdam'],
  adaptive: [1, 'Adam, AdamW'],
  sgd: [2, 'SGD with momentum, dampening and Nesterov'],
});

export const FLAG = codes('FLAG', 'Bits of GroupConfig.flags.', {
  maximize: [1],
  decoupled: [2],
  epsCorrected: [8],
  degeneratedToSgd: [16],
  nesterov: [32],
});

export const CALL = codes(
  'CALL',
  'Word offsets into CallData, one ring slot per recorded step (src/call-ring.ts writes them).',
  {
    invScale: [0, 'f32: 1 / gradScale'],
    maxNorm: [1, 'f32: the clipping norm, 0 = off'],
    maskStart: [2, 'u32: the word where the active mask starts (one bit per tensor)'],
    epoch: [3, 'u32: the epoch the slot was written for'],
    scheduled: [4, 'u32: whether a schedule is given (else every factor is 1)'],
    generation: [5, 'u32: the state generation the call was recorded in'],
    groupLr: [6, 'f32: each group’s base lr from here on, then the active mask'],
  },
);

/** Words of one call slot's data for `groups` param groups and `tensors` tensors. */
export function callWords(groups: number, tensors: number): number {
  return CALL.code.groupLr + groups + Math.ceil(tensors / 32);
}

// ---- structs ----

export const STEP_SCALARS = struct(
  'StepScalars',
  'Final factors of one tensor for the current step, written by prepare and read by the step.',
  {
    branch: ['u32'],
    gradSign: ['f32', '±(unscale * clip): maximize flips the sign before L2 decay, as torch does'],
    l2WeightDecay: ['f32'],
    paramDecay: ['f32', '1 - lr*wd on updating steps with decoupled decay, else 1'],
    beta1: ['f32', 'm = beta1 * m + gradWeight1 * g'],
    gradWeight1: ['f32'],
    beta2: ['f32', 'v = beta2 * v + gradWeight2 * g * g'],
    gradWeight2: ['f32'],
    adaptiveScale: ['f32', 'lr * r * sqrt(bc2) / bc1'],
    denomEps: ['f32', 'eps, or eps * sqrt(bc2) when eps is added to the bias-corrected sqrt(v)'],
    momentumScale: ['f32', "lr / bc1 (RAdam's SGD branch) or lr (SGD)"],
    nesterovMomentum: ['f32'],
    lookaheadAlpha: [
      'f32',
      'nonzero on a Lookahead sync step: slow += lookaheadAlpha * (param - slow), param = slow',
    ],
    seedSlow: ['u32', "1 on the tensor's first step with Lookahead: slow = param before the update"],
    roundingSeed: [
      'u32',
      'hash of (tensor, step, seed): the stochastic rounding of bf16 moments mixes in the element',
    ],
    _pad0: ['u32'],
  },
);

/**
 * Each tensor's prepared StepScalars fill a slot of this many bytes, so that a single-segment dispatch can bind its
 * tensor's slot as a uniform (256 is the largest minUniformBufferOffsetAlignment WebGPU allows).
 */
export const PREPARED_SLOT_BYTES = 256;

export const GROUP_CONFIG = struct('GroupConfig', "One param group's constant hyper-parameters.", {
  kind: ['u32'],
  flags: ['u32'],
  beta1: ['f32'],
  beta2: ['f32'],
  oneMinusBeta1: ['f32', '(or 1 - dampening for SGD), rounded once from float64'],
  oneMinusBeta2: ['f32'],
  eps: ['f32'],
  weightDecay: ['f32'],
  rhoOffset: ['f32', 'rho_inf - 2 / negLnBeta2, from float64'],
  rhoInf: ['f32'],
  negLnBeta1: ['f32', '-ln(beta), capped at 1e4 for beta = 0'],
  negLnBeta2: ['f32'],
  tableStart: ['u32', "index of step 1's entry in `stepTable`"],
  tableLength: ['u32', 'steps covered by the table; later steps are computed in f32'],
  firstAdaptiveStep: [
    'u32',
    'RAdam takes the adaptive branch from this step on (float64 decision; u32 max: never)',
  ],
  lookaheadK: [
    'u32',
    'Lookahead syncs after every step whose per-tensor count is a multiple of this; 0: off',
  ],
  lookaheadAlpha: ['f32'],
  _pad0: ['u32'],
  _pad1: ['u32'],
});

export const STEP_FACTORS = struct(
  'StepFactors',
  'The lr-free part of step t for one group, from the float64 table or computed in f32.',
  {
    branch: ['u32'],
    adaptiveFactor: ['f32', 'r * sqrt(bc2) / bc1'],
    momentumFactor: ['f32', '1 / bc1'],
    denomEps: ['f32'],
  },
);

export const SCHEDULE_ENTRY = struct(
  'ScheduleEntry',
  'The schedule factor of optimizer step `step`; the host writes step t’s entry at index t % length.',
  { step: ['u32'], factor: ['f32'] },
);

export const GRAD_CONTROL = struct(
  'GradControl',
  'Optimizer-wide state that lives on the GPU. The gradient-statistics pass writes the first three members; ' +
    'the step is skipped everywhere when `nonFinite` is set.',
  {
    nonFinite: ['atomic<u32>'],
    clipFactor: ['f32'],
    gradNorm: ['f32'],
    executedCalls: ['u32', 'calls whose prepare ran, applied or not: the host counts the rest as pending'],
    completedSteps: ['u32', 'optimizer steps applied (skipped and rejected calls excluded)'],
    lostCalls: ['u32', 'calls whose ring slot a later recording had overwritten before they ran'],
    unscheduledCalls: ['u32', 'calls whose step had no schedule entry'],
    generation: ['u32', 'bumped by every loadStateDict(): calls recorded before it are dropped'],
  },
  { name: 'schedule', type: 'array<ScheduleEntry>', doc: 'indexed by step % arrayLength' },
);

export const SEGMENT = struct(
  'Segment',
  "A run of one tensor's elements inside a unit's index space; offsets in Elements from each binding's start.",
  {
    start: ['u32'],
    paramOffset: ['u32'],
    gradOffset: ['u32'],
    stateOffset: ['u32'],
    count: ['u32'],
    tensor: ['u32'],
    slowOffset: [
      'u32',
      "Elements from a state element's AMSGrad max to its slow weights in extraState (0 unless both are kept)",
    ],
    firstElement: [
      'u32',
      "the tensor's index of the segment's first f32 element: what bf16 rounding noise is keyed on, whatever the plan",
    ],
  },
);

export const TILE = struct(
  'Tile',
  "One workgroup's share of a unit's index space: a run of one segment, with that segment's offsets rebased on it.",
  {
    start: ['u32'],
    count: ['u32', "Elements, at most the TileShape's lanes * elementsPerInvocation"],
    firstElement: ['u32', "the tensor's index of the tile's first f32 element (as in Segment)"],
    tensor: ['u32'],
    paramOffset: ['u32', 'of the tile’s first Element, from the start of each binding'],
    gradOffset: ['u32'],
    stateOffset: ['u32'],
    slowOffset: ['u32', "the segment's slowOffset: from an AMSGrad max to its slow weights in extraState"],
  },
);

/**
 * How the tiled kernels (`step`, `reduceGrads`) lay invocations over a tile: `lanes` invocations serve one tile side
 * by side, each up to `elementsPerInvocation` Elements, so a tile holds at most their product. The two shapes
 * answer opposite costs:
 * - `narrow` suits CPU adapters (SwiftShader, llvmpipe), which run 4 invocations as one SIMD row and pay each
 *   row's tile and scalar lookups and its idle lanes in full: one row per tile, looping over 32 Elements.
 * - `wide` suits GPUs, where a warp's loads must be adjacent to coalesce: 64 neighbouring invocations read 64
 *   neighbouring Elements, and with 4 Elements each there are enough invocations in flight to hide memory latency.
 * Measured with 1 000 tensors against one of the same total size: on SwiftShader narrow 0.90–0.97×, wide 2.3×; on
 * an H200 (64M parameters) wide 1.07×, the former 4 × 8 tiles 1.73×.
 */
export const TILE_SHAPES: Readonly<Record<TileShape, { lanes: number; elementsPerInvocation: number }>> = {
  narrow: { lanes: 4, elementsPerInvocation: 32 },
  wide: { lanes: 64, elementsPerInvocation: 4 },
};

/** How the batched kernel lays invocations over a tile (see ExecutionOptions.tileShape). */
export type TileShape = 'narrow' | 'wide';

/** Elements of the longest tile of a shape. */
export function tileElements(shape: TileShape): number {
  return TILE_SHAPES[shape].lanes * TILE_SHAPES[shape].elementsPerInvocation;
}

/** Workgroups of a tiled dispatch over `tiles` tiles. */
export function tileWorkgroups(tiles: number, workgroupSize: number, shape: TileShape): number {
  return Math.ceil((tiles * TILE_SHAPES[shape].lanes) / workgroupSize);
}

/** The structs of the optimizer family, in the order the prelude declares them. */
export const OPTIMIZER_STRUCTS: readonly StructLayout<string>[] = [
  STEP_SCALARS,
  GROUP_CONFIG,
  STEP_FACTORS,
  SCHEDULE_ENTRY,
  GRAD_CONTROL,
  SEGMENT,
  TILE,
];

/** struct StreamParams of shaders/streams.wgsl (declared there: the streams family has no prelude). */
export const STREAM_PARAMS = struct('StreamParams', 'One streaming dispatch.', {
  count: ['u32', 'elements (of `Element` type) to process'],
  alpha: ['f32'],
  _pad0: ['u32'],
  _pad1: ['u32'],
});
