import { adapterMismatch, chooseAdapter } from '../scripts/webgpu-adapter.mjs';
import { describeAdapter, requestNodeAdapter } from './helpers/webgpu-node';

// Runs once per `vitest run`: names the adapter every GPU test will execute on, and fails the whole run (rather
// than letting GPU tests skip) when there is none, or when it is not the one chosen (SwiftShader on a GPU machine).
export default async function setup(): Promise<void> {
  const adapter = await requestNodeAdapter();
  console.log(`[webgpu-radam tests] WebGPU adapter: ${describeAdapter(adapter)}`);
  const mismatch = adapterMismatch(chooseAdapter(), adapter.info);
  if (mismatch) throw new Error(`[webgpu-radam tests] ${mismatch}`);
}
