#!/usr/bin/env bash
# Golden cases on wgpu/naga through Deno (npm package `deno` ships the binary), over the built dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
export VK_ICD_FILENAMES="${VK_ICD_FILENAMES:-/usr/lib/chromium/vk_swiftshader_icd.json}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
[ -f dist/index.js ] || npx vite build
exec node_modules/.bin/deno run --allow-read --allow-env --allow-ffi --sloppy-imports --no-config --no-lock test/wgpu/golden.deno.ts
