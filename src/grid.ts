/**
 * Splits a 1-D launch of `workgroups` workgroups into a 2-D grid whose x extent respects the device's
 * maxComputeWorkgroupsPerDimension (65535 by default); the kernel recovers the flat index, and the few
 * surplus workgroups of the last row fail the kernel's bounds check.
 */
export function foldWorkgroups(workgroups: number, maxPerDimension: number): [number, number] {
  if (workgroups <= maxPerDimension) return [workgroups, 1];
  const rows = Math.ceil(workgroups / maxPerDimension);
  if (rows > maxPerDimension) {
    throw new RangeError(`${workgroups} workgroups exceed a ${maxPerDimension}×${maxPerDimension} grid`);
  }
  return [Math.ceil(workgroups / rows), rows];
}
