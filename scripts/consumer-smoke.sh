#!/usr/bin/env bash
# The package as a user gets it: `npm pack`, installed into a scratch project outside the repository, then
#  - the consumer program (scripts/consumer/consumer.ts) and every ```ts block of README.md typecheck under
#    moduleResolution bundler, node16 and nodenext, with and without skipLibCheck, on TypeScript 5.x, 6.x and the
#    current major, with strict, noUncheckedIndexedAccess, exactOptionalPropertyTypes and a lib without
#    esnext.disposable (so does a small browser app);
#  - a deliberately wrong call (scripts/consumer/wrong.ts) is reported by tsc in every one of those settings;
#  - the consumer program runs on Dawn (on the adapter scripts/webgpu-adapter.mjs chooses) and matches a float64
#    RAdam loop;
#  - a Vite app importing the package builds, with the kernels' WGSL in its bundle;
#  - `webgpu-radam/tfjs` resolves and typechecks beside @tensorflow/tfjs (the devDependency's version; the
#    README's TensorFlow.js block included), and a tfjs program (scripts/consumer/tfjs-consumer.ts) trains a
#    layers model with its radam on tfjs's cpu backend in Node.
# Needs the npm registry (or a warm npm cache) for typescript, vite, webgpu, @webgpu/types and tfjs.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
started=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/webgpu-radam-consumer-XXXXXX")"
trap 'rm -rf "$work"' EXIT

cd "$repo"
tarball="$(npm pack --silent --pack-destination "$work" | tail -n 1)"
echo "consumer-smoke: packed $tarball ($(du -k "$work/$tarball" | cut -f1) KiB):"
tar -tzf "$work/$tarball" | sed 's/^/  /'
if tar -tzf "$work/$tarball" | grep -Eq '^package/(src|shaders|test|bench)/'; then
  echo "consumer-smoke: the tarball ships sources it should not" >&2
  exit 1
fi

app="$work/app"
mkdir -p "$app"
cp "$repo/scripts/consumer/consumer.ts" "$repo/scripts/consumer/wrong.ts" "$repo/scripts/consumer/readme-prelude.d.ts" \
  "$repo/scripts/consumer/tfjs-consumer.ts" "$repo/scripts/consumer/readme-prelude-tfjs.d.ts" "$app/"
cp -r "$repo/scripts/consumer/vite-app" "$app/vite-app"
# Every ```ts block of the README as a module of its own (they reuse names such as `radam`).
awk -v dir="$app" '
  /^```ts[[:space:]]*$/ { n++; file = sprintf("%s/readme-%02d.ts", dir, n); inside = 1; next }
  /^```/ && inside { print "export {};" > file; close(file); inside = 0; next }
  inside { print > file }
' "$repo/README.md"
blocks=$(find "$app" -maxdepth 1 -name 'readme-[0-9]*.ts' | wc -l)
[ "$blocks" -gt 0 ] || { echo "consumer-smoke: no \`\`\`ts blocks found in README.md" >&2; exit 1; }

# The tfjs the repository develops and tests against, so the packed optimizer meets the version it was tested with.
tfjs_version="$(node -p "require('$repo/node_modules/@tensorflow/tfjs/package.json').version")"

cd "$app"
cat > package.json <<'EOF'
{ "name": "webgpu-radam-consumer", "private": true, "type": "module" }
EOF
npm install --silent --no-audit --no-fund --no-package-lock \
  "$work/$tarball" typescript@5 ts6@npm:typescript@6 ts-current@npm:typescript@latest vite@latest webgpu \
  @webgpu/types @types/web "@tensorflow/tfjs@$tfjs_version" "@tensorflow/tfjs-backend-webgpu@$tfjs_version"
echo "consumer-smoke: installed in $((SECONDS - started)) s (vite $(node -p "require('./node_modules/vite/package.json').version"))"

# tsconfig for one setting: $1 = moduleResolution, $2 = skipLibCheck, $3 = files (JSON array), $4 = where the
# WebGPU types come from: "dom" (the DOM lib; @webgpu/types through the package on TypeScript 5) or "web"
# (@types/web instead of the DOM lib, what @webgpu/types recommends for TypeScript 6.0.3 / 7.0.2 and earlier,
# whose DOM lib has an incomplete WebGPU).
tsconfig() {
  local module=$1 lib='"lib": ["ES2022", "DOM"], "types": []'
  [ "$1" = bundler ] && module=esnext
  [ "${4:-dom}" = web ] && lib='"lib": ["ES2022"], "types": ["web"]'
  cat <<EOF
{
  "compilerOptions": {
    "target": "ES2022", "module": "$module", "moduleResolution": "$1", $lib,
    "strict": true, "noUncheckedIndexedAccess": true, "exactOptionalPropertyTypes": true,
    "verbatimModuleSyntax": true, "isolatedModules": true, "skipLibCheck": $2, "noEmit": true
  },
  "files": $3
}
EOF
}

