import { defineConfig } from 'vitest/config';
import { chooseAdapter, describeChoice } from './scripts/webgpu-adapter.mjs';

export default defineConfig(({ mode }) => {
  if (mode === 'test') {
    // Dawn's Vulkan loader reads VK_ICD_FILENAMES from the real process environment, so the adapter is chosen
    // here, before vitest forks its workers (which inherit it); worker threads or `test.env` would be too late.
    console.log(describeChoice(chooseAdapter()));
  }
  return {
    build: {
      lib: {
        entry: 'src/index.ts',
        formats: ['es'],
        fileName: 'index',
      },
      target: 'es2022',
      sourcemap: true,
      minify: false,
      emptyOutDir: true,
    },
    test: {
      // Two tiers, both run by `npm test`: `unit` (test/unit/, pure logic and the WGSL contract; no WebGPU adapter,
      // no Dawn import, runs in seconds: `npm run test:unit`) and `gpu` (everything else, on a real device).
      projects: [
        {
          test: {
            name: 'unit',
            include: ['test/unit/**/*.test.ts'],
          },
        },
        {
          test: {
            name: 'gpu',
            include: ['test/**/*.test.ts'],
            exclude: ['test/unit/**'],
            pool: 'forks',
            // The soak test forces garbage collection to measure heap growth.
            execArgv: ['--expose-gc'],
            globalSetup: ['test/global-setup.ts'],
            setupFiles: ['test/helpers/install-globals.ts'],
            testTimeout: 120_000,
            hookTimeout: 60_000,
          },
        },
      ],
    },
  };
});
