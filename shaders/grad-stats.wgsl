// Gradient statistics before a step, without any readback: one pass over the gradients sums their squares per
// tile and flags any non-finite element; a one-workgroup pass adds the partial sums, turns them into torch's
// clip_grad_norm_ factor, and decides the schedule factor of the step that will run (skipped steps do not
// advance the schedule). The optimizer's prepare pass reads the result. Shares Tile/GradControl/CallData with
// optimizer.wgsl, which the host concatenates in front of this file.

@group(0) @binding(16) var<storage, read> statGrads: array<Element>;
@group(0) @binding(17) var<storage, read> statTiles: array<Tile>;
@group(0) @binding(18) var<storage, read_write> partialSums: array<f32>;
@group(0) @binding(19) var<storage, read_write> statControl: GradControl;
@group(0) @binding(20) var<storage, read> statCall: CallData;

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
  let tileIndex = workgroupId.y * numWorkgroups.x + workgroupId.x;
  // Uniform across the workgroup (it depends only on the workgroup), so the barriers below stay legal.
  let inRange = tileIndex < arrayLength(&statTiles);
  var sumOfSquares = 0.0;
  if (inRange) {
    let tile = statTiles[tileIndex];
    if (localIndex < tile.count) {
      let g = statGrads[tile.gradOffset + localIndex];
      // Exponent bits, not isinf/isnan: WGSL lets compilers assume floats are finite.
      if (any((bitcast<ElementBits>(g) & ElementBits(EXPONENT_MASK)) == ElementBits(EXPONENT_MASK))) {
        atomicOr(&statControl.nonFinite, 1u);
      }
      sumOfSquares = elementSum(g * g);
    }
  }
  scratch[localIndex] = sumOfSquares;
  reduceScratch(localIndex);
  if (inRange && localIndex == 0u) {
    partialSums[tileIndex] = scratch[0];
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
  let invScale = bitcast<f32>(statCall.words[CALL_INV_SCALE]);
  let maxNorm = bitcast<f32>(statCall.words[CALL_MAX_NORM]);
  let norm = sqrt(scratch[0]) * invScale;
  statControl.gradNorm = norm;
  statControl.clipFactor = select(1.0, min(1.0, maxNorm / (norm + 1e-6)), maxNorm > 0.0);
  // The host wrote schedule factors for the steps it may be on, newest first; skipped steps (found so far on the
  // GPU only) push the real step back into that window.
  let skip = atomicLoad(&statControl.nonFinite) != 0u;
  let completed = statControl.completedSteps + select(1u, 0u, skip);
  statControl.completedSteps = completed;
  let hostStep = statCall.words[CALL_HOST_STEP];
  let lag = min(hostStep - min(completed, hostStep), SCHEDULE_WINDOW - 1u);
  statControl.lrFactor = bitcast<f32>(statCall.words[CALL_SCHEDULE + lag]);
}
