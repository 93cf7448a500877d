import { configDefaults, defineConfig } from 'vitest/config';
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
        // webgpu-radam/tfjs is its own entry so that the main one never pulls tfjs in.
        entry: { index: 'src/index.ts', tfjs: 'src/tfjs/index.ts' },
        formats: ['es'],
        fileName: (_format, entryName) => `${entryName}.js`,
      },
      rollupOptions: {
        // An optional peer dependency: the app's own copy must be the one whose Optimizer class we extend.
        external: [/^@tensorflow\/tfjs(-core)?(\/|$)/],
      },
      target: 'es2022',
      sourcemap: true,
      minify: false,
      emptyOutDir: true,
    },
    test: {
      // Three projects, all run by `npm test`: `unit` (test/unit/: pure logic and the WGSL contract; no WebGPU
      // adapter, no Dawn import, runs in seconds: `npm run test:unit`), `gpu` (everything on a real device) and
      // `tfjs` (the TensorFlow.js optimizers on tfjs's cpu backend, and their hand-over to the fused path on Dawn:
      // `npm run test:tfjs`).
      projects: [
        {
          test: {
            name: 'unit',
            include: ['test/unit/**/*.test.ts'],
            // Pure CPU work; the random plans of plan.test.ts take seconds on a busy machine.
            testTimeout: 60_000,
          },
        },
        {
          test: {
            name: 'gpu',
            include: ['test/**/*.test.ts'],
            exclude: [...configDefaults.exclude, 'test/unit/**', 'test/tfjs/**'],
            pool: 'forks',
            // The soak test forces garbage collection to measure heap growth.
            execArgv: ['--expose-gc'],
            globalSetup: ['test/global-setup.ts'],
            setupFiles: ['test/helpers/install-globals.ts'],
            testTimeout: 120_000,
            hookTimeout: 60_000,
          },
        },
        {
          test: {
            name: 'tfjs',
            include: ['test/tfjs/**/*.test.ts'],
            // The shared golden helpers name WebGPU enums at load time; the core-interop test uses Dawn.
            globalSetup: ['test/global-setup.ts'],
            setupFiles: ['test/helpers/install-globals.ts'],
            pool: 'forks',
            testTimeout: 120_000,
            hookTimeout: 60_000,
          },
        },
      ],
    },
  };
});
