/**
 * The claim's plan. EXPLAIN cannot see inside the jobq.claim function, so auto_explain reports the
 * plan of the statement it runs (as notices, inside a transaction that is rolled back).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { claim, claimLimited, type ClaimParams } from '../../src/queue/statements/claim.ts';
import { flowQueues } from '../../src/queue/statements/policies.ts';
import * as Housekeeping from '../../src/queue/statements/housekeeping.ts';
import { release, renewClaims } from '../../src/queue/statements/leases.ts';
import { complete } from '../../src/queue/statements/transitions.ts';
import { freshDatabase } from '../helpers/fixtures.ts';

/** The plans of every statement `sql` runs, nested ones included; nothing it does is kept. */
async function plansOf(pool: pg.Pool, sql: string, values: unknown[], settings: string[] = []): Promise<string> {
  const client = await pool.connect();
  const notices: string[] = [];
  const onNotice = (n: { message?: string }) => notices.push(n.message ?? '');
  client.on('notice', onNotice);
  try {
    await client.query('BEGIN');
    await client.query(`LOAD 'auto_explain'`);
    await client.query(`SET LOCAL auto_explain.log_min_duration = 0`);
    await client.query(`SET LOCAL auto_explain.log_nested_statements = on`);
    await client.query(`SET LOCAL auto_explain.log_level = 'notice'`);
    for (const setting of settings) await client.query(`SET LOCAL ${setting}`);
    await client.query(sql, values);
    return notices.join('\n');
  } finally {
    await client.query('ROLLBACK');
    client.off('notice', onNotice);
    client.release();
  }
}

/** The claim statement's values: worker w, 10 jobs, any queue and kind, unless `p` says otherwise. */
function claimValues(p: Partial<ClaimParams> = {}): unknown[] {
  return claim.values({
    workerId: 'w', limit: 10, queues: null, kinds: null, afterPriority: null, afterRunAt: null, afterId: null, started: null, async: false, now: null, exclude: null, ...p,
  });
}

/** Bulk set-up straight in SQL: fast, and it writes rows exactly as the queue module would. */
async function addFinished(pool: pg.Pool, n: number): Promise<void> {
  await pool.query(`
    INSERT INTO jobq.jobs (id, kind, payload, status, attempts, finished_at, result)
    SELECT gen_random_uuid(), 'noop', '{}', 'succeeded', 1, now(), '{}' FROM generate_series(1, $1::int)`, [n]);
}

function assertIndexWalk(plan: string): void {
  assert.match(plan, /Index Scan using jobs_runnable_idx/, plan);
  assert.doesNotMatch(plan, /Seq Scan on jobs|Bitmap Heap Scan|Sort Key: jobs\.priority/, plan);
}

