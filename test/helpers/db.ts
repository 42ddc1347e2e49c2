/**
 * Real PostgreSQL for tests: each call copies the run's migrated template into a database of its own,
 * dropped when the test (or file) ends. Set up by test/run.ts (`npm test`).
 */
import { after } from 'node:test';
import pg from 'pg';
import { builtinKinds } from '../../src/kinds/index.ts';
import { KindRegistry } from '../../src/kinds/registry.ts';
import { Queue, type QueueOptions } from '../../src/queue/queue.ts';
import { eventually } from './poll.ts';

const adminUrl = process.env.JOBQ_TEST_ADMIN_URL;
const template = process.env.JOBQ_TEST_TEMPLATE;
/** Set by the runner's pooled pass: PgBouncer's URL (any database). */
const pooledUrl = process.env.JOBQ_TEST_POOLED_URL;
const run = process.env.JOBQ_TEST_RUN ?? String(process.pid);
let counter = 0;
let adminPool: pg.Pool | undefined;

export interface TestDatabase {
  /** Through PgBouncer in the pooled pass (JOBQ_TEST_PGBOUNCER=1), else the server's. */
  url: string;
  /** In the pooled pass, the direct URL that LISTEN takes (JOBQ_LISTEN_URL); else undefined. */
  listenUrl: string | undefined;
  pool: pg.Pool;
  drop(): Promise<void>;
}

function admin(): pg.Pool {
  if (!adminUrl || !template) throw new Error('run the tests with `npm test` (it provides the database)');
  if (!adminPool) {
    // Lives as long as the file's process; allowExitOnIdle lets that process end without a hook.
    adminPool = new pg.Pool({ connectionString: adminUrl, max: 2, allowExitOnIdle: true });
    adminPool.on('error', () => {}); // an idle admin connection lost: the next query opens another
  }
  return adminPool;
}

/**
 * A fresh migrated database (`{ migrated: false }`: an empty one), dropped after the calling test
 * (or, called at file level, after the file).
 */
export async function freshDatabase(opts: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const name = `jobq_t${run}_${process.pid}_${++counter}`;
  const pool0 = admin();
  await pool0.query(opts.migrated === false ? `CREATE DATABASE ${name}` : `CREATE DATABASE ${name} TEMPLATE ${template}`);
  const u = new URL(adminUrl!);
  u.pathname = `/${name}`;
  const direct = u.toString();
  const url = pooledUrl ? withPath(pooledUrl, name) : direct;
  const listenUrl = pooledUrl ? direct : undefined;
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('error', () => {});
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await pool.end().catch(() => {});
    const sql = `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`;
    // An admin connection lost under it (seen once in a loaded run through PgBouncer: "Connection
    // terminated") is no answer from the server: the drop is tried once more on a new one.
    await pool0.query(sql).catch(async (err: { severity?: string }) => {
      if (err.severity) throw err;
      await pool0.query(sql);
    });
  };
  after(drop);
  return { url, listenUrl, pool, drop };
}

function withPath(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * The URL a test's own LISTEN takes: the direct one in the pooled pass (LISTEN cannot work through
 * PgBouncer in transaction mode), else `url` itself.
 */
export function directUrl(url: string): string {
  if (!pooledUrl) return url;
  const p = new URL(pooledUrl);
  const u = new URL(url);
  if (u.host !== p.host) return url;
  return withPath(adminUrl!, u.pathname.slice(1));
}

/**
 * A fresh migrated database reached straight, even in the pooled pass: for the storage study's
 * prototypes (bench/storage/), which name their statements and run pgbench, as a study on the server
 * itself does. Dropped like freshDatabase's.
 */
export async function directDatabase(): Promise<TestDatabase> {
  const db = await freshDatabase();
  if (!pooledUrl) return db;
  const url = directUrl(db.url);
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('error', () => {});
  const drop = async () => {
    await pool.end().catch(() => {});
    await db.drop();
  };
  after(drop);
  return { url, listenUrl: undefined, pool, drop };
}

/** Whether this run goes through PgBouncer (JOBQ_TEST_PGBOUNCER=1). */
export const throughPgBouncer = pooledUrl !== undefined;

export function testKinds(): KindRegistry {
  return new KindRegistry(builtinKinds({ outboxDir: '/nonexistent-outbox', httpAllowHosts: [] }));
}

/** A fresh database and a Queue on it with the built-in kinds. */
export async function freshQueue(opts: Partial<QueueOptions> = {}): Promise<{ queue: Queue; db: TestDatabase }> {
  const db = await freshDatabase();
  return { db, queue: new Queue({ pool: db.pool, kinds: testKinds(), ...opts }) };
}

/** `n` Queues on pools of one connection each: concurrent enqueues really travel over `n` connections. */
export async function connections(url: string, n: number): Promise<{ queues: Queue[]; end: () => Promise<void> }> {
  const pools = Array.from({ length: n }, () => new pg.Pool({ connectionString: url, max: 1 }).on('error', () => {}));
  await Promise.all(pools.map((p) => p.query('SELECT 1'))); // connected first, so that the enqueues start together
  return { queues: pools.map((pool) => new Queue({ pool, kinds: testKinds() })), end: async () => void (await Promise.all(pools.map((p) => p.end()))) };
}

/** Waits until a backend of this database waits for a lock (say, an INSERT waiting for the transaction of a conflicting row). */
export async function waitForLockWait(pool: pg.Pool, ms = 10_000): Promise<void> {
  const sql = "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
  await eventually(async () => ((await pool.query<{ n: number }>(sql)).rows[0]!.n > 0 ? true : undefined), ms, 'a backend waiting for a lock', 10);
}

/**
 * Every job, in whichever store holds it, as a FROM item (give it an alias): the rows, and each job of
 * the log store that is not a row, as jobq.log_jobs derives it. Columns: id, queue, kind, status (text),
 * attempts, result, errors, run_at, locked_by, finished_at. For tests that look at all jobs at once
 * (the chaos suite) whichever store the default puts them in.
 */
export const EVERY_JOB = `(
  SELECT id, queue, kind, status::text AS status, attempts, result, errors, run_at, locked_by, finished_at FROM jobq.jobs
  UNION ALL
  SELECT id, queue, kind, status, attempts, result, errors, run_at, locked_by, finished_at
    FROM jobq.log_jobs(ARRAY(SELECT id FROM jobq.log_all UNION SELECT id FROM jobq.log_scheduled EXCEPT SELECT id FROM jobq.jobs))
   WHERE status <> 'moved')`;

/** The size of both stores' tables (and their indexes) in MB: the rows, and every log partition. */
export const STORES_MB = `(SELECT sum(pg_total_relation_size(c.oid))::float8 / 1048576 FROM pg_class c
   WHERE c.relnamespace = 'jobq'::regnamespace AND c.relkind = 'r' AND (c.relname = 'jobs' OR c.relname LIKE 'log%'))`;

/** How many jobs the database holds, in either store. */
export async function jobCount(pool: pg.Pool): Promise<number> {
  // Rows, and the jobs of the log store that are not rows (a job moved to the rows is both).
  return (await pool.query<{ n: number }>(
    `SELECT ((SELECT count(*) FROM jobq.jobs)
             + (SELECT count(*) FROM (SELECT id FROM jobq.log_all UNION SELECT id FROM jobq.log_scheduled) l
                 WHERE NOT EXISTS (SELECT FROM jobq.jobs j WHERE j.id = l.id)))::int AS n`,
  )).rows[0]!.n;
}
