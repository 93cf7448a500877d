// Pure planning, no GPU calls: where each tensor's moments live, and which dispatches (units) and tiles cover
// every element. Units batch all tensors that share a param buffer, a grad buffer and a moment page, so a model
// whose parameters are packed into one buffer steps in a constant number of dispatches however many tensors it has.
//
// Terms (in the order they arise):
//   page     one moment buffer (exp_avg, and exp_avg_sq alike); tensors' state is placed end to end in pages.
//   piece    a run of one tensor's elements with one element width: a vec4 body or a scalar tail, cut so that it
//            binds within maxBindingBytes.
//   unit     one dispatch: pieces sharing a param buffer, a grad buffer, a page and a width (or one large piece
//            alone, "solo", dispatched as stepSegment).
//   window   a unit's binding range of each buffer, starting on the storage offset alignment.
//   segment  a piece as placed in its unit's index space (struct Segment), offsets relative to the windows.
//   tile     a short run of one segment, served by a few invocations side by side (struct Tile, TileShape).
//   slot     not a planning term: one recorded step's entry in the call ring (call-ring.ts), or one tensor's
//            256-byte PreparedSlot of step scalars.
import type { ElementWidth } from './shaders';

export interface PlannedTensor {
  param: GPUBuffer;
  grad: GPUBuffer;
  length: number;
  paramOffset: number;
  gradOffset: number;
}

export interface StatePlacement {
  page: number;
  /** In state elements from the start of the page. */
  offset: number;
}

export interface Window {
  /** Byte offset of the binding (a multiple of the storage offset alignment). */
  offset: number;
  size: number;
}

/** A run of one tensor's elements in a unit's index space (mirrors struct Segment in optimizer.wgsl). */
export interface PlannedSegment {
  /** Position of the first element in the unit's index space, in Elements. */
  start: number;
  /** In Elements from the start of each of the unit's bindings. */
  paramOffset: number;
  gradOffset: number;
  stateOffset: number;
  count: number;
  tensor: number;
  /** The tensor's index of the first f32 element (the key of its bf16 rounding noise). */
  firstElement: number;
}

/** A short range of the index space, inside one segment (struct Tile). */
export interface PlannedTile {
  start: number;
  count: number;
  segment: number;
  tensor: number;
  /** The tensor's index of the tile's first f32 element. */
  firstElement: number;
  /** The segment's offsets moved to the tile's first Element. */
  paramOffset: number;
  gradOffset: number;
  stateOffset: number;
}

export interface PlannedUnit {
  width: ElementWidth;
  param: GPUBuffer;
  grad: GPUBuffer;
  page: number;
  paramWindow: Window;
  gradWindow: Window;
  stateWindow: Window;
  segments: PlannedSegment[];
  tiles: PlannedTile[];
}

export interface PlanLimits {
  storageAlignment: number;
  /** Largest byte size of one binding. */
  maxBindingBytes: number;
  /** Largest moment page, in bytes. */
  maxPageBytes: number;
  /** Bytes of one stored moment: 4 (f32) or 2 (bf16). */
  stateElementBytes: number;
  workgroupSize: number;
  /** Longest tile, in Elements (see TILE_SHAPES in contract.ts). */
  tileElements: number;
  vectorize: boolean;
  /** Pieces at least this long (f32 elements) may get a dispatch of their own… */
  soloElements: number;
  /** …up to this many of them, the largest first. */
  soloDispatches: number;
}

export function placeState(
  tensors: readonly PlannedTensor[],
  limits: PlanLimits,
): { placements: StatePlacement[]; pageElements: number[] } {
  // Each tensor's state starts on a storage-alignment boundary, so state bindings never need widening.
  const align = limits.storageAlignment / limits.stateElementBytes;
  const pageLimit = Math.floor(limits.maxPageBytes / limits.stateElementBytes / align) * align;
  const pageElements: number[] = [];
  const placements = tensors.map((tensor) => {
    const padded = Math.ceil(tensor.length / align) * align;
    let page = pageElements.length - 1;
    if (page < 0 || pageElements[page]! + padded > pageLimit) {
      pageElements.push(0);
      page++;
    }
    const offset = pageElements[page]!;
    pageElements[page] = offset + padded;
    return { page, offset };
  });
  return { placements, pageElements };
}

