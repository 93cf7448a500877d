import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The demo imports the library by its package name, as an outside user would; the alias points that name at
// the sources so the demo always runs the working tree's kernels without a library build first.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  resolve: {
    alias: [
      {
        find: /^webgpu-radam\/tfjs$/,
        replacement: fileURLToPath(new URL('../src/tfjs/index.ts', import.meta.url)),
      },
      { find: /^webgpu-radam$/, replacement: fileURLToPath(new URL('../src/index.ts', import.meta.url)) },
    ],
  },
  build: {
    outDir: fileURLToPath(new URL('../dist-demo', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // Two pages: the WebGPU demo and the TensorFlow.js one.
    rollupOptions: {
      input: {
        main: fileURLToPath(new URL('index.html', import.meta.url)),
        tfjs: fileURLToPath(new URL('tfjs.html', import.meta.url)),
      },
    },
  },
});
