// What the step (optimizer.wgsl) and the gradient statistics (grad-stats.wgsl) share, each compiled as its own
// module behind the generated prelude: this call's data, the optimizer-wide control words, and a unit's index
// space (the gradients it reads, cut into tiles).

@group(0) @binding(5) var<storage, read> call: CallData;
@group(0) @binding(6) var<storage, read_write> control: GradControl;
@group(0) @binding(9) var<storage, read> grads: array<Element>;
@group(0) @binding(12) var<storage, read> tiles: array<Tile>;

fn callF32(word: u32) -> f32 {
  return bitcast<f32>(call.words[word]);
}

fn tensorIsActive(tensor: u32) -> bool {
  let maskWord = call.words[call.words[CALL_MASK_START] + tensor / 32u];
  return (maskWord & (1u << (tensor % 32u))) != 0u;
}

// Invocations that serve a tile of `count` Elements, each taking every lanes-th one from its lane on.
fn tileLanes(count: u32) -> u32 {
  return min(TILE_LANES, count);
}
