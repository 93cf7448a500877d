// The golden cases on the second WebGPU implementation: wgpu + naga (the stack of Firefox and Deno), through
// the built package (dist/index.js), so WGSL that only Dawn/Tint accepts fails here. Run by `npm run test:wgpu`.
import * as api from '../../dist/index.js';
import { listGoldenFiles, loadGoldenCase } from '../helpers/golden';
import { type Layout, runGoldenCase } from '../helpers/golden-runner';

const adapter = await navigator.gpu.requestAdapter();
if (!adapter) {
  console.error(
    'No WebGPU adapter in Deno: run through `npm run test:wgpu`, which picks the GPU or SwiftShader ' +
      '(install chromium + libvulkan1 on a machine without a GPU)',
  );
  Deno.exit(1);
}
const info = adapter.info;
console.log(
  `[wgpu] adapter: ${[info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ')}`,
);
const device = await adapter.requestDevice();
device.addEventListener('uncapturederror', (event) => {
  console.error(`[wgpu uncaptured error] ${(event as GPUUncapturedErrorEvent).error.message}`);
  failed++;
});

let passed = 0;
let failed = 0;
// Per family (mode; AMSGrad, Lookahead and Ranger apart): max relative error vs float64, for closing notes.
const families = new Map<string, number>();
const layouts: Layout[] = ['separate', 'unaligned'];
for (const file of listGoldenFiles()) {
  let golden: ReturnType<typeof loadGoldenCase>;
  try {
    golden = loadGoldenCase(file.path);
  } catch (error) {
    failed++;
    console.log(`  FAIL ${file.label}: ${error instanceof Error ? error.message : String(error)}`);
    continue;
  }
  for (const layout of layouts) {
    const report = await runGoldenCase(api, device, golden, layout);
    const problems = [
      ...report.branchMismatches,
      ...report.arrays
        .filter((a) => a.ratioVsF64 > 1 || (golden.expectedF32 && a.ratioVsF32 > 1))
        .map(
          (a) =>
            `${a.array}: err/allowed vs f64 ${a.ratioVsF64.toFixed(3)}, vs f32 ${a.ratioVsF32.toFixed(3)}`,
        ),
    ];
    const worst = Math.max(...report.arrays.map((a) => Math.max(a.ratioVsF64, a.ratioVsF32)));
    const rel = Math.max(...report.arrays.map((a) => a.maxRelVsF64));
    families.set(report.mode, Math.max(families.get(report.mode) ?? 0, rel));
    if (problems.length === 0) {
      passed++;
      console.log(`  ok   ${file.label} (${layout}) worst err/allowed ${worst.toFixed(3)}`);
    } else {
      failed++;
      console.log(`  FAIL ${file.label} (${layout}): ${problems.join('; ')}`);
    }
  }
}
device.destroy();
for (const [family, rel] of families)
  console.log(`  ${family.padEnd(18)} max rel err vs f64 ${rel.toExponential(2)}`);
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(failed === 0 && passed > 0 ? 0 : 1);
