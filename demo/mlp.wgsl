// A small MLP (dense layers, ReLU between them, softmax cross-entropy at the end) trained on the GPU.
// Every kernel shares one bind group layout so one bind group per (run, layer) serves all of them. Buffers
// hold f32 scalars addressed by element offsets from the `Layer` uniform, so a whole model's parameters live
// in one buffer (as the optimizer wants them) and all activations in another.
// Activations and their gradients are stored feature-major (A[i][b] at offset + i * batch + b), so that
// neighbouring invocations, which differ in b, read neighbouring addresses in forward and backwardInput.

override BATCH: u32 = 128u;   // one workgroup of the loss kernel covers the batch
override WORKGROUP: u32 = 64u;

struct Layer {
  batch: u32,
  inDim: u32,
  outDim: u32,
  weightOffset: u32,      // out-major: W[j][i] at weightOffset + j * inDim + i
  biasOffset: u32,
  inOffset: u32,          // activations of the layer's input, feature-major
  outOffset: u32,         // activations (and, in `deltas`, gradients) of its output
  relu: u32,
  scheduleSteps: u32,     // length of the precomputed batch schedule, in steps
  historyCapacity: u32,
  _pad0: u32,
  _pad1: u32,
}

// The step counter lives on the GPU so that several steps can be recorded into one submission: each step's
// gather reads it and the loss kernel advances it.
struct History {
  step: u32,
  _pad: u32,
  entries: array<vec2<f32>>,   // (mean batch loss, batch accuracy) per step
}

@group(0) @binding(0) var<uniform> layer: Layer;
@group(0) @binding(1) var<storage, read> params: array<f32>;
@group(0) @binding(2) var<storage, read_write> grads: array<f32>;
@group(0) @binding(3) var<storage, read_write> acts: array<f32>;
@group(0) @binding(4) var<storage, read_write> deltas: array<f32>;
@group(0) @binding(5) var<storage, read> points: array<f32>;
@group(0) @binding(6) var<storage, read> labels: array<u32>;
@group(0) @binding(7) var<storage, read> batches: array<u32>;
@group(0) @binding(8) var<storage, read_write> history: History;

fn sampleIndex(b: u32) -> u32 {
  return batches[(history.step % layer.scheduleSteps) * layer.batch + b];
}

@compute @workgroup_size(WORKGROUP)
fn gather(@builtin(global_invocation_id) id: vec3<u32>) {
  let b = id.x;
  if (b >= layer.batch) { return; }
  let k = sampleIndex(b);
  acts[layer.inOffset + b] = points[k * 2u];
  acts[layer.inOffset + layer.batch + b] = points[k * 2u + 1u];
}

@compute @workgroup_size(WORKGROUP)
fn forward(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x >= layer.batch * layer.outDim) { return; }
  let j = id.x / layer.batch;
  let b = id.x % layer.batch;
  let w = layer.weightOffset + j * layer.inDim;
  var z = params[layer.biasOffset + j];
  for (var i = 0u; i < layer.inDim; i++) {
    z += params[w + i] * acts[layer.inOffset + i * layer.batch + b];
  }
  if (layer.relu != 0u) { z = max(z, 0.0); }
  acts[layer.outOffset + j * layer.batch + b] = z;
}

var<workgroup> lossShare: array<f32, BATCH>;
var<workgroup> hitShare: array<f32, BATCH>;

// Softmax cross-entropy over the last layer's logits: writes d(mean loss)/d(logits) into `deltas` and appends
// the batch's mean loss and accuracy to the history. NaN logits are left to propagate, so a diverged run
// shows up as NaN rather than as a plausible number.
@compute @workgroup_size(BATCH)
fn loss(@builtin(local_invocation_index) b: u32) {
  let classes = layer.outDim;
  let base = layer.outOffset + b;
  let stride = layer.batch;
  let label = labels[sampleIndex(b)];
  var top = acts[base];
  var best = 0u;
  for (var k = 1u; k < classes; k++) {
    let z = acts[base + k * stride];
    if (z > top) { top = z; best = k; }
  }
  var total = 0.0;
  for (var k = 0u; k < classes; k++) {
    total += exp(acts[base + k * stride] - top);
  }
  let scale = 1.0 / f32(layer.batch);
  for (var k = 0u; k < classes; k++) {
    let p = exp(acts[base + k * stride] - top) / total;
    deltas[base + k * stride] = (p - select(0.0, 1.0, k == label)) * scale;
  }
  lossShare[b] = log(total) - (acts[base + label * stride] - top);
  hitShare[b] = select(0.0, 1.0, best == label);
  // Tree reduction; BATCH is a power of two.
  for (var half = BATCH / 2u; half > 0u; half /= 2u) {
    workgroupBarrier();
    if (b < half) {
      lossShare[b] += lossShare[b + half];
      hitShare[b] += hitShare[b + half];
    }
  }
  workgroupBarrier();
  if (b == 0u) {
    let step = history.step;
    if (step < layer.historyCapacity) {
      history.entries[step] = vec2<f32>(lossShare[0] * scale, hitShare[0] * scale);
    }
    history.step = step + 1u;
  }
}

// dL/dW[j][i] = sum_b delta[b][j] * a[b][i]; the extra column i == inDim is the bias.
@compute @workgroup_size(WORKGROUP)
fn backwardWeights(@builtin(global_invocation_id) id: vec3<u32>) {
  let width = layer.inDim + 1u;
  if (id.x >= layer.outDim * width) { return; }
  let j = id.x / width;
  let i = id.x % width;
  let d = layer.outOffset + j * layer.batch;
  var g = 0.0;
  if (i < layer.inDim) {
    let a = layer.inOffset + i * layer.batch;
    for (var b = 0u; b < layer.batch; b++) {
      g += deltas[d + b] * acts[a + b];
    }
    grads[layer.weightOffset + j * layer.inDim + i] = g;
  } else {
    for (var b = 0u; b < layer.batch; b++) {
      g += deltas[d + b];
    }
    grads[layer.biasOffset + j] = g;
  }
}

// delta of the layer's input: W^T delta, masked by the ReLU that produced that input (a > 0).
@compute @workgroup_size(WORKGROUP)
fn backwardInput(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x >= layer.batch * layer.inDim) { return; }
  let i = id.x / layer.batch;
  let b = id.x % layer.batch;
  let at = layer.inOffset + i * layer.batch + b;
  var d = 0.0;
  if (acts[at] > 0.0) {
    for (var j = 0u; j < layer.outDim; j++) {
      d += deltas[layer.outOffset + j * layer.batch + b] * params[layer.weightOffset + j * layer.inDim + i];
    }
  }
  deltas[at] = d;
}