test('claiming from 1,000,000 finished and 10,000 runnable jobs walks the runnable index', async () => {
  const db = await freshDatabase();
  await addFinished(db.pool, 1_000_000);
  await db.pool.query(`
    INSERT INTO jobq.jobs (id, kind, payload, priority)
    SELECT gen_random_uuid(), 'noop', '{}', i % 3 FROM generate_series(1, 10000) i`);
  await db.pool.query('ANALYZE jobq.jobs');

  assertIndexWalk(await plansOf(db.pool, claim.text, claimValues()));
  assertIndexWalk(await plansOf(db.pool, claim.text, claimValues({ queues: ['default'], kinds: ['noop'] })));
  const { rows } = await db.pool.query(`EXPLAIN ${Housekeeping.recover.text}`, Housekeeping.recover.values({ staleAfterMs: 30000, batch: 1000, now: null }));
  const recover = rows.map((r) => r['QUERY PLAN']).join('\n');
  assert.match(recover, /jobs_lease_idx/, recover);
  assert.doesNotMatch(recover, /Seq Scan/, recover);
  const prune = (await db.pool.query(`EXPLAIN ${Housekeeping.prune.text}`, Housekeeping.prune.values({ status: 'succeeded', keepMs: 60_000, batch: 1000, now: null }))).rows.map((r) => r['QUERY PLAN']).join('\n');
  assert.match(prune, /jobs_finished_idx/, prune);
  assert.doesNotMatch(prune, /Seq Scan/, prune);

  // From a cursor, the scan starts at the cursor: a range of the index, not a walk from its front.
  const { rows: [last] } = await db.pool.query(`SELECT priority, run_at, id FROM jobq.jobs WHERE status = 'queued' AND priority = 1 ORDER BY run_at, id OFFSET 500 LIMIT 1`);
  const cursor = await plansOf(db.pool, claim.text, claimValues({ kinds: ['noop'], afterPriority: last.priority, afterRunAt: last.run_at, afterId: last.id }));
  assertIndexWalk(cursor);
  assert.match(cursor, /Index Cond: \(\(priority = .*ROW\(run_at, id\) > ROW\(/, cursor);

  // And it really claims: the highest priority first.
  const claimed = await db.pool.query(claim.text, claimValues());
  assert.equal(claimed.rows.length, 10);
  for (const r of claimed.rows) assert.equal(r.priority, 2);
});

test("a worker's statements on its own jobs look them up by id, however many jobs are running", async () => {
  // Statistics taken while nothing ran, then thousands running: the shape of every busy queue. A plan
  // through a lease index would read every running job of every worker for each batch of ids.
  const db = await freshDatabase();
  await db.pool.query(`INSERT INTO jobq.jobs (id, kind, payload) SELECT gen_random_uuid(), 'noop', '{}' FROM generate_series(1, 20000)`);
  await db.pool.query('ANALYZE jobq.jobs');
  const claimed = await db.pool.query(claim.text, claimValues({ limit: 5000 }));
  assert.equal(claimed.rowCount, 5000);
  const ids = claimed.rows.slice(0, 100).map((r) => r.id);
  // The worker names its claims (a claim set: statements/guards.ts CLAIMED).
  const claims = JSON.stringify(Object.fromEntries(claimed.rows.slice(0, 100).map((r) => [r.claim_seq, []])));
  for (const mode of ['force_custom_plan', 'force_generic_plan']) {
    const settings = [`plan_cache_mode = ${mode}`];
    for (const [name, sql, values] of [
      ['complete', complete.text, complete.values({ workerId: 'w', ids, claims, started: null, now: null })],
      ['renew', renewClaims.text, renewClaims.values({ workerId: 'w', ids, claims, now: null })],
      ['release', release.text, release.values({ workerId: 'w', ids, claims, now: null })],
    ] as const) {
      const plan = await plansOf(db.pool, sql, [...values], settings);
      assert.match(plan, /Index Cond: \(id = ANY/, `${name} (${mode}):\n${plan}`);
      assert.doesNotMatch(plan, /lease_idx|Seq Scan/, `${name} (${mode}):\n${plan}`);
    }
  }
});

test('right after a bulk enqueue, before any ANALYZE, the claim still walks the index (no sort of every row)', async () => {
  const db = await freshDatabase();
  await db.pool.query(`INSERT INTO jobq.jobs (id, kind, payload) SELECT gen_random_uuid(), 'noop', '{}' FROM generate_series(1, 20000)`);
  assertIndexWalk(await plansOf(db.pool, claim.text, claimValues({ kinds: ['noop'] })));
});

test('the claim is never JIT-compiled: its pinned plan costs ~10^10, far above jit_above_cost', async () => {
  // Measured on PostgreSQL 15 with JIT on (its default): 150 ms per claim of 200 jobs, 148 of them compiling.
  const db = await freshDatabase();
  await db.pool.query(`INSERT INTO jobq.jobs (id, kind, payload) SELECT gen_random_uuid(), 'noop', '{}' FROM generate_series(1, 1000)`);
  const { rows: [fn] } = await db.pool.query(`SELECT proconfig FROM pg_proc
    WHERE oid = 'jobq.claim(text, integer, text[], text[], timestamptz, integer, timestamptz, uuid, integer, boolean, text[])'::regprocedure`);
  assert.ok(fn.proconfig.includes('jit=off'), String(fn.proconfig));
  const { rows: [{ available }] } = await db.pool.query('SELECT pg_jit_available() AS available');
  if (!available) return; // a server built without LLVM (the embedded one) never compiles; the setting above is what counts
  const plan = await plansOf(db.pool, claim.text, claimValues({ limit: 200, started: 10 }), ['jit = on']);
  assert.match(plan, /Update on jobs/, plan);
  assert.doesNotMatch(plan, /JIT:/, plan);
  // The same kind of work outside the function, with the same pin, is compiled: this test can tell.
  const control = await plansOf(db.pool, 'SELECT row_number() OVER (ORDER BY run_at) FROM jobq.jobs', [], ['jit = on', 'enable_sort = off']);
  assert.match(control, /JIT:/, control);
});

test('claim_limited and the workers\' view of the queues walk indexes: the group index, the lease index, never the whole table', async () => {
  const db = await freshDatabase();
  await addFinished(db.pool, 200_000);
  await db.pool.query(`
    INSERT INTO jobq.jobs (id, queue, kind, payload, group_key)
    SELECT gen_random_uuid(), 'tenants', 'noop', '{}', 'g' || (i % 100) FROM generate_series(1, 10000) i`);
  await db.pool.query(`INSERT INTO jobq.jobs (id, queue, kind, payload) SELECT gen_random_uuid(), 'mail', 'noop', '{}' FROM generate_series(1, 1000)`);
  await db.pool.query(`INSERT INTO jobq.queues (name, concurrency, group_concurrency) VALUES ('tenants', 50, 2), ('mail', 5, NULL)`);
  await db.pool.query('ANALYZE jobq.jobs');
  const values = claimLimited.values({ workerId: 'w', queues: ['tenants', 'mail'], limit: 20, kinds: ['noop'], async: false, now: null });
  const plan = await plansOf(db.pool, claimLimited.text, values);
  assert.match(plan, /Index (Only )?Scan using jobs_group_idx/, plan);
  assert.match(plan, /Index Scan using jobs_lease_idx/, plan);
  assert.match(plan, /Index Scan using jobs_runnable_idx/, plan);
  assert.doesNotMatch(plan, /Seq Scan on jobs|Bitmap Heap Scan on jobs/, plan);
  const view = await plansOf(db.pool, flowQueues.text, []);
  assert.match(view, /jobs_group_idx/, view);
  assert.doesNotMatch(view, /Seq Scan on jobs|Bitmap Heap Scan on jobs/, view);
});
