// The fused optimizer step. Entry points, recorded in this order into one compute pass:
//   reduceGrads, finalizeGradStats (grad-stats.wgsl, only with gradient checks): one pass over the gradients sums
//            their squares per tile and flags any non-finite element; one workgroup adds the partial sums into
//            torch's clip_grad_norm_ factor;
//   prepare: one workgroup admits or rejects the call (see "Call admission" below), then turns each tensor's
//            step count (kept on the GPU) and this call's learning rate into final per-tensor factors, and
//            advances the count unless the step is skipped;
//   step:    one invocation per element reads param, grad and the moments once and writes param and the moments
//            once (28 bytes per f32 element with a second moment, 20 without; AMSGrad's max adds 8, and a
//            Lookahead sync step reads and writes the slow weights, 8 more, on that tensor's sync steps only).
// Tensors that share buffers are packed end to end into one index space ("segments"), cut into tiles of one
// workgroup each (never straddling a segment), so a model with a thousand small tensors needs no more dispatches or idle invocations than one
// big tensor. Every global has its own binding number; each entry point's layout lists just the ones it uses.
// Everything that depends only on the step count and the hyper-parameters (bias corrections, RAdam's rho_t and
// rectification, the branch) comes from a float64 table computed on the host; only steps beyond that table are
// computed here in f32, with the branch still decided by the host (`firstAdaptiveStep`). The same kernel serves
// RAdam, Adam, AdamW and SGD-momentum. `Element` is f32 or vec4<f32>.

// SGD keeps no second moment: with this off, expAvgSq is never read or written and the host binds a placeholder.
override HAS_SECOND_MOMENT: bool = true;
// Whether a gradient-statistics pass (found-inf check, global-norm clipping) ran before this step.
override GRAD_STATS: bool = false;
// AMSGrad (Adam, AdamW): the denominator uses the max kept in extraState, max(max, v). Off (and without
// Lookahead), extraState is never read or written and the host binds a placeholder: plain Adam moves no extra bytes.
override AMSGRAD: bool = false;
// Some param group uses Lookahead: extraState holds the slow weights, read and written only on a tensor's sync
// steps (and written once, on its first step). Off, the host binds a placeholder.
override LOOKAHEAD: bool = false;
// bf16 moments round to nearest even instead of stochastically: only for the test that shows why they must not.
override STATE_ROUNDING_NEAREST: bool = false;
// Mixed into every stochastic rounding decision; the same seed gives the same run.
override STATE_ROUNDING_SEED: u32 = 0u;

// ---- bf16 moments (used through the load/store functions generated in front of this file, src/shaders.ts) ----

// A counter-based hash (lowbias32): the randomness of stochastic rounding is a function of (seed, tensor, step,
// element, moment), so no generator state lives in memory and a run repeats exactly.
fn mixBits(x: u32) -> u32 {
  var h = x;
  h = (h ^ (h >> 16u)) * 0x7feb352du;
  h = (h ^ (h >> 15u)) * 0x846ca68bu;
  return h ^ (h >> 16u);
}

// The upper half of x's bits, rounded up with probability (lower half) / 2^16: unbiased, E[result] = x. A finite
// x may round to ±Inf only past bf16's largest value. Inf passes through; NaN stays NaN (a quiet bit is set so
// that dropping its lower mantissa bits cannot turn it into Inf).
fn roundToBf16(x: f32, noise: u32) -> u32 {
  let bits = bitcast<u32>(x);
  if ((bits & 0x7f800000u) == 0x7f800000u) {
    return (bits >> 16u) | select(0u, 0x40u, (bits & 0x7fffffu) != 0u);
  }
  var increment = noise & 0xffffu;
  if (STATE_ROUNDING_NEAREST) { increment = 0x7fffu + ((bits >> 16u) & 1u); }
  return (bits + increment) >> 16u;
}

fn bf16Half(word: u32, high: u32) -> f32 {
  return bitcast<f32>(select(word << 16u, word & 0xffff0000u, high != 0u));
}

fn unpackBf16x4(words: vec2<u32>) -> vec4<f32> {
  return vec4<f32>(bf16Half(words.x, 0u), bf16Half(words.x, 1u), bf16Half(words.y, 0u), bf16Half(words.y, 1u));
}

