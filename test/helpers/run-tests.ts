/**
 * What `npm test` and `npm run test:chaos` share: one PostgreSQL for the run (DATABASE_URL when set,
 * else an embedded one in a temporary folder), a migrated template database that tests copy, then
 * Node's test runner over the files, listed explicitly (Node 20 does not expand globs). Returns the
 * runner's exit code after dropping what the run created.
 *
 * With JOBQ_TEST_PGBOUNCER=1, a real PgBouncer in transaction mode is started in front of that server
 * (helpers/pgbouncer.ts) and every test database is reached through it (JOBQ_TEST_POOLED_URL), but for
 * LISTEN, which goes direct as the README tells production to (JOBQ_LISTEN_URL): helpers/db.ts.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { migrate } from '../../src/queue/migrate.ts';
import { type PgBouncer, pgbouncerVersion, startPgBouncer } from './pgbouncer.ts';

export async function runTestFiles(opts: { files: string[]; nodeTestArgs?: string[]; env?: Record<string, string> }): Promise<number> {
  let tmp: string | undefined;
  let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'jobq-test-'));
    chmodSync(tmp, 0o755); // as root, the postgres user must reach it (else the cluster goes to /var/lib/jobq)
    embedded = await startEmbeddedPostgres({ dataDir: tmp });
    adminUrl = embedded.url;
  }
  let bouncer: PgBouncer | undefined;
  if (process.env.JOBQ_TEST_PGBOUNCER === '1') {
    bouncer = await startPgBouncer({ serverUrl: adminUrl });
    console.log(`# through ${pgbouncerVersion()} on ${bouncer.host}:${bouncer.port}, pool_mode = transaction`);
  }
  const template = `jobq_tpl_${process.pid}`;
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${template}`);
    const tplPool = new pg.Pool({ connectionString: withDatabase(adminUrl, template), max: 1 });
    await migrate(tplPool);
    await tplPool.end();

    return await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--test', ...(opts.nodeTestArgs ?? []), ...opts.files], {
        stdio: 'inherit',
        env: {
          ...process.env,
          ...opts.env,
          JOBQ_TEST_ADMIN_URL: adminUrl,
          JOBQ_TEST_TEMPLATE: template,
          JOBQ_TEST_RUN: String(process.pid),
          ...(bouncer ? { JOBQ_TEST_POOLED_URL: bouncer.pooled(adminUrl!) } : {}),
        },
      });
      const forward = (sig: NodeJS.Signals) => child.kill(sig);
      process.on('SIGINT', forward).on('SIGTERM', forward);
      child.on('close', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
    });
  } finally {
    const { rows } = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2`, [
      template,
      `jobq_t${process.pid}_%`,
    ]);
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
    await admin.end();
    await bouncer?.stop();
    await embedded?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
