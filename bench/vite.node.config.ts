import { defineConfig } from 'vite';

// Bundles the Node side of the benchmark (the orchestrator and the Dawn worker) into plain ES modules, because
// Node 20 cannot run TypeScript and the shared workload code imports WGSL with `?raw`. Packages stay external.
export default defineConfig({
  cacheDir: 'bench/dist/.vite-node',
  logLevel: 'warn',
  build: {
    ssr: true,
    target: 'node20',
    outDir: 'bench/dist/node',
    emptyOutDir: true,
    minify: false,
    rollupOptions: {
      input: { run: 'bench/run.ts', 'node-worker': 'bench/node-worker.ts' },
      output: { format: 'es', entryFileNames: '[name].js' },
    },
  },
});
