/**
 * The lease keeper's thread steps in whenever the worker's own renewal is late, not only when its event
 * loop is blocked (test/worker/blocking.test.ts): here the event loop runs, but every connection of the
 * worker's pool is taken, so its heartbeat waits for one. Before, the thread stood by (the main thread
 * still ticked) and another process's sweeper recovered the jobs the worker was running.
 */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import pg from 'pg';
import { Queue } from '../../src/queue/queue.ts';
import type { WorkerOptions } from '../../src/worker/options.ts';
import { deferred, eventually, kindsWithProbe, setup, waitForStatus } from '../helpers/fixtures.ts';

const LEASE_MS = 1_500;
const HEARTBEAT_MS = 300;
const POOL_MAX = 3;

/**
 * A setup whose worker (`workerId`) runs probe jobs that wait for `release`, on a pool of its own of
 * POOL_MAX connections that `drain()` takes, every one, until `giveBack()` (which also releases the jobs).
 */
async function starvable(t: TestContext, worker: Partial<WorkerOptions> & { workerId: string }) {
  const release = deferred();
  const runs = new Map<string, number>();
  const kinds = kindsWithProbe(async (_p, ctx) => {
    runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1);
    await release.promise;
    return 'done';
  });
  const s = await setup(kinds);
  // Its idle connections end with the test's database (dropped first): not an error of the test.
  const pool = new pg.Pool({ connectionString: s.db.url, max: POOL_MAX }).on('error', () => {});
  t.after(() => pool.end());
  await s.worker({ queue: new Queue({ pool, kinds }), leaseMs: LEASE_MS, heartbeatMs: HEARTBEAT_MS, pollIntervalMs: 100, ...worker });
  let held: pg.PoolClient[] = [];
  return {
    s,
    runs,
    async drain() {
      held = await Promise.all(Array.from({ length: POOL_MAX }, () => pool.connect()));
    },
    giveBack() {
      for (const c of held.splice(0)) c.release();
      release.resolve();
    },
  };
}

test('a worker whose pool is exhausted keeps its leases through the keeper thread: no job is recovered, each runs once', { timeout: 60_000 }, async (t) => {
  const { s, runs, drain, giveBack } = await starvable(t, { workerId: 'starved', concurrency: 2 });
  const ids = (await s.queue.enqueueMany([{ kind: 'probe', payload: {} }, { kind: 'probe', payload: {} }])).map((r) => r.job.id);
  await eventually(() => (runs.size === 2 ? true : undefined), 10_000, 'both jobs to start');

  // Every connection of the worker's pool, held: its heartbeat (and everything else it writes) waits.
  await drain();
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
    giveBack();
  }
  for (const id of ids) {
    const job = await waitForStatus(s.queue, id, 'succeeded');
    assert.equal(job.attempts, 1);
  }
  assert.deepEqual([...runs.values()], [1, 1], 'each job ran once');
});

test('a worker whose pool stays exhausted past the bound gives its leases up: its jobs are recovered elsewhere', { timeout: 60_000 }, async (t) => {
  const { s, runs, drain, giveBack } = await starvable(t, { workerId: 'wedged', concurrency: 1, maxBlockedMs: 1_000 });
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  await eventually(() => (runs.size === 1 ? true : undefined), 10_000, 'the job to start');

  await drain();
  try {
    // Renewed by the thread for about the bound, then given up: another process's sweep recovers it.
    await eventually(async () => ((await s.queue.recoverStale(LEASE_MS)) > 0 ? true : undefined), 30_000, 'the job to be recovered', 100);
    const after = await s.queue.get(job.id);
    assert.equal(after?.status, 'retrying');
    assert.match(after!.lastError!, /worker wedged lost the job/);
  } finally {
    giveBack();
  }
});
