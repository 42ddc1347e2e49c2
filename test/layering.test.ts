/**
 * The layering of src/, enforced: dependencies point inward (api and worker use the queue; the queue
 * uses neither; kinds and lib stand alone). Every import counts: static, type-only, re-exports,
 * dynamic import() and require(), as TypeScript's own scanner (ts.preProcessFile) lists them.
 * OpenTelemetry comes in through src/tracing.ts alone, which imports nothing of jobq but the version.
 * And the client entry (src/client.ts, `pgjobq/client`) loads no package and no Node.js module: what
 * it imports at run time, and what that imports, imports nothing but such modules of its own.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));

interface Import {
  /** As written in the source. */
  specifier: string;
  /** The repository-relative path a relative specifier points at; undefined for a package. */
  target?: string;
}

interface Rule {
  name: string;
  /** The folder (or file) whose files the rule constrains. */
  from: string;
  /** Files under `from` the rule leaves alone. */
  except?: string[];
  forbids: (i: Import) => boolean;
}

const under = (p: string | undefined, dir: string) => p !== undefined && (p === dir || p.startsWith(`${dir}/`));
const pkg = (i: Import, name: string) => i.target === undefined && (i.specifier === name || i.specifier.startsWith(`${name}/`));

const RULES: Rule[] = [
  {
    name: 'the queue imports neither the api, the worker nor the metrics',
    from: 'src/queue',
    forbids: (i) => ['src/api', 'src/worker', 'src/metrics'].some((d) => under(i.target, d)),
  },
  { name: 'kinds do not import the queue', from: 'src/kinds', forbids: (i) => under(i.target, 'src/queue') },
  { name: 'the api imports neither pg nor src/db', from: 'src/api', forbids: (i) => pkg(i, 'pg') || under(i.target, 'src/db') },
  {
    name: 'lib imports nothing of jobq outside lib',
    from: 'src/lib',
    forbids: (i) => under(i.target, 'src') && !under(i.target, 'src/lib'),
  },
  {
    name: 'only src/tracing.ts imports OpenTelemetry',
    from: 'src',
    except: ['src/tracing.ts'],
    forbids: (i) => i.target === undefined && i.specifier.startsWith('@opentelemetry/'),
  },
  {
    name: 'src/tracing.ts imports nothing of jobq but the version',
    from: 'src/tracing.ts',
    forbids: (i) => under(i.target, 'src') && i.target !== 'src/version.ts',
  },
];

function importsOf(file: string, text: string): Import[] {
  return ts.preProcessFile(text, true, true).importedFiles.map(({ fileName: specifier }) =>
    specifier.startsWith('.') ? { specifier, target: path.posix.join(path.posix.dirname(file), specifier) } : { specifier },
  );
}

/** Every violation of RULES among these files (repository-relative path → source text), one line each. */
function violations(files: Map<string, string>): string[] {
  const found: string[] = [];
  for (const [file, text] of files) {
    for (const rule of RULES.filter((r) => under(file, r.from) && !r.except?.includes(file))) {
      for (const i of importsOf(file, text).filter(rule.forbids)) found.push(`${file} imports '${i.specifier}': ${rule.name}`);
    }
  }
  return found;
}

function sourceFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const e of readdirSync(path.join(root, 'src'), { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !/\.(ts|js|mts|cts|mjs|cjs)$/.test(e.name)) continue;
    const abs = path.join(e.parentPath, e.name);
    files.set(path.relative(root, abs).split(path.sep).join('/'), readFileSync(abs, 'utf8'));
  }
  return files;
}

test('src/ keeps its layering', () => {
  const files = sourceFiles();
  // Not vacuous: the layers the rules name are there and their imports were read.
  for (const dir of ['src/queue', 'src/kinds', 'src/api']) {
    const inside = [...files.keys()].filter((f) => under(f, dir));
    assert.ok(inside.length > 0, `no source files under ${dir}`);
    assert.ok(inside.some((f) => importsOf(f, files.get(f)!).length > 0), `no imports read under ${dir}`);
  }
  const found = violations(files);
  assert.deepEqual(found, [], `layering violated:\n  ${found.join('\n  ')}`);
});

