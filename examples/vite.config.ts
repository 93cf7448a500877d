import { defineConfig } from 'vite';

// Bundles the example into one plain ES module for Node 20 (which cannot run TypeScript or `?raw` imports);
// packages such as `webgpu` stay external.
export default defineConfig({
  cacheDir: '.tmp/vite-examples',
  logLevel: 'warn',
  build: {
    ssr: true,
    target: 'node20',
    outDir: '.tmp/examples',
    emptyOutDir: true,
    minify: false,
    rollupOptions: {
      input: { 'train-mlp': 'examples/train-mlp.ts' },
      output: { format: 'es', entryFileNames: '[name].js' },
    },
  },
});
