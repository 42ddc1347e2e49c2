#!/usr/bin/env node
/**
 * `npm run build`: src/ → dist/ as the package ships it. tsc (tsconfig.build.json) emits ES modules,
 * .d.ts and source maps (sources inlined: src/ is not shipped); then this copies the files read at run
 * time that tsc does not emit (every non-TypeScript file under src/: the migrations, functions.sql, the
 * lease keeper's plain-JavaScript thread), bundles the dashboard (build-ui.mjs), rewrites the `.ts` import paths tsc leaves in .d.ts files
 * (TypeScript 5.9 rewrites them in .js only) and removes outputs whose source is gone.
 *
 *   node scripts/build.mjs                 a clean build (`npm run build`, `prepare`)
 *   node scripts/build.mjs --incremental   reuse dist/ and tsc's build info (`prestart`; about a second when nothing changed)
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const src = path.join(root, 'src');
const dist = path.join(root, 'dist');
const BUILD_INFO = '.tsbuildinfo';
const BIN = 'cli.js';

const incremental = process.argv.includes('--incremental');
if (!incremental) rmSync(dist, { recursive: true, force: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const compiled = spawnSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

/** Paths relative to dir (with `/`) of every file under it. */
function filesUnder(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'));
}

const isTs = (f) => /\.(c|m)?ts$/.test(f) && !f.endsWith('.d.ts');
const sources = new Set(filesUnder(src));

for (const file of [...sources].filter((f) => !isTs(f))) {
  const to = path.join(dist, file);
  mkdirSync(path.dirname(to), { recursive: true });
  copyFileSync(path.join(src, file), to);
}

/** The source a file in dist/ came from: x.js, x.js.map and x.d.ts from x.ts; copied files from themselves. */
function sourceOf(file) {
  if (sources.has(file)) return file;
  const m = /^(.*)\.(js|js\.map|d\.ts)$/.exec(file);
  return m && sources.has(`${m[1]}.ts`) ? `${m[1]}.ts` : undefined;
}

const RELATIVE_TS_SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.\.?\/[^'"]*)\.ts\2/g;
for (const file of filesUnder(dist)) {
  if (file === BUILD_INFO) continue;
  const abs = path.join(dist, file);
  if (sourceOf(file) === undefined) {
    rmSync(abs);
    continue;
  }
  if (file.endsWith('.d.ts')) {
    const text = readFileSync(abs, 'utf8');
    const rewritten = text.replace(RELATIVE_TS_SPECIFIER, '$1$2$3.js$2');
    if (rewritten !== text) writeFileSync(abs, rewritten);
  }
}
chmodSync(path.join(dist, BIN), 0o755);

// The dashboard (issue #20): bundled from ui/ into dist/ui, after the clean-up above (which keeps only
// outputs of src/).
const { buildUi } = await import('./build-ui.mjs');
await buildUi({ outDir: path.join(dist, 'ui') });
