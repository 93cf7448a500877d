#!/usr/bin/env bash
# Golden cases on wgpu/naga through Deno (npm package `deno` ships the binary), over the built dist/, on the adapter
# scripts/webgpu-adapter.mjs chooses (the GPU when there is one, SwiftShader otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(node scripts/webgpu-adapter.mjs --shell)"
[ -f dist/index.js ] || npx vite build
exec node_modules/.bin/deno run --allow-read --allow-env --allow-ffi --sloppy-imports --no-config --no-lock test/wgpu/golden.deno.ts
