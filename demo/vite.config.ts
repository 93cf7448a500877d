import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The demo imports the library by its package name, as an outside user would; the alias points that name at
// the sources so the demo always runs the working tree's kernels without a library build first.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  resolve: {
    alias: { 'webgpu-radam': fileURLToPath(new URL('../src/index.ts', import.meta.url)) },
  },
  build: {
    outDir: fileURLToPath(new URL('../dist-demo', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
  },
});
