// The unfused baseline: one tiny kernel per elementwise op, each reading its inputs from and writing its
// output to global memory, the way an op-by-op tensor engine executes an optimizer step. It is only a yardstick
// for the fused step (bench/, not library code), so it uses the same vec4 loads and workgroup size as the fused
// kernel: the difference measured is fusion, not vectorization.

struct OpParams {
  count: u32,   // vec4 elements
  scalar: f32,  // the constant of the *Scalar ops
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> op: OpParams;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;

// Launches wider than 65535 workgroups are folded into a 2-D grid by the host.
fn flatIndex(workgroupId: vec3<u32>, localIndex: u32, numWorkgroups: vec3<u32>) -> u32 {
  return (workgroupId.y * numWorkgroups.x + workgroupId.x) * WORKGROUP_SIZE + localIndex;
}

override WORKGROUP_SIZE: u32 = 256u;

@compute @workgroup_size(WORKGROUP_SIZE)
fn mulScalar(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
             @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(wg, li, nwg);
  if (i >= op.count) { return; }
  out[i] = a[i] * op.scalar;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn addScalar(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
             @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(wg, li, nwg);
  if (i >= op.count) { return; }
  out[i] = a[i] + op.scalar;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn sqrtOp(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
          @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(wg, li, nwg);
  if (i >= op.count) { return; }
  out[i] = sqrt(a[i]);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn add(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
       @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(wg, li, nwg);
  if (i >= op.count) { return; }
  out[i] = a[i] + b[i];
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn sub(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
       @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(wg, li, nwg);
  if (i >= op.count) { return; }
  out[i] = a[i] - b[i];
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn mul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
       @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(wg, li, nwg);
  if (i >= op.count) { return; }
  out[i] = a[i] * b[i];
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn div(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
       @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = flatIndex(wg, li, nwg);
  if (i >= op.count) { return; }
  out[i] = a[i] / b[i];
}
