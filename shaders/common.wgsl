// Shared by every kernel family; the host concatenates it in front of each family's source.

override WORKGROUP_SIZE: u32 = 256u;

// The host folds launches of more than maxComputeWorkgroupsPerDimension workgroups into a 2-D grid; this
// recovers the flat index. Invocations past the end of the data must be discarded by the caller's bounds check.
fn flatInvocationIndex(workgroupId: vec3<u32>, localIndex: u32, numWorkgroups: vec3<u32>) -> u32 {
  return (workgroupId.y * numWorkgroups.x + workgroupId.x) * WORKGROUP_SIZE + localIndex;
}
