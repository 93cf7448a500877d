// Streaming kernels over flat f32 data: the smallest end-to-end proof that WGSL runs (axpy) and the
// bandwidth yardsticks the optimizer step is compared against (copy, and a 7-stream kernel that moves
// the same 28 bytes per element as a fused Adam step but does no optimizer math).

struct StreamParams {
  count: u32,  // elements (of `Element` type) to process
  alpha: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> stream: StreamParams;
@group(0) @binding(1) var<storage, read> x: array<Element>;
@group(0) @binding(2) var<storage, read_write> y: array<Element>;
@group(0) @binding(3) var<storage, read_write> z: array<Element>;
@group(0) @binding(4) var<storage, read_write> w: array<Element>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn axpy(
  @builtin(workgroup_id) workgroupId: vec3<u32>,
  @builtin(local_invocation_index) localIndex: u32,
  @builtin(num_workgroups) numWorkgroups: vec3<u32>,
) {
  let i = flatInvocationIndex(workgroupId, localIndex, numWorkgroups);
  if (i >= stream.count) { return; }
  y[i] = stream.alpha * x[i] + y[i];
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn copy(
  @builtin(workgroup_id) workgroupId: vec3<u32>,
  @builtin(local_invocation_index) localIndex: u32,
  @builtin(num_workgroups) numWorkgroups: vec3<u32>,
) {
  let i = flatInvocationIndex(workgroupId, localIndex, numWorkgroups);
  if (i >= stream.count) { return; }
  y[i] = x[i];
}

// Reads x, y, z, w and writes y, z, w: 4 reads + 3 writes, like param/grad/m/v in and param/m/v out.
@compute @workgroup_size(WORKGROUP_SIZE)
fn sevenStreams(
  @builtin(workgroup_id) workgroupId: vec3<u32>,
  @builtin(local_invocation_index) localIndex: u32,
  @builtin(num_workgroups) numWorkgroups: vec3<u32>,
) {
  let i = flatInvocationIndex(workgroupId, localIndex, numWorkgroups);
  if (i >= stream.count) { return; }
  let a = x[i];
  let b = y[i];
  let c = z[i];
  let d = w[i];
  y[i] = b + stream.alpha * a;
  z[i] = c + stream.alpha * b;
  w[i] = d + stream.alpha * c;
}
