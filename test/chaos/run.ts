/**
 * `npm run test:chaos`: the reliability and security suite (issue #7), real `jobq` processes on loopback.
 *
 *   npm run test:chaos                               full profile (the sustained load runs 10 minutes)
 *   CI=true npm run test:chaos                       short profile (the whole suite in about 5 minutes)
 *   JOBQ_CHAOS_PROFILE=short npm run test:chaos      the same
 *   npm run test:chaos -- test/chaos/security.test.ts    some files only
 *   npm run test:chaos -- --test-name-pattern=buffer test/chaos/worker-crash.test.ts   some tests only
 *
 * Like test/run.ts: one PostgreSQL for the scenarios that do not restart it (DATABASE_URL when set, else
 * an embedded one in a temporary folder), a migrated template database each scenario copies (through
 * test/helpers/db.ts), then Node's test runner over the files, one at a time (they measure load and
 * memory, so they must not share the two cores), with the runner's exit code. The database-restart
 * scenario starts a PostgreSQL of its own.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { migrate } from '../../src/queue/migrate.ts';

const FILES = [
  'test/chaos/worker-crash.test.ts',
  'test/chaos/db-restart.test.ts',
  'test/chaos/db-freeze.test.ts',
  'test/chaos/connection-loss.test.ts',
  'test/chaos/hostile-input.test.ts',
  'test/chaos/security.test.ts',
  'test/chaos/ssrf.test.ts',
  'test/chaos/sustained-load.test.ts',
];

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
process.chdir(root);
const args = process.argv.slice(2);
const options = args.filter((a) => a.startsWith('--')); // passed to the test runner (--test-name-pattern=...)
const named = args.filter((a) => !a.startsWith('--'));
const files = named.length > 0 ? named : FILES;
const explicit = process.env.JOBQ_CHAOS_PROFILE;
if (explicit !== undefined && explicit !== 'short' && explicit !== 'full') {
  console.error(`JOBQ_CHAOS_PROFILE must be short or full, got "${explicit}"`);
  process.exit(2);
}
const profile = explicit ?? (process.env.CI === 'true' ? 'short' : 'full');
console.log(`chaos suite, ${profile} profile: ${files.join(' ')}`);

let tmp: string | undefined;
let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
let adminUrl = process.env.DATABASE_URL;
if (!adminUrl) {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'jobq-chaos-'));
  chmodSync(tmp, 0o755); // as root, the postgres user must reach it (else the cluster goes to /var/lib/jobq)
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
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...options, ...files], {
    stdio: 'inherit',
    env: {
      ...process.env,
      JOBQ_CHAOS_PROFILE: profile,
      JOBQ_TEST_ADMIN_URL: adminUrl,
      JOBQ_TEST_TEMPLATE: template,
      JOBQ_TEST_RUN: String(process.pid),
    },
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

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
