import { defineConfig } from 'vitest/config';
import { chooseAdapter, describeChoice } from '../../scripts/webgpu-adapter.mjs';

// Chosen once, before the test process forks; the test launches Chromium with the matching flags and environment.
console.log(describeChoice(chooseAdapter()));

// Kept apart from the unit tests (test/**/*.test.ts): this one needs Chromium and the built demo.
export default defineConfig({
  test: {
    include: ['demo/e2e/**/*.e2e.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
