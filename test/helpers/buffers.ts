export const STORAGE_RW = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export function uploadF32(
  device: GPUDevice,
  data: ArrayLike<number>,
  extraBytes = 0,
  usage = STORAGE_RW,
): GPUBuffer {
  const bytes = Math.max(4, Math.ceil((data.length * 4 + extraBytes) / 4) * 4);
  const buffer = device.createBuffer({ size: bytes, usage, mappedAtCreation: true });
  new Float32Array(buffer.getMappedRange()).set(Float32Array.from(data));
  buffer.unmap();
  return buffer;
}

export async function readF32(
  device: GPUDevice,
  buffer: GPUBuffer,
  byteOffset = 0,
  length?: number,
): Promise<Float32Array<ArrayBuffer>> {
  const count = length ?? (buffer.size - byteOffset) / 4;
  const staging = device.createBuffer({
    size: Math.max(4, count * 4),
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const encoder = device.createCommandEncoder();
  if (count > 0) encoder.copyBufferToBuffer(buffer, byteOffset, staging, 0, count * 4);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0, count * 4));
  staging.unmap();
  staging.destroy();
  return out;
}

/** mulberry32, the generator the golden vectors use (see test/golden/README.md). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