cp vite-app/main.ts browser-app.ts
failures=0
for compiler in node_modules/typescript/bin/tsc node_modules/ts6/bin/tsc node_modules/ts-current/bin/tsc; do
  version="$(node "$compiler" --version | cut -d' ' -f2)"
  for resolution in bundler node16 nodenext; do
    for skip in false true; do
      what="TypeScript $version, moduleResolution $resolution, skipLibCheck $skip"
      files=(readme-prelude.d.ts readme-prelude-tfjs.d.ts readme-[0-9]*.ts browser-app.ts consumer.ts tfjs-consumer.ts)
      types=dom
      note=""
      if [ "${version%%.*}" -ge 6 ] && [ "$skip" = false ]; then
        # The README's setting for these versions. The `webgpu` package's declarations import @webgpu/types,
        # which clash with the WebGPU of the DOM lib or @types/web: programs importing it need skipLibCheck here.
        types=web
        mapfile -t files < <(grep -L "from 'webgpu'" "${files[@]}")
        note=" with @types/web (files importing 'webgpu' left out)"
      fi
      if [ "$skip" = false ]; then
        # tfjs 4.22's own declarations fail a library check on any TypeScript (tfjs-core's nested older
        # @webgpu/types, an undeclared Long, tfjs-layers under strict): tfjs apps need skipLibCheck.
        mapfile -t files < <(grep -L "@tensorflow/tfjs" "${files[@]}")
        note="$note (tfjs files left out: tfjs needs skipLibCheck)"
      fi
      list=$(printf '"%s",' "${files[@]}")
      tsconfig "$resolution" "$skip" "[${list%,}]" "$types" > tsconfig.good.json
      tsconfig "$resolution" "$skip" '["wrong.ts"]' "$types" > tsconfig.wrong.json
      good_ok=true
      if ! node "$compiler" --pretty false -p tsconfig.good.json; then good_ok=false; fi
      wrong_ok=true
      if output="$(node "$compiler" --pretty false -p tsconfig.wrong.json 2>&1)"; then
        wrong_ok=false
        echo "createRAdam(device, 42, { lr: 'x' }) typechecks"
      elif ! grep -q "^wrong.ts(6," <<<"$output" || grep -v "^wrong.ts(6," <<<"$output" | grep -q "error TS"; then
        wrong_ok=false
        echo "$output"
      fi
      if $good_ok && $wrong_ok; then
        echo "consumer-smoke: ok   $what: ${#files[@]} files typecheck$note; the wrong call is reported"
      else
        echo "consumer-smoke: FAIL $what: files typecheck: $good_ok; wrong call reported alone: $wrong_ok" >&2
        failures=$((failures + 1))
      fi
    done
  done
done
[ "$failures" -eq 0 ] || { echo "consumer-smoke: $failures failure(s)" >&2; exit 1; }

# Run it on Dawn: compiled by tsc as a consumer would (nodenext), on the adapter the repository's helper picks.
tsconfig nodenext true '["consumer.ts"]' | sed 's/"noEmit": true/"outDir": "out"/' > tsconfig.emit.json
node node_modules/typescript/bin/tsc -p tsconfig.emit.json
node "$repo/scripts/webgpu-adapter.mjs" --run node out/consumer.js

# The tfjs app, compiled the same way, on tfjs's cpu backend (the op path: Node has no tfjs webgpu backend).
tsconfig nodenext true '["tfjs-consumer.ts"]' | sed 's/"noEmit": true/"outDir": "out"/' > tsconfig.emit.json
node node_modules/typescript/bin/tsc -p tsconfig.emit.json
node out/tfjs-consumer.js

# A Vite app that imports the package by name, built for the browser.
(cd vite-app && node ../node_modules/vite/bin/vite.js build --logLevel warn --outDir dist)
if ! grep -q '@compute' vite-app/dist/assets/*.js; then
  echo "consumer-smoke: FAIL the Vite bundle lacks the optimizer's WGSL" >&2
  exit 1
fi
echo "consumer-smoke: Vite app built ($(cat vite-app/dist/assets/*.js | wc -c) bytes of JS, WGSL inlined)"
echo "consumer-smoke: passed in $((SECONDS - started)) s"
