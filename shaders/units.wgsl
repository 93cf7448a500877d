// What the step (optimizer.wgsl) and the gradient statistics (grad-stats.wgsl) share, each compiled as its own
// module behind the generated prelude: this call's data, the optimizer-wide control words, and a unit's index
// space (the gradients it reads, cut into tiles of segments).

@group(0) @binding(5) var<storage, read> call: CallData;
@group(0) @binding(6) var<storage, read_write> control: GradControl;
@group(0) @binding(9) var<storage, read> grads: array<Element>;
@group(0) @binding(12) var<storage, read> tiles: array<Tile>;
@group(0) @binding(14) var<storage, read> segments: array<Segment>;

fn callF32(word: u32) -> f32 {
  return bitcast<f32>(call.words[word]);
}

fn tensorIsActive(tensor: u32) -> bool {
  let maskWord = call.words[call.words[CALL_MASK_START] + tensor / 32u];
  return (maskWord & (1u << (tensor % 32u))) != 0u;
}

// The segment holding position `position` of the unit's index space: a binary search over the few segments the
// tile overlaps (one for any tensor larger than a tile).
fn locateSegment(tile: Tile, position: u32) -> u32 {
  var low = tile.firstSegment;
  var high = tile.firstSegment + tile.segmentCount - 1u;
  while (low < high) {
    let middle = (low + high + 1u) / 2u;
    if (segments[middle].start <= position) {
      low = middle;
    } else {
      high = middle - 1u;
    }
  }
  return low;
}
