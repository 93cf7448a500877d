// The fused optimizer step: one pass that reads param, grad and the moments once and writes param and the
// moments once (28 bytes per f32 element with a second moment, 20 without). Every step-dependent quantity
// (bias corrections, RAdam's rectification, the branch, the learning rate) is computed on the host in float64
// and arrives as a final f32 factor, so this kernel is the same for RAdam, Adam, AdamW and SGD-momentum and
// for every step. `Element` is f32 or vec4<f32>, spliced in by the host.

// SGD keeps no second moment: with this off, expAvgSq is never read or written (20 bytes per element), and
// the host binds a 16-byte placeholder there.
override HAS_SECOND_MOMENT: bool = true;

const BRANCH_NONE: u32 = 0u;          // moments only (original RAdam before the threshold, degenerated_to_sgd=False)
const BRANCH_MOMENTUM: u32 = 1u;      // p -= momentumScale * m
const BRANCH_ADAPTIVE: u32 = 2u;      // p -= adaptiveScale * m / (sqrt(v) + denomEps)
const BRANCH_NESTEROV: u32 = 3u;      // p -= momentumScale * (g + nesterovMomentum * m)

// Where one dispatch's elements live, in `Element` units from the start of each binding. Written once.
struct Placement {
  count: u32,
  paramOffset: u32,
  gradOffset: u32,
  stateOffset: u32,
}

// One per recorded step (a ring slot addressed by a dynamic offset), so that several steps recorded into one
// command encoder before a submit each see their own values. Layout mirrored in src/step-scalars.ts.
struct StepScalars {
  branch: u32,
  gradSign: f32,           // -1 when maximizing: applied before L2 weight decay, as torch does
  l2WeightDecay: f32,      // coupled decay folded into the gradient (0 when decoupled)
  paramDecay: f32,         // 1 - lr*wd on steps that update p with decoupled decay, else 1
  beta1: f32,              // m = beta1 * m + gradWeight1 * g
  gradWeight1: f32,
  beta2: f32,              // v = beta2 * v + gradWeight2 * g * g
  gradWeight2: f32,
  adaptiveScale: f32,      // lr * r * sqrt(bc2) / bc1
  denomEps: f32,           // eps, or eps * sqrt(bc2) when eps is added to the bias-corrected sqrt(v)
  momentumScale: f32,      // lr / bc1 (RAdam's SGD branch) or lr (SGD)
  nesterovMomentum: f32,
}

@group(0) @binding(0) var<storage, read_write> params: array<Element>;
@group(0) @binding(1) var<storage, read> grads: array<Element>;
@group(0) @binding(2) var<storage, read_write> expAvg: array<Element>;
@group(0) @binding(3) var<storage, read_write> expAvgSq: array<Element>;
@group(0) @binding(4) var<uniform> placement: Placement;
@group(0) @binding(5) var<uniform> scalars: StepScalars;

struct Updated {
  param: Element,
  expAvg: Element,
  expAvgSq: Element,
}

fn updateElement(param: Element, rawGrad: Element, m: Element, v: Element) -> Updated {
  var grad = rawGrad * scalars.gradSign;
  // Skipping the multiply keeps zero-decay steps exact even where param is ±Inf.
  if (scalars.l2WeightDecay != 0.0) {
    grad = grad + scalars.l2WeightDecay * param;
  }
  let nextM = scalars.beta1 * m + scalars.gradWeight1 * grad;
  let nextV = scalars.beta2 * v + scalars.gradWeight2 * grad * grad;

  var nextParam = param;
  switch (scalars.branch) {
    case BRANCH_ADAPTIVE: {
      nextParam = param * scalars.paramDecay - scalars.adaptiveScale * nextM / (sqrt(nextV) + scalars.denomEps);
    }
    case BRANCH_MOMENTUM: {
      nextParam = param * scalars.paramDecay - scalars.momentumScale * nextM;
    }
    case BRANCH_NESTEROV: {
      nextParam = param * scalars.paramDecay - scalars.momentumScale * (grad + scalars.nesterovMomentum * nextM);
    }
    default: {}
  }
  return Updated(nextParam, nextM, nextV);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn step(
  @builtin(workgroup_id) workgroupId: vec3<u32>,
  @builtin(local_invocation_index) localIndex: u32,
  @builtin(num_workgroups) numWorkgroups: vec3<u32>,
) {
  let i = flatInvocationIndex(workgroupId, localIndex, numWorkgroups);
  if (i >= placement.count) { return; }
  let p = placement.paramOffset + i;
  let s = placement.stateOffset + i;
  var v = Element(0.0);
  if (HAS_SECOND_MOMENT) { v = expAvgSq[s]; }
  let updated = updateElement(params[p], grads[placement.gradOffset + i], expAvg[s], v);
  params[p] = updated.param;
  expAvg[s] = updated.expAvg;
  if (HAS_SECOND_MOMENT) { expAvgSq[s] = updated.expAvgSq; }
}