// `noise` keys the first component; component c takes noise + c, as the scalar path's element c would.
fn packBf16x4(value: vec4<f32>, noise: u32) -> vec2<u32> {
  let h = vec4<u32>(
    roundToBf16(value.x, mixBits(noise)),
    roundToBf16(value.y, mixBits(noise + 1u)),
    roundToBf16(value.z, mixBits(noise + 2u)),
    roundToBf16(value.w, mixBits(noise + 3u)),
  );
  return vec2<u32>(h.x | (h.y << 16u), h.z | (h.w << 16u));
}

// The BRANCH_*, KIND_*, FLAG_* and CALL_* codes, the host-visible structs (StepScalars, PreparedSlot, GroupConfig,
// StepFactors, CallData, ScheduleEntry, GradControl, Segment, Tile) and the bindings shared with grad-stats.wgsl
// (call, control, grads, tiles) come first: the prelude generated from src/contract.ts, then units.wgsl.

// ---- prepare ----
@group(0) @binding(0) var<storage, read> tensorGroups: array<u32>;
@group(0) @binding(1) var<storage, read> groupConfigs: array<GroupConfig>;
@group(0) @binding(2) var<storage, read> stepTable: array<StepFactors>;
@group(0) @binding(3) var<storage, read_write> stepCounts: array<u32>;
@group(0) @binding(4) var<storage, read_write> preparedScalars: array<PreparedSlot>;
// Per tensor: 1 once its slow weights hold a value (set by its first step, or by loadStateDict with slow_buffer).
@group(0) @binding(21) var<storage, read_write> slowSeeded: array<u32>;

// Which epoch the recorded call expects in its slot: the command stream selects it with a second dynamic offset
// into a constant buffer whose k-th 256-byte entry holds k, so it travels with the recording itself.
@group(0) @binding(16) var<uniform> expectedEpoch: vec4<u32>;

// 1 - e^-u for u >= 0. `1.0 - exp(-u)` alone loses most digits for small u (beta close to 1, where
// 1 - beta^t is small for thousands of steps), so small u take the Taylor series in nested form.
fn oneMinusExpNeg(u: f32) -> f32 {
  if (u >= 0.5) {
    return 1.0 - exp(-u);
  }
  var sum = 1.0;
  for (var k = 10.0; k >= 2.0; k = k - 1.0) {
    sum = 1.0 - u / k * sum;
  }
  return u * sum;
}

// rho_t for t past the table. rho_inf - 2t e^-u / (1 - e^-u) cancels badly while rho_t is far below rho_inf
// (small u = t * -ln(beta2)); there rho_t = 2t * (1/u - 1/(e^u - 1)) + (rho_inf - 2 / -ln(beta2)), whose
// bracket is the series 1/2 - u/12 + u^3/720 - u^5/30240 + u^7/1209600 - u^9/47900160 (error < 1e-9 for u < 1).
fn rectificationLengthAt(config: GroupConfig, tf: f32, u: f32, bc2: f32) -> f32 {
  if (u >= 1.0) {
    return config.rhoInf - 2.0 * tf * exp(-u) / bc2;
  }
  let u2 = u * u;
  let bracket = 0.5 - u * (1.0 / 12.0 - u2 * (1.0 / 720.0 - u2 * (1.0 / 30240.0 - u2 * (1.0 / 1209600.0 - u2 / 47900160.0))));
  return 2.0 * tf * bracket + config.rhoOffset;
}

fn computedFactors(config: GroupConfig, t: u32) -> StepFactors {
  let tf = f32(t);
  let bc1 = oneMinusExpNeg(tf * config.negLnBeta1);
  let u2 = tf * config.negLnBeta2;
  let bc2 = oneMinusExpNeg(u2);
  var factors = StepFactors(BRANCH_ADAPTIVE, sqrt(bc2) / bc1, 1.0 / bc1, config.eps);
  if ((config.flags & FLAG_EPS_CORRECTED) != 0u) {
    factors.denomEps = config.eps * sqrt(bc2);
  }
  if (config.kind == KIND_RECTIFIED) {
    // rho_t grows with t, so the host's float64 crossing decides the branch exactly, whatever f32 would say.
    if (t >= config.firstAdaptiveStep) {
      let rhoT = rectificationLengthAt(config, tf, u2, bc2);
      // With a threshold of 4, f32 may round rho_t just below 4 where float64 is just above: r_t is ~0 there.
      let rect = sqrt(max(rhoT - 4.0, 0.0) * (rhoT - 2.0) * config.rhoInf / ((config.rhoInf - 4.0) * (config.rhoInf - 2.0) * rhoT));
      factors.adaptiveFactor = rect * factors.adaptiveFactor;
    } else {
      factors.branch = select(BRANCH_NONE, BRANCH_MOMENTUM, (config.flags & FLAG_DEGENERATED_TO_SGD) != 0u);
      factors.adaptiveFactor = 0.0;
    }
  }
  return factors;
}

