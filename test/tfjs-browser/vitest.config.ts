import { defineConfig } from 'vitest/config';
import { chooseAdapter, describeChoice } from '../../scripts/webgpu-adapter.mjs';

// Chosen once, before the test process forks; the test launches Chromium with the matching flags and environment.
console.log(describeChoice(chooseAdapter()));

// Apart from `npm test` (which needs no browser): `npm run test:tfjs:browser`.
export default defineConfig({
  test: {
    include: ['test/tfjs-browser/**/*.e2e.ts'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    // The golden helpers name WebGPU enums (GPUBufferUsage) when they load.
    setupFiles: ['test/helpers/install-globals.ts'],
  },
});
