import { defineConfig } from 'vitest/config';

// Kept apart from the unit tests (test/**/*.test.ts): this one needs Chromium and the built demo.
export default defineConfig({
  test: {
    include: ['demo/e2e/**/*.e2e.ts'],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
