// Gradient statistics before a step, without any readback: a module of its own behind the generated prelude and
// units.wgsl, which declare the structs and the shared bindings (call, control, grads, tiles).
// reduceGrads sums the squares of the active tensors' gradients per workgroup and flags any non-finite one;
// finalizeGradStats adds the partial sums into torch's clip_grad_norm_ factor. prepare then skips the step on a
// non-finite gradient (skipped steps do not advance the schedule either).

@group(0) @binding(18) var<storage, read_write> partialSums: array<f32>;

const EXPONENT_MASK: u32 = 0x7f800000u;

var<workgroup> scratch: array<f32, WORKGROUP_SIZE>;

fn reduceScratch(localIndex: u32) {
  for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride = stride / 2u) {
    workgroupBarrier();
    if (localIndex < stride) {
      scratch[localIndex] = scratch[localIndex] + scratch[localIndex + stride];
    }
  }
  workgroupBarrier();
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn reduceGrads(
  @builtin(workgroup_id) workgroupId: vec3<u32>,
  @builtin(local_invocation_index) localIndex: u32,
  @builtin(num_workgroups) numWorkgroups: vec3<u32>,
) {
  let workgroup = workgroupId.y * numWorkgroups.x + workgroupId.x;
  // Depends only on the workgroup, so the barriers below stay in uniform control flow.
  let inRange = workgroup * WORKGROUP_SIZE < arrayLength(&tiles) * TILE_LANES;
  let invocation = flatInvocationIndex(workgroupId, localIndex, numWorkgroups);
  let tileIndex = invocation / TILE_LANES;
  var sumOfSquares = 0.0;
  if (inRange && tileIndex < arrayLength(&tiles)) {
    let tile = tiles[tileIndex];
    let lanes = tileLanes(tile.count);
    let lane = invocation % TILE_LANES;
    if (lane < lanes && tensorIsActive(tile.tensor)) {
      for (var i = lane; i < tile.count; i = i + lanes) {
        let g = grads[tile.gradOffset + i];
        // Exponent bits, not isinf/isnan: WGSL lets compilers assume floats are finite.
        if (any((bitcast<ElementBits>(g) & ElementBits(EXPONENT_MASK)) == ElementBits(EXPONENT_MASK))) {
          atomicOr(&control.nonFinite, 1u);
        }
        sumOfSquares = sumOfSquares + elementSum(g * g);
      }
    }
  }
  scratch[localIndex] = sumOfSquares;
  reduceScratch(localIndex);
  if (inRange && localIndex == 0u) {
    partialSums[workgroup] = scratch[0];
  }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn finalizeGradStats(@builtin(local_invocation_index) localIndex: u32) {
  var total = 0.0;
  for (var i = localIndex; i < arrayLength(&partialSums); i = i + WORKGROUP_SIZE) {
    total = total + partialSums[i];
  }
  scratch[localIndex] = total;
  reduceScratch(localIndex);
  if (localIndex != 0u) { return; }
  let norm = sqrt(scratch[0]) * callF32(CALL_INV_SCALE);
  let maxNorm = callF32(CALL_MAX_NORM);
  control.gradNorm = norm;
  control.clipFactor = select(1.0, min(1.0, maxNorm / (norm + 1e-6)), maxNorm > 0.0);
}
