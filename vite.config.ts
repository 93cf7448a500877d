import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configDefaults, defineConfig } from 'vitest/config';

// Dawn's Vulkan loader reads the ICD path from the real process environment when the addon loads, so it
// must be set here (before vitest forks its workers), not in `test.env`, which worker threads never see.
process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
// The Vulkan loader warns on every device creation without it.
process.env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'webgpu-radam-xdg-'));

export default defineConfig({
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
    // `npm test` runs the WebGPU project; `npm run test:tfjs` (or `npx vitest run test/tfjs`) the tfjs one.
    projects: [
      {
        test: {
          name: 'webgpu',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/tfjs/**'],
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
          // The shared golden helpers name WebGPU enums at load time; no adapter is requested.
          setupFiles: ['test/helpers/install-globals.ts'],
          pool: 'forks',
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
