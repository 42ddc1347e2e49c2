/**
 * Issue #14, item 5: reads have limits the database enforces. A list page examines a bounded number of
 * rows and bytes whatever its filter, API reads run under a short statement_timeout (every other
 * statement under the query timeout), and /v1/stats and /readyz are answered from one query per second.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { buildApp } from '../../src/api/app.ts';
import { openDatabase } from '../../src/db/index.ts';
import { createPool } from '../../src/db/pool.ts';
import { isJobqError } from '../../src/errors.ts';
import { migrate } from '../../src/queue/migrate.ts';
import { Queue } from '../../src/queue/queue.ts';
import { list } from '../../src/queue/statements/reads.ts';
import { freshDatabase, freshQueue, testKinds, eventually, body, buildTestApp, DEFAULT_CONFIG, listen, throughPgBouncer } from '../helpers/fixtures.ts';

/** Through PgBouncer no statement_timeout is sent at connect (it refuses the parameter): the server's own setting bounds statements (README, PgBouncer). */
const STATEMENT_TIMEOUT_IS_THE_SERVERS = 'through PgBouncer the statement timeout is the server\'s own setting, not the pool\'s';

/** Statements other sessions are running in this database (ours excluded). */
async function running(admin: pg.Pool): Promise<string[]> {
  const { rows } = await admin.query<{ query: string }>(
    `SELECT application_name || ': ' || left(query, 40) || ' (for ' || (now() - query_start)::text || ')' AS query
       FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'`,
  );
  return rows.map((r) => r.query);
}

/**
 * Nothing is left running. A statement the server has just cancelled may still show as active while
 * its backend cleans up (a few milliseconds): allowed a moment, far less than any scan takes.
 */
async function nothingRunning(admin: pg.Pool, what: string): Promise<void> {
  let last: string[] = [];
  await eventually(async () => ((last = await running(admin)).length === 0 ? true : undefined), 1_000, what).catch(() => {
    assert.deepEqual(last, [], what);
  });
}

const FINISHED = 2_000_000;

interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows': number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
}

/** Rows the scans of `table` in an EXPLAIN ANALYZE plan read: those they returned and those they filtered out. */
function rowsRead(node: PlanNode, table: string): number {
  const own = node['Relation Name'] === table ? node['Actual Rows'] + (node['Rows Removed by Filter'] ?? 0) : 0;
  return own + (node.Plans ?? []).reduce((n, child) => n + rowsRead(child, table), 0);
}

test('2,000,000 finished jobs: 30 parallel lists of a kind with none all answer, and leave no query running', { timeout: 300_000 /* hang guard: about 20 s here */, skip: throughPgBouncer && STATEMENT_TIMEOUT_IS_THE_SERVERS }, async () => {
  const db = await freshDatabase();
  // One http job in the middle of the history, so that walking the pages has something to find.
  await db.pool.query(
    `INSERT INTO jobq.jobs (id, queue, kind, payload, status, attempts, finished_at)
     SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'default',
            CASE WHEN i = $1 / 2 THEN 'http' ELSE 'noop' END, '{"n": 1}', 'succeeded', 1, now()
       FROM generate_series(1, $1::int) AS i`,
    [FINISHED],
  );
  await db.pool.query('VACUUM ANALYZE jobq.jobs');
  // Wired as `jobq api` wires it, with a query timeout of one second: a 503 is an answer that came too late.
  const database = await openDatabase({ databaseUrl: db.url, dataDir: '/nonexistent', max: 10, queryTimeoutMs: 1_000, readTimeoutMs: 500 });
  const queue = new Queue({ pool: database.pool, readPool: database.readPool, kinds: testKinds() });
  const app = await buildApp({ queue, config: DEFAULT_CONFIG, ready: async () => true });
  try {
    const url = await listen(app);
    const answers = await Promise.all(Array.from({ length: 30 }, () => fetch(`${url}/v1/jobs?kind=send_email&limit=50`)));
    assert.deepEqual(answers.map((r) => r.status), Array(30).fill(200));
    await nothingRunning(db.pool, 'no statement goes on after its answer');
    for (const r of answers) {
      const page = (await r.json()) as { jobs: unknown[]; next_cursor: string | null };
      assert.equal(page.jobs.length, 0);
      assert.ok(page.next_cursor, 'the scan stopped early and says where to continue');
    }

    // Walking the cursors crosses the whole table, one bounded page at a time, and finds the one job.
    // Its connection plans LIST generically, as PostgreSQL may choose to after five runs.
    const generic = new pg.Pool({ connectionString: db.url, max: 1, options: '-c plan_cache_mode=force_generic_plan' });
    const walker = new Queue({ pool: generic, kinds: testKinds() });
    const found: string[] = [];
    let pages = 0;
    for (let cursor: string | null | undefined; cursor !== null; pages++) {
      const page = await walker.list({ kind: 'http', cursor });
      found.push(...page.jobs.map((j) => j.id));
      cursor = page.nextCursor;
    }
    assert.deepEqual(found, [`00000000-0000-7000-8000-${(FINISHED / 2).toString(16).padStart(12, '0')}`]);
    assert.ok(pages >= FINISHED / 10_000, `${pages} pages`);
    // A page deep in the table starts at its cursor: the scan reads its budget, not every newer row.
    const deep = `00000000-0000-7000-8000-${(100).toString(16).padStart(12, '0')}`;
    const args = list.values({ status: null, kind: 'http', queue: null, group: null, after: deep, limit: 51, scanRows: 10_000, pageBytes: 8_388_608 });
    const literals = args.map((v) => (v === null ? 'NULL' : `'${String(v)}'`)).join(', ');
    const { rows } = await generic.query(`EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE ${list.name}(${literals})`);
    const scanned = rowsRead(rows[0]['QUERY PLAN'][0].Plan, 'jobs');
    assert.ok(scanned <= 10_001, `the deepest page read ${scanned} rows`);
    await generic.end();
  } finally {
    await app.close();
    await database.close();
  }

  // A read that would run longer than the read timeout is stopped by the database, not only abandoned.
  const slow = await openDatabase({ databaseUrl: db.url, dataDir: '/nonexistent', queryTimeoutMs: 5_000, readTimeoutMs: 100 });
  try {
    const unbounded = new Queue({ pool: slow.pool, readPool: slow.readPool, kinds: testKinds(), listBounds: { scanRows: 10 * FINISHED } });
    await assert.rejects(unbounded.list({ kind: 'send_email' }), (err) => isJobqError(err, 'database_unavailable'));
    await nothingRunning(db.pool, 'the slow read was stopped by the database');
  } finally {
    await slow.close();
  }
});

