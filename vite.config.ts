import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// Dawn's Vulkan loader reads the ICD path from the real process environment when the addon loads, so it
// must be set here (before vitest forks its workers), not in `test.env`, which worker threads never see.
process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
// The Vulkan loader warns on every device creation without it.
process.env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'webgpu-radam-xdg-'));

export default defineConfig({
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
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // The soak test forces garbage collection to measure heap growth.
    execArgv: ['--expose-gc'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/helpers/install-globals.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