fn stepFactors(config: GroupConfig, t: u32) -> StepFactors {
  if (config.kind == KIND_SGD) {
    return StepFactors(select(BRANCH_MOMENTUM, BRANCH_NESTEROV, (config.flags & FLAG_NESTEROV) != 0u), 0.0, 1.0, 0.0);
  }
  if (t <= config.tableLength) {
    return stepTable[config.tableStart + t - 1u];
  }
  return computedFactors(config, t);
}

// Call admission. Each recorded call owns ring slot serial % slots; a later recording reuses that slot, so a call
// still unsubmitted when that happens would read another call's data. The slot stores the epoch it was written
// for and the command stream carries the epoch the call expects: on a mismatch the call is rejected. A call is
// also rejected when the schedule has no entry for the step it would run as, and every call after a rejection is
// rejected too, so the state stays exactly that of the steps before it. A rejected call changes no param, moment
// or step count; the counters tell the host, which then refuses to go on.
@compute @workgroup_size(WORKGROUP_SIZE)
fn prepare(@builtin(local_invocation_index) localIndex: u32) {
  // A single workgroup: every invocation reads the same control words before invocation 0 updates them.
  let current = call.words[CALL_EPOCH] == expectedEpoch.x;
  // A step recorded before a loadStateDict() but submitted after it belongs to the state that was replaced, as in
  // torch, where it would have run before the load: it neither runs nor counts (the host restarted its count).
  let stale = current && call.words[CALL_GENERATION] != control.generation;
  let halted = control.lostCalls != 0u || control.unscheduledCalls != 0u;
  var skip = !current || stale || halted;
  var clipFactor = 1.0;
  if (GRAD_STATS) {
    skip = skip || atomicLoad(&control.nonFinite) != 0u;
    clipFactor = control.clipFactor;
  }
  // The optimizer step this call runs as: steps skipped or submitted out of recording order make it differ from
  // the host's count, and the schedule follows the steps actually taken.
  let step = control.completedSteps + 1u;
  let scheduled = call.words[CALL_SCHEDULED] != 0u;
  let entry = control.schedule[step % arrayLength(&control.schedule)];
  let unscheduled = scheduled && !skip && entry.step != step;
  skip = skip || unscheduled;
  let lrFactor = select(1.0, entry.factor, scheduled);
  storageBarrier();
  if (localIndex == 0u) {
    if (!stale) { control.executedCalls = control.executedCalls + 1u; }
    if (!current) { control.lostCalls = control.lostCalls + 1u; }
    if (unscheduled) { control.unscheduledCalls = control.unscheduledCalls + 1u; }
    if (!skip) { control.completedSteps = step; }
  }
  let tensorCount = arrayLength(&tensorGroups);
  for (var tensor = localIndex; tensor < tensorCount; tensor = tensor + WORKGROUP_SIZE) {
    prepareTensor(tensor, skip, clipFactor, lrFactor);
  }
}

