// A two-layer MLP (inputs -> hidden ReLU -> softmax classes) for the example: forward per sample, then each
// parameter's gradient summed over the batch by one invocation. Tiny on purpose: the point is the optimizer.

struct Shape {
  samples: u32,
  inputs: u32,
  hidden: u32,
  classes: u32,
  // Element offsets of each tensor inside the packed parameter buffer (the same offsets in the grad buffer).
  w1: u32,
  b1: u32,
  w2: u32,
  b2: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> points: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<u32>;
@group(0) @binding(3) var<storage, read> params: array<f32>;
@group(0) @binding(4) var<storage, read_write> activations: array<f32>;   // samples x hidden, after ReLU
@group(0) @binding(5) var<storage, read_write> outputErrors: array<f32>;  // samples x classes: softmax - onehot
@group(0) @binding(6) var<storage, read_write> losses: array<f32>;        // per sample cross-entropy
@group(0) @binding(7) var<storage, read_write> grads: array<f32>;

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) id: vec3<u32>) {
  let n = id.x;
  if (n >= shape.samples) { return; }
  for (var h = 0u; h < shape.hidden; h++) {
    var z = params[shape.b1 + h];
    for (var i = 0u; i < shape.inputs; i++) {
      z += params[shape.w1 + h * shape.inputs + i] * points[n * shape.inputs + i];
    }
    activations[n * shape.hidden + h] = max(z, 0.0);
  }
  var largest = -3.0e38;
  for (var c = 0u; c < shape.classes; c++) {
    var logit = params[shape.b2 + c];
    for (var h = 0u; h < shape.hidden; h++) {
      logit += params[shape.w2 + c * shape.hidden + h] * activations[n * shape.hidden + h];
    }
    outputErrors[n * shape.classes + c] = logit;
    largest = max(largest, logit);
  }
  var total = 0.0;
  for (var c = 0u; c < shape.classes; c++) {
    let e = exp(outputErrors[n * shape.classes + c] - largest);
    outputErrors[n * shape.classes + c] = e;
    total += e;
  }
  let label = labels[n];
  for (var c = 0u; c < shape.classes; c++) {
    let probability = outputErrors[n * shape.classes + c] / total;
    if (c == label) { losses[n] = -log(max(probability, 1e-30)); }
    outputErrors[n * shape.classes + c] = (probability - select(0.0, 1.0, c == label)) / f32(shape.samples);
  }
}

// One invocation per parameter of the packed model: the mean-loss gradient over all samples.
@compute @workgroup_size(64)
fn parameterGradients(@builtin(global_invocation_id) id: vec3<u32>) {
  let k = id.x;
  let H = shape.hidden;
  let C = shape.classes;
  let I = shape.inputs;
  var sum = 0.0;
  if (k >= shape.w2 && k < shape.w2 + C * H) {
    let c = (k - shape.w2) / H;
    let h = (k - shape.w2) % H;
    for (var n = 0u; n < shape.samples; n++) { sum += outputErrors[n * C + c] * activations[n * H + h]; }
  } else if (k >= shape.b2 && k < shape.b2 + C) {
    for (var n = 0u; n < shape.samples; n++) { sum += outputErrors[n * C + k - shape.b2]; }
  } else if ((k >= shape.w1 && k < shape.w1 + H * I) || (k >= shape.b1 && k < shape.b1 + H)) {
    let isWeight = k < shape.w1 + H * I;
    let h = select(k - shape.b1, (k - shape.w1) / I, isWeight);
    let i = (k - shape.w1) % I;
    for (var n = 0u; n < shape.samples; n++) {
      if (activations[n * H + h] <= 0.0) { continue; }
      var back = 0.0;
      for (var c = 0u; c < C; c++) { back += outputErrors[n * C + c] * params[shape.w2 + c * H + h]; }
      sum += back * select(1.0, points[n * I + i], isWeight);
    }
  } else {
    return;
  }
  grads[k] = sum;
}
