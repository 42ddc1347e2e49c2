/**
 * The lease keeper's thread steps in whenever the worker's own renewal is late, not only when its event
 * loop is blocked (test/worker/blocking.test.ts): here the event loop runs, but every connection of the
 * worker's pool is taken, so its heartbeat waits for one. Before, the thread stood by (the main thread
 * still ticked) and another process's sweeper recovered the jobs the worker was running.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { Queue } from '../../src/queue/queue.ts';
import { deferred, eventually, kindsWithProbe, setup, waitForStatus } from '../helpers/fixtures.ts';

const LEASE_MS = 1_500;
const HEARTBEAT_MS = 300;
const POOL_MAX = 3;

test('a worker whose pool is exhausted keeps its leases through the keeper thread: no job is recovered, each runs once', { timeout: 60_000 }, async (t) => {
  const release = deferred();
  const runs = new Map<string, number>();
  const started = new Set<string>();
  const kinds = kindsWithProbe(async (_p, ctx) => {
    runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1);
    started.add(ctx.job.id);
    await release.promise;
    return 'done';
  });
  const s = await setup(kinds);
  // The worker's own queue, on a small pool this test can drain.
  // Its idle connections end with the test's database (dropped first): not an error of the test.
  const pool = new pg.Pool({ connectionString: s.db.url, max: POOL_MAX }).on('error', () => {});
  const queue = new Queue({ pool, kinds });
  t.after(() => pool.end());
  await s.worker({ queue, workerId: 'starved', concurrency: 2, leaseMs: LEASE_MS, heartbeatMs: HEARTBEAT_MS, pollIntervalMs: 100 });
  const ids = (await s.queue.enqueueMany([{ kind: 'probe', payload: {} }, { kind: 'probe', payload: {} }])).map((r) => r.job.id);
  await eventually(() => (started.size === 2 ? true : undefined), 10_000, 'both jobs to start');

  // Every connection of the worker's pool, held: its heartbeat (and everything else it writes) waits.
  const held = await Promise.all(Array.from({ length: POOL_MAX }, () => pool.connect()));
  try {
    const since = (await s.db.pool.query<{ since: Date }>(`SELECT now() AS since`)).rows[0]!.since;
    // Another process's sweep, over three leases: it finds nothing to recover, because the keeper's
    // thread renews the leases on its own connection.
    const renewed = await eventually(async () => {
      assert.equal(await s.queue.recoverStale(LEASE_MS), 0, 'no job recovered while the pool is exhausted');
      const { rows } = await s.db.pool.query<{ n: number; late: boolean }>(
        `SELECT count(*) FILTER (WHERE locked_by = 'starved' AND locked_at > $2::timestamptz + $3 * interval '1 millisecond')::int AS n,
                now() > $2::timestamptz + 3 * $3 * interval '1 millisecond' AS late
           FROM jobq.jobs WHERE id = ANY($1)`,
        [ids, since, LEASE_MS],
      );
      return rows[0]!.late ? rows[0]!.n : undefined;
    }, 30_000, 'three leases to pass', 100);
    assert.equal(renewed, 2, 'both leases were renewed more than a lease after the pool ran dry');
  } finally {
    // Given back however the check ends, before the worker stops and the pool ends.
    for (const c of held) c.release();
    release.resolve();
  }
  for (const id of ids) {
    const job = await waitForStatus(s.queue, id, 'succeeded');
    assert.equal(job.attempts, 1);
  }
  assert.deepEqual([...runs.values()], [1, 1], 'each job ran once');
});

test('a worker whose pool stays exhausted past the bound gives its leases up: its jobs are recovered elsewhere', { timeout: 60_000 }, async (t) => {
  const release = deferred();
  const started = new Set<string>();
  const kinds = kindsWithProbe(async (_p, ctx) => {
    started.add(ctx.job.id);
    await release.promise;
    return 'done';
  });
  const s = await setup(kinds);
  const pool = new pg.Pool({ connectionString: s.db.url, max: POOL_MAX }).on('error', () => {});
  t.after(() => pool.end());
  const queue = new Queue({ pool, kinds });
  await s.worker({ queue, workerId: 'wedged', concurrency: 1, leaseMs: LEASE_MS, heartbeatMs: HEARTBEAT_MS, pollIntervalMs: 100, maxBlockedMs: 1_000 });
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  await eventually(() => (started.size === 1 ? true : undefined), 10_000, 'the job to start');

  const held = await Promise.all(Array.from({ length: POOL_MAX }, () => pool.connect()));
  try {
    // Renewed by the thread for about the bound, then given up: another process's sweep recovers it.
    await eventually(async () => ((await s.queue.recoverStale(LEASE_MS)) > 0 ? true : undefined), 30_000, 'the job to be recovered', 100);
    const after = await s.queue.get(job.id);
    assert.equal(after?.status, 'retrying');
    assert.match(after!.lastError!, /worker wedged lost the job/);
  } finally {
    for (const c of held) c.release();
    release.resolve();
  }
});