fn prepareTensor(tensor: u32, skip: bool, clipFactor: f32, lrFactor: f32) {
  var prepared: StepScalars;
  if (skip || !tensorIsActive(tensor)) {
    prepared.branch = BRANCH_SKIP;
    preparedScalars[tensor].scalars = prepared;
    return;
  }
  let group = tensorGroups[tensor];
  let config = groupConfigs[group];
  let t = stepCounts[tensor] + 1u;
  stepCounts[tensor] = t;
  let factors = stepFactors(config, t);
  let lr = callF32(CALL_GROUP_LR + group) * lrFactor;
  let decoupled = (config.flags & FLAG_DECOUPLED) != 0u;

  prepared.branch = factors.branch;
  prepared.gradSign = select(1.0, -1.0, (config.flags & FLAG_MAXIMIZE) != 0u) * callF32(CALL_INV_SCALE) * clipFactor;
  prepared.l2WeightDecay = select(config.weightDecay, 0.0, decoupled);
  // Decoupled decay belongs to the parameter update: a step that leaves p alone must not decay it either.
  prepared.paramDecay = select(1.0, 1.0 - lr * config.weightDecay, decoupled && factors.branch != BRANCH_NONE);
  prepared.beta1 = config.beta1;
  // torch's SGD starts its momentum buffer as a copy of the first gradient (no dampening).
  prepared.gradWeight1 = select(config.oneMinusBeta1, 1.0, config.kind == KIND_SGD && t == 1u);
  prepared.beta2 = config.beta2;
  prepared.gradWeight2 = config.oneMinusBeta2;
  prepared.adaptiveScale = lr * factors.adaptiveFactor;
  prepared.denomEps = factors.denomEps;
  prepared.momentumScale = lr * factors.momentumFactor;
  prepared.nesterovMomentum = select(0.0, config.beta1, factors.branch == BRANCH_NESTEROV);
  if (LOOKAHEAD && config.lookaheadK != 0u) {
    // Ranger and TFA take the slow weights from the params the first step sees, so params written after creation
    // (a checkpoint loaded into the buffers) are where Lookahead starts from.
    if (slowSeeded[tensor] == 0u) {
      prepared.seedSlow = 1u;
      slowSeeded[tensor] = 1u;
    }
    // The per-tensor count: skipped and inactive steps, which do not advance it, do not count toward k either.
    prepared.lookaheadAlpha = select(0.0, config.lookaheadAlpha, t % config.lookaheadK == 0u);
  }
  prepared.roundingSeed = mixBits(mixBits(STATE_ROUNDING_SEED ^ tensor) ^ (t * 0x9e3779b9u));
  preparedScalars[tensor].scalars = prepared;
}

// ---- step ----
@group(0) @binding(8) var<storage, read_write> params: array<Element>;
@group(0) @binding(10) var<storage, read_write> expAvg: array<MomentWord>;
@group(0) @binding(11) var<storage, read_write> expAvgSq: array<MomentWord>;
@group(0) @binding(13) var<storage, read> tensorScalars: array<PreparedSlot>;
// AMSGrad's max_exp_avg_sq and Lookahead's slow weights, in one binding so that `step` stays within the 8 storage
// buffers per stage every WebGPU device offers: the max at the state index k, the slow weights at
// k + segment.slowOffset (the second half of each page when both are kept).
@group(0) @binding(19) var<storage, read_write> extraState: array<Element>;

struct Updated {
  param: Element,
  expAvg: Element,
  expAvgSq: Element,
  expAvgSqMax: Element,
}

fn updateElement(s: StepScalars, param: Element, rawGrad: Element, m: Element, v: Element, vMax: Element) -> Updated {
  var grad = rawGrad * s.gradSign;
  // Skipping the multiply keeps zero-decay steps exact even where param is ±Inf.
  if (s.l2WeightDecay != 0.0) {
    grad = grad + s.l2WeightDecay * param;
  }
  let nextM = s.beta1 * m + s.gradWeight1 * grad;
  let nextV = s.beta2 * v + s.gradWeight2 * grad * grad;
  // torch's amsgrad: the max of the uncorrected v, taken after the v update.
  var nextVMax = nextV;
  if (AMSGRAD) { nextVMax = max(vMax, nextV); }
  var nextParam = param;
  switch (s.branch) {
    case BRANCH_ADAPTIVE: {
      nextParam = param * s.paramDecay - s.adaptiveScale * nextM / (sqrt(nextVMax) + s.denomEps);
    }
    case BRANCH_MOMENTUM: {
      nextParam = param * s.paramDecay - s.momentumScale * nextM;
    }
    case BRANCH_NESTEROV: {
      nextParam = param * s.paramDecay - s.momentumScale * (grad + s.nesterovMomentum * nextM);
    }
    default: {}
  }
  return Updated(nextParam, nextM, nextV, nextVMax);
}

// Lookahead after the inner update: on a sync step slow += alpha * (fast - slow) and the fast weights become slow.
// `before` is the param this step started from, the slow weights' initial value on the tensor's first step.
fn lookaheadParam(s: StepScalars, before: Element, fast: Element, slowIndex: u32) -> Element {
  if (s.lookaheadAlpha != 0.0) {
    var slow = before;
    if (s.seedSlow == 0u) { slow = extraState[slowIndex]; }
    let nextSlow = slow + s.lookaheadAlpha * (fast - slow);
    extraState[slowIndex] = nextSlow;
    return nextSlow;
  }
  if (s.seedSlow != 0u) { extraState[slowIndex] = before; }
  return fast;
}