interface Piece {
  tensor: number;
  width: ElementWidth;
  /** First element of the piece within its tensor, and its length, in f32 elements. */
  start: number;
  length: number;
  paramByte: number;
  gradByte: number;
  stateByte: number;
}

/** Splits tensors into pieces that each bind within maxBindingBytes, with vec4 bodies and scalar tails. */
function piecesOf(
  tensors: readonly PlannedTensor[],
  placements: readonly StatePlacement[],
  limits: PlanLimits,
): Piece[] {
  const maxPiece = Math.floor((limits.maxBindingBytes - limits.storageAlignment) / 16) * 4;
  // The callers check maxBindingBytes >= 2 * storageAlignment; a smaller one would split forever.
  if (!(maxPiece > 0))
    throw new RangeError(`plan: maxBindingBytes ${limits.maxBindingBytes} holds no element`);
  const pieces: Piece[] = [];
  tensors.forEach((tensor, index) => {
    const vectorOk = limits.vectorize && tensor.paramOffset % 16 === 0 && tensor.gradOffset % 16 === 0;
    const piece = (width: ElementWidth, start: number, length: number) =>
      pieces.push({
        tensor: index,
        width,
        start,
        length,
        paramByte: tensor.paramOffset + start * 4,
        gradByte: tensor.gradOffset + start * 4,
        stateByte: (placements[index]!.offset + start) * limits.stateElementBytes,
      });
    for (let start = 0; start < tensor.length; start += maxPiece) {
      const chunk = Math.min(maxPiece, tensor.length - start);
      const body = vectorOk ? chunk - (chunk % 4) : 0;
      if (body > 0) piece(4, start, body);
      if (chunk > body) piece(1, start + body, chunk - body);
    }
  });
  return pieces;
}

/** Byte ranges [start, end) a group of pieces covers in each binding. */
interface Bounds {
  param: [number, number];
  grad: [number, number];
  state: [number, number];
}

function boundsOf(piece: Piece, stateElementBytes: number): Bounds {
  const bytes = piece.length * 4;
  return {
    param: [piece.paramByte, piece.paramByte + bytes],
    grad: [piece.gradByte, piece.gradByte + bytes],
    // bf16 state of odd length ends mid-word: its binding takes the whole word, which lies in the tensor's
    // aligned slot.
    state: [piece.stateByte, piece.stateByte + Math.ceil((piece.length * stateElementBytes) / 4) * 4],
  };
}

function mergeBounds(a: Bounds, b: Bounds): Bounds {
  const merge = (x: [number, number], y: [number, number]): [number, number] => [
    Math.min(x[0], y[0]),
    Math.max(x[1], y[1]),
  ];
  return { param: merge(a.param, b.param), grad: merge(a.grad, b.grad), state: merge(a.state, b.state) };
}

function windowOf(start: number, end: number, alignment: number): Window {
  const offset = Math.floor(start / alignment) * alignment;
  return { offset, size: end - offset };
}

export function planUnits(
  tensors: readonly PlannedTensor[],
  placements: readonly StatePlacement[],
  limits: PlanLimits,
): PlannedUnit[] {
  const pieces = piecesOf(tensors, placements, limits);
  // The largest pieces (at most soloDispatches of them, each at least soloElements long) get a dispatch of their
  // own, which needs no per-invocation lookups; the long tail of small tensors is batched, so the dispatch count
  // stays bounded whatever the number of tensors.
  const solo = new Set(
    pieces
      .filter((piece) => piece.length >= limits.soloElements)
      .sort((a, b) => b.length - a.length)
      .slice(0, limits.soloDispatches),
  );
  // Batch pieces that can share one bind group; within a batch, in parameter-address order so windows stay tight.
  const batches = new Map<string, Piece[]>();
  const bufferIds = new Map<GPUBuffer, number>();
  const idOf = (buffer: GPUBuffer) => {
    let id = bufferIds.get(buffer);
    if (id === undefined) {
      id = bufferIds.size;
      bufferIds.set(buffer, id);
    }
    return id;
  };
  for (const [index, piece] of pieces.entries()) {
    const tensor = tensors[piece.tensor]!;
    const shared = `${piece.width}|${idOf(tensor.param)}|${idOf(tensor.grad)}|${placements[piece.tensor]!.page}`;
    const key = solo.has(piece) ? `solo|${index}` : shared;
    const batch = batches.get(key) ?? [];
    batch.push(piece);
    batches.set(key, batch);
  }
  const units: PlannedUnit[] = [];
  const alignment = limits.storageAlignment;
  for (const batch of batches.values()) {
    batch.sort((a, b) => a.paramByte - b.paramByte);
    let current: Piece[] = [];
    let bounds: Bounds | undefined;
    const flush = () => {
      if (bounds) units.push(unitOf(current, tensors, placements, bounds, limits));
      current = [];
      bounds = undefined;
    };
    for (const piece of batch) {
      const own = boundsOf(piece, limits.stateElementBytes);
      const merged = bounds ? mergeBounds(bounds, own) : own;
      const fits = (['param', 'grad', 'state'] as const).every(
        (key) => windowOf(merged[key][0], merged[key][1], alignment).size <= limits.maxBindingBytes,
      );
      if (!fits) flush();
      bounds = fits ? merged : own;
      current.push(piece);
    }
    flush();
  }
  return units;
}

