/**
 * `npm test`: one PostgreSQL for the whole run (DATABASE_URL when set, else an embedded one in a
 * temporary folder), a migrated template database that each test copies, then Node's test runner
 * over the test files, listed explicitly (Node 20 does not expand globs).
 *
 *   npm test                      every test file under test/ except test/chaos/
 *   npm test -- test/queue*.ts    just these files
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { migrate } from '../src/queue/migrate.ts';

const root = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const args = process.argv.slice(2);
const files = args.length > 0 ? args : findTests(path.join(root, 'test'));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

let tmp: string | undefined;
let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
let adminUrl = process.env.DATABASE_URL;
if (!adminUrl) {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'jobq-test-'));
  embedded = await startEmbeddedPostgres({ dataDir: tmp });
  adminUrl = embedded.url;
}

const template = `jobq_tpl_${process.pid}`;
const admin = new pg.Client(adminUrl);
await admin.connect();
await admin.query(`CREATE DATABASE ${template}`);
const tplPool = new pg.Pool({ connectionString: withDatabase(adminUrl, template), max: 1 });
await migrate(tplPool);
await tplPool.end();

const code = await new Promise<number>((resolve) => {
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', ...files], {
    stdio: 'inherit',
    env: { ...process.env, JOBQ_TEST_ADMIN_URL: adminUrl, JOBQ_TEST_TEMPLATE: template, JOBQ_TEST_RUN: String(process.pid) },
  });
  const forward = (sig: NodeJS.Signals) => child.kill(sig);
  process.on('SIGINT', forward).on('SIGTERM', forward);
  child.on('close', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
});

try {
  const { rows } = await admin.query<{ datname: string }>(
    `SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2`,
    [template, `jobq_t${process.pid}_%`],
  );
  for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
} finally {
  await admin.end();
  await embedded?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}
process.exit(code);

function findTests(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.ts'))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
    .filter((f) => !f.split(path.sep).includes('chaos'))
    .sort();
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