test('every pooled statement has a server-side limit: one that outlives the query timeout is stopped there', { skip: throughPgBouncer && STATEMENT_TIMEOUT_IS_THE_SERVERS }, async () => {
  const db = await freshDatabase();
  const pool = createPool(db.url, { queryTimeoutMs: 300 });
  try {
    await assert.rejects(pool.query('SELECT pg_sleep(3)'));
    await nothingRunning(db.pool, 'the sleep was stopped, not left running');
  } finally {
    await pool.end();
  }
});

test('migrations are not cut short by the statement timeout', { skip: throughPgBouncer && STATEMENT_TIMEOUT_IS_THE_SERVERS }, async () => {
  const db = await freshDatabase({ migrated: false });
  const pool = createPool(db.url, { queryTimeoutMs: 200 });
  const holder = await db.pool.connect();
  try {
    // Another migrator holds the lock longer than the statement timeout: this one waits for it.
    await holder.query(`SELECT pg_advisory_lock(${0x6a6f6271})`);
    const migrating = migrate(pool);
    await new Promise((r) => setTimeout(r, 600));
    await holder.query(`SELECT pg_advisory_unlock(${0x6a6f6271})`);
    assert.ok((await migrating).applied.length > 0);
    assert.equal((await pool.query('SHOW statement_timeout')).rows[0].statement_timeout, '200ms', 'the session gets its limit back');
  } finally {
    holder.release();
    await pool.end();
  }
});

for (const logStore of [false, true]) {
  const which = logStore ? ', with the log store (its jobs and rows merged on each page)' : '';
  test(`a page stops before the job that would pass its byte cap, and the cursor continues there${which}`, { timeout: 120_000 }, async () => {
    const { queue: q } = await freshQueue({ logStore });
    const { app, queue } = await buildTestApp({ queue: q });
    const MiB = 1024 * 1024;
    // Half compressible (stored in a few kB, 1 MiB once sent), half not; with the log store, one in three
    // keyed (a row), the rest in the log.
    const random = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(Math.random() * 256))).toString('base64').slice(0, n);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const text = i % 2 === 0 ? 'a'.repeat(999_000) : random(999_000);
      ids.push((await queue.enqueue({ kind: 'summarize_text', payload: { text }, ...(i % 3 === 0 ? { idempotencyKey: `k${i}` } : {}) })).job.id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { statusCode: number; rawPayload: Buffer; body: string } = await app.inject({ url: `/v1/jobs?limit=500${cursor ? `&cursor=${cursor}` : ''}` });
      assert.equal(res.statusCode, 200);
      assert.ok(res.rawPayload.length <= 9 * MiB, `a page of ${res.rawPayload.length} bytes`);
      const page = JSON.parse(res.body) as { jobs: { id: string }[]; next_cursor: string | null };
      assert.ok(page.jobs.length >= 1 && page.jobs.length <= 8, `${page.jobs.length} jobs on a page`);
      seen.push(...page.jobs.map((j) => j.id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor);
    assert.deepEqual(seen, [...ids].reverse(), 'every job once, newest first');
    assert.ok(pages >= 4);
  });
}

test('/v1/stats and /readyz cost one query per period however many ask at once', async () => {
  let readyChecks = 0;
  const { app, queue } = await buildTestApp({ ready: async () => (readyChecks++, true) });
  let statsQueries = 0;
  const stats = queue.stats.bind(queue);
  queue.stats = (...a) => (statsQueries++, stats(...a));
  await queue.enqueue({ kind: 'noop', payload: {} });
  const statsAnswers = await Promise.all(Array.from({ length: 50 }, () => app.inject({ url: '/v1/stats' })));
  const readyAnswers = await Promise.all(Array.from({ length: 50 }, () => app.inject({ url: '/readyz' })));
  assert.deepEqual([...new Set(statsAnswers.map((r) => r.statusCode))], [200]);
  assert.equal(body(statsAnswers[0]!).by_status.queued, 1);
  assert.deepEqual([...new Set(readyAnswers.map((r) => r.statusCode))], [200]);
  assert.equal(statsQueries, 1);
  assert.equal(readyChecks, 1);
});
