// Emits dist/*.d.ts with tsc, then gives every relative import of the declarations its `.js` extension.
// The sources import extensionless (moduleResolution "bundler"), which tsc copies into the declarations as is;
// consumers resolving with node16/nodenext reject those (TS2834), and with skipLibCheck the whole API would
// silently become `any`. Every rewritten specifier is checked to name a declaration file that exists.
//
// Also writes dist/ts5/index.d.ts, the entry package.json gives TypeScript < 6 ("types@<6"): it references
// @webgpu/types, which TypeScript 5's DOM lib lacks. From TypeScript 6 on the DOM lib declares WebGPU itself, and
// loading @webgpu/types as well makes every program fail under skipLibCheck: false (duplicate declarations).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

/** Every .d.ts under dist/, as paths relative to it (the tfjs entry's declarations live in dist/tfjs/). */
const declarations = () =>
  existsSync(dist)
    ? readdirSync(dist, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.d.ts'))
    : [];

// Declarations left from an earlier build (of a module no longer reachable from an entry) would ship too.
for (const file of declarations()) rmSync(join(dist, file));
rmSync(join(dist, 'ts5'), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

const specifier = /(\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]*)\2/g;
/** @type {string[]} */
const problems = [];
let rewritten = 0;
for (const file of declarations()) {
  const path = join(dist, file);
  const here = dirname(path);
  const text = readFileSync(path, 'utf8').replace(specifier, (_, keyword, quote, target) => {
    const base = target.replace(/\.js$/, '');
    let fixed;
    if (existsSync(join(here, `${base}.d.ts`))) fixed = `${base}.js`;
    else if (existsSync(join(here, base, 'index.d.ts'))) fixed = `${base}/index.js`;
    else {
      problems.push(`${file}: '${target}' names no declaration file in dist/`);
      fixed = target;
    }
    if (fixed !== target) rewritten++;
    return `${keyword}${quote}${fixed}${quote}`;
  });
  writeFileSync(path, text);
}
mkdirSync(join(dist, 'ts5'), { recursive: true });
writeFileSync(
  join(dist, 'ts5', 'index.d.ts'),
  '/// <reference types="@webgpu/types" />\nexport * from \'../index.js\';\n',
);

if (problems.length > 0) {
  console.error(`build-declarations:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(
  `build-declarations: dist/*.d.ts written, ${rewritten} relative imports given their .js extension`,
);