test('the check sees every kind of import, type-only ones included', () => {
  const files = new Map([
    ['src/queue/a.ts', `import type { App } from '../api/app.ts';\nexport { x } from '../worker/worker.ts';`],
    ['src/queue/b.ts', `const m = await import('../metrics/metrics.ts');\nimport { ok } from './c.ts';`],
    ['src/kinds/k.ts', `import { JobqError } from '../errors.ts';\nimport type { Job } from '../queue/types.ts';`],
    ['src/api/r.ts', `import type pg from 'pg';\nimport { Pool } from 'pg/lib/index.js';\nimport { db } from '../db/index.ts';\nimport { Type } from '@sinclair/typebox';`],
    ['src/lib/l.ts', `import { y } from './m.ts';\nimport { limits } from '../limits.ts';\nimport { once } from 'node:events';`],
    ['src/worker/t.ts', `import type { Span } from '@opentelemetry/api';\nimport { startRunSpan } from '../tracing.ts';`],
    ['src/tracing.ts', `import { trace } from '@opentelemetry/api';\nimport { VERSION } from './version.ts';\nimport type { Job } from './queue/types.ts';`],
  ]);
  assert.deepEqual(violations(files), [
    `src/queue/a.ts imports '../api/app.ts': ${RULES[0]!.name}`,
    `src/queue/a.ts imports '../worker/worker.ts': ${RULES[0]!.name}`,
    `src/queue/b.ts imports '../metrics/metrics.ts': ${RULES[0]!.name}`,
    `src/kinds/k.ts imports '../queue/types.ts': ${RULES[1]!.name}`,
    `src/api/r.ts imports 'pg': ${RULES[2]!.name}`,
    `src/api/r.ts imports 'pg/lib/index.js': ${RULES[2]!.name}`,
    `src/api/r.ts imports '../db/index.ts': ${RULES[2]!.name}`,
    `src/lib/l.ts imports '../limits.ts': ${RULES[3]!.name}`,
    `src/worker/t.ts imports '@opentelemetry/api': ${RULES[4]!.name}`,
    `src/tracing.ts imports './queue/types.ts': ${RULES[5]!.name}`,
  ]);
});

/**
 * The imports a file keeps in its JavaScript: all but `import type` and `export type` (under
 * verbatimModuleSyntax, `import { type X } from` stays, as an import of nothing, so it counts).
 * A dynamic import() or require() of something other than a string literal counts as `<dynamic>`.
 */
function runtimeImportsOf(file: string, text: string): Import[] {
  const specifiers: string[] = [];
  const literal = (e: ts.Expression | undefined) => (e && ts.isStringLiteralLike(e) ? e.text : '<dynamic>');
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && !node.importClause?.isTypeOnly) specifiers.push(literal(node.moduleSpecifier));
    else if (ts.isExportDeclaration(node) && node.moduleSpecifier && !node.isTypeOnly) specifiers.push(literal(node.moduleSpecifier));
    else if (ts.isImportEqualsDeclaration(node) && !node.isTypeOnly && ts.isExternalModuleReference(node.moduleReference)) {
      specifiers.push(literal(node.moduleReference.expression));
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))
    ) {
      specifiers.push(literal(node.arguments[0]));
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true));
  return specifiers.map((specifier) =>
    specifier.startsWith('.') ? { specifier, target: path.posix.join(path.posix.dirname(file), specifier) } : { specifier },
  );
}

const CLIENT_ENTRY = 'src/client.ts';

/** The files `entry` loads at run time, itself included, and each import among them that is not a file of ours. */
function runtimeClosure(files: Map<string, string>, entry: string): { loaded: string[]; outside: string[] } {
  const loaded: string[] = [];
  const outside: string[] = [];
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (loaded.includes(file)) continue;
    loaded.push(file);
    const text = files.get(file);
    if (text === undefined) {
      outside.push(`${file}: not found`);
      continue;
    }
    for (const i of runtimeImportsOf(file, text)) {
      if (i.target === undefined) outside.push(`${file} imports '${i.specifier}' at run time`);
      else pending.push(i.target);
    }
  }
  return { loaded: loaded.sort(), outside };
}

test('the client entry loads nothing but dependency-free modules of its own (no package, no Node.js module)', () => {
  const { loaded, outside } = runtimeClosure(sourceFiles(), CLIENT_ENTRY);
  assert.deepEqual(outside, [], `${CLIENT_ENTRY} must stay usable in a browser or an edge runtime:\n  ${outside.join('\n  ')}`);
  // Not vacuous: the walk followed the client's runtime import of the job states.
  assert.ok(loaded.includes('src/statuses.ts'), loaded.join(', '));
});

test('the client check follows runtime imports only, and every kind of them', () => {
  const files = new Map([
    [
      'src/client.ts',
      `import type { JobWire } from './api/schemas/job.ts';\nexport type { Stats } from './queue/types.ts';\n` +
        `import { isTerminal, type JobStatus } from './statuses.ts';\nimport { type Limits } from './limits.ts';\nexport { x } from './x.ts';`,
    ],
    ['src/statuses.ts', `export const S = ['queued'];`],
    ['src/limits.ts', `import { readFileSync } from 'node:fs';`],
    ['src/x.ts', `const m = await import('./y.ts');\nconst n = await import(name);\nimport pg = require('pg');`],
    ['src/y.ts', `import 'fastify';`],
  ]);
  const { loaded, outside } = runtimeClosure(files, 'src/client.ts');
  assert.deepEqual(loaded, ['src/client.ts', 'src/limits.ts', 'src/statuses.ts', 'src/x.ts', 'src/y.ts']);
  assert.deepEqual(outside.sort(), [
    "src/limits.ts imports 'node:fs' at run time",
    "src/x.ts imports '<dynamic>' at run time",
    "src/x.ts imports 'pg' at run time",
    "src/y.ts imports 'fastify' at run time",
  ]);
});