// One Element's read-modify-write. The moments go through the generated load/store functions (f32 or bf16);
// each stored moment of each element gets its own rounding noise, keyed on the element's index in its tensor
// (`element`, of the Element's first component) so that the plan (vec4 or scalar, windows, tiles) never changes it.
fn updateAt(s: StepScalars, p: u32, g: u32, k: u32, slowOffset: u32, element: u32) {
  var v = Element(0.0);
  if (HAS_SECOND_MOMENT) { v = loadExpAvgSq(k); }
  var vMax = Element(0.0);
  if (AMSGRAD) { vMax = extraState[k]; }
  let param = params[p];
  let updated = updateElement(s, param, grads[g], loadExpAvg(k), v, vMax);
  var nextParam = updated.param;
  if (LOOKAHEAD) { nextParam = lookaheadParam(s, param, nextParam, k + slowOffset); }
  params[p] = nextParam;
  storeExpAvg(k, updated.expAvg, s.roundingSeed + element);
  if (HAS_SECOND_MOMENT) { storeExpAvgSq(k, updated.expAvgSq, (s.roundingSeed ^ 0x5bd1e995u) + element); }
  if (AMSGRAD) { extraState[k] = updated.expAvgSqMax; }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn step(
  @builtin(workgroup_id) workgroupId: vec3<u32>,
  @builtin(local_invocation_index) localIndex: u32,
  @builtin(num_workgroups) numWorkgroups: vec3<u32>,
) {
  // A tile lies inside one tensor (src/plan.ts), so each invocation pays one tile and one scalar lookup for all
  // its elements, its tile's TILE_LANES lanes reading consecutive elements side by side (TileShape in contract.ts).
  let invocation = flatInvocationIndex(workgroupId, localIndex, numWorkgroups);
  let tileIndex = invocation / TILE_LANES;
  if (tileIndex >= arrayLength(&tiles)) { return; }
  let count = tiles[tileIndex].count;
  let lanes = tileLanes(count);
  let lane = invocation % TILE_LANES;
  if (lane >= lanes) { return; }
  let s = tensorScalars[tiles[tileIndex].tensor].scalars;
  if (s.branch == BRANCH_SKIP) { return; }
  let paramOffset = tiles[tileIndex].paramOffset;
  let gradOffset = tiles[tileIndex].gradOffset;
  let stateOffset = tiles[tileIndex].stateOffset;
  let firstElement = tiles[tileIndex].firstElement;
  for (var i = lane; i < count; i = i + lanes) {
    updateAt(s, paramOffset + i, gradOffset + i, stateOffset + i, tiles[tileIndex].slowOffset, firstElement + i * ELEMENT_WIDTH);
  }
}

// ---- stepSegment: the same update for a dispatch that covers a single run of one tensor ----
// Offsets and scalars arrive as uniforms bound at that tensor's slots, so no invocation looks anything up: on
// compute-bound adapters (a CPU emulating a GPU) the per-invocation tile/segment/scalar loads of `step` cost
// about as much as the update itself. Units with one segment (a tensor alone in its buffers, or big enough to
// fill its own binding) use this entry point.
@group(0) @binding(7) var<uniform> unitScalars: StepScalars;
@group(0) @binding(15) var<uniform> unitSegment: Segment;

@compute @workgroup_size(WORKGROUP_SIZE)
fn stepSegment(
  @builtin(workgroup_id) workgroupId: vec3<u32>,
  @builtin(local_invocation_index) localIndex: u32,
  @builtin(num_workgroups) numWorkgroups: vec3<u32>,
) {
  let i = flatInvocationIndex(workgroupId, localIndex, numWorkgroups);
  let s = unitScalars;
  if (i >= unitSegment.count || s.branch == BRANCH_SKIP) { return; }
  updateAt(
    s, unitSegment.paramOffset + i, unitSegment.gradOffset + i, unitSegment.stateOffset + i, unitSegment.slowOffset,
    unitSegment.firstElement + i * ELEMENT_WIDTH,
  );
}
