import { defineConfig } from 'vite';

// Bundles the example into one plain ES module for Node 20 (which cannot run TypeScript or `?raw` imports).
// Packages stay external, `webgpu-radam` included: Node resolves it by the package's own name to the built
// dist/index.js, so the example runs the published entry point, as a user's program would.
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
      external: ['webgpu', 'webgpu-radam'],
      output: { format: 'es', entryFileNames: '[name].js' },
    },
  },
});