function unitOf(
  pieces: Piece[],
  tensors: readonly PlannedTensor[],
  placements: readonly StatePlacement[],
  bounds: Bounds,
  limits: PlanLimits,
): PlannedUnit {
  const first = pieces[0]!;
  const width = first.width;
  const elementBytes = 4 * width;
  const paramWindow = windowOf(...bounds.param, limits.storageAlignment);
  const gradWindow = windowOf(...bounds.grad, limits.storageAlignment);
  const stateWindow = windowOf(...bounds.state, limits.storageAlignment);
  const segments: PlannedSegment[] = [];
  let total = 0;
  for (const piece of pieces) {
    const count = piece.length / width;
    segments.push({
      start: total,
      tensor: piece.tensor,
      paramOffset: (piece.paramByte - paramWindow.offset) / elementBytes,
      gradOffset: (piece.gradByte - gradWindow.offset) / elementBytes,
      stateOffset: (piece.stateByte - stateWindow.offset) / (limits.stateElementBytes * width),
      count,
      firstElement: piece.start,
    });
    total += count;
  }
  // Tiles never straddle a segment, so an invocation looks up one tile and one tensor's scalars, with no search.
  // They are short (a few invocations each, packed into workgroups), so a small tensor idles few invocations.
  const tileLength = limits.tileElements;
  const tiles: PlannedTile[] = [];
  segments.forEach((segment, index) => {
    for (let skipped = 0; skipped < segment.count; skipped += tileLength) {
      tiles.push({
        start: segment.start + skipped,
        count: Math.min(tileLength, segment.count - skipped),
        segment: index,
        tensor: segment.tensor,
        firstElement: segment.firstElement + skipped * width,
        paramOffset: segment.paramOffset + skipped,
        gradOffset: segment.gradOffset + skipped,
        stateOffset: segment.stateOffset + skipped,
      });
    }
  });
  const tensor = tensors[first.tensor]!;
  return {
    width,
    param: tensor.param,
    grad: tensor.grad,
    page: placements[first.tensor]!.page,
    paramWindow,
    gradWindow,
    stateWindow,
    segments,
    tiles,
  };
}

/**
 * extraState (AMSGrad's max, then Lookahead's slow weights) is f32 at the moments' element index, all in one
 * binding: per element it takes `extraBytesPerElement` (4 or 8) where a moment takes `stateElementBytes` (4 or 2).
 * Pages and state windows shrink by that ratio, so that every extraState page and window fits where a moment's
 * would.
 */
export function limitsForExtraState(plan: PlanLimits, extraBytesPerElement: number): PlanLimits {
  const ratio = extraStateRatio(plan, extraBytesPerElement);
  if (ratio === 1) return plan;
  const part = (bytes: number) => Math.floor(bytes / ratio / plan.storageAlignment) * plan.storageAlignment;
  return { ...plan, maxBindingBytes: part(plan.maxBindingBytes), maxPageBytes: part(plan.maxPageBytes) };
}

/** How many times a moment's bytes extraState takes per element, at least 1: what limitsForExtraState divides by. */
export function extraStateRatio(plan: PlanLimits, extraBytesPerElement: number): number {
  return Math.max(1, extraBytesPerElement / plan.stateElementBytes);
}
