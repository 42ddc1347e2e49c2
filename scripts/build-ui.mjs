#!/usr/bin/env node
/**
 * The dashboard's files (issue #20): ui/src/main.tsx and what it imports, bundled by esbuild (Preact,
 * the jobq client, the stylesheet) into <out>/assets/ with content hashes in their names, and
 * ui/index.html with those names filled in. The server serves <out> at /ui (src/api/ui.ts): nothing
 * is fetched from elsewhere at run time.
 *
 *   node scripts/build-ui.mjs [outDir]    default dist/ui; prints each file's size, raw and gzipped
 *
 * `buildUi` is also what the browser tests call to build into a directory of their own.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** Builds the dashboard into `outDir` (emptied first); returns each emitted file with its sizes. */
export async function buildUi({ outDir = path.join(root, 'dist', 'ui'), quiet = true } = {}) {
  rmSync(outDir, { recursive: true, force: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: { app: 'ui/src/main.tsx' },
    bundle: true,
    format: 'esm',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    platform: 'browser',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    entryNames: '[name]-[hash]',
    outdir: path.join(outDir, 'assets'),
    metafile: true,
    logLevel: quiet ? 'warning' : 'info',
  });
  const outputs = Object.keys(result.metafile.outputs).map((f) => path.resolve(root, f));
  const asset = (ext) => {
    const file = outputs.find((f) => f.endsWith(ext));
    if (!file) throw new Error(`the dashboard build made no ${ext} file`);
    return `/ui/assets/${path.basename(file)}`;
  };
  const html = readFileSync(path.join(root, 'ui', 'index.html'), 'utf8')
    .replace('%APP_JS%', asset('.js'))
    .replace('%APP_CSS%', asset('.css'));
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, 'index.html'), html);
  return [...outputs, path.join(outDir, 'index.html')].map((file) => {
    const bytes = readFileSync(file);
    return { file: path.relative(outDir, file), bytes: bytes.length, gzipBytes: gzipSync(bytes).length };
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2] ? path.resolve(process.argv[2]) : undefined;
  const files = await buildUi({ outDir, quiet: false });
  for (const f of files) console.log(`${f.file.padEnd(40)} ${String(f.bytes).padStart(8)} B  ${String(f.gzipBytes).padStart(7)} B gzipped`);
}
