/**
 * A worker SIGKILLed while it completes a child's last parent (docs/flows.md, "Crashes"): the release is
 * part of the completion's transaction, so the child is released exactly once, whichever way the
 * transaction ends. The test holds a row lock on the child, which stops the completion inside the
 * trigger (its lock of the children it releases), kills the worker there, and then either lets the
 * completion die with it (the database ends the statement at the worker's statement_timeout: rolled
 * back, the parent recovered and run again by another worker), or frees the lock at once (the dead
 * worker's statement, already sent whole, may commit). Real processes (test/helpers/flows-worker.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually, throughPgBouncer } from '../helpers/fixtures.ts';
import { flowsFixture, step, steps } from '../helpers/flows.ts';

const ENV = { JOBQ_LEASE_MS: '2000', JOBQ_HEARTBEAT_MS: '300', JOBQ_POLL_INTERVAL_MS: '200', JOBQ_QUERY_TIMEOUT_MS: '3000' };

async function crashWhileCompleting(t: { after: (fn: () => Promise<void>) => void; diagnostic: (s: string) => void }, rollBack: boolean) {
  const { db, queue, worker } = await flowsFixture(t);
  // Two parents run freely; the last waits in a paused queue until the test holds the child.
  await queue.pauseQueue('last');
  const [p1, p2, p3, child] = (await queue.enqueueMany([
    step({ n: 1, ms: 1 }, { queue: 'first' }),
    step({ n: 2, ms: 1 }, { queue: 'first' }),
    step({ n: 3, ms: 1 }, { queue: 'last' }),
    step({ n: 4, ms: 1, parents: true }, { queue: 'child', dependsOn: ['#0', '#1', '#2'] }),
  ])).map((r) => r.job.id) as [string, string, string, string];
  const doomed = worker(ENV);
  await eventually(async () => ((await db.pool.query(`SELECT 1 FROM jobq.jobs WHERE id = ANY($1) AND status = 'succeeded'`, [[p1, p2]])).rowCount === 2 ? true : undefined), 30_000, 'the first two parents', 50);

  const holder = await db.pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM jobq.jobs WHERE id = $1 FOR UPDATE', [child]);
    const { rows: [me] } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await queue.resumeQueue('last');
    // The completion of the last parent, stopped in its trigger by the child's lock.
    const blocked = await eventually(async () => {
      const { rows } = await db.pool.query<{ pid: number; query: string }>(
        'SELECT pid, query FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [me!.pid]);
      return rows[0];
    }, 30_000, 'the completion to wait for the child', 20);
    assert.match(blocked.query, /UPDATE jobq\.jobs\s+SET status = 'succeeded'/, 'the blocked statement is the completion');
    doomed.child.kill('SIGKILL');
    await doomed.exited;
    if (rollBack) {
      // The database ends the dead worker's statement at its statement_timeout, and its session.
      await eventually(async () => ((await db.pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [blocked.pid])).rowCount === 0 ? true : undefined), 15_000, 'the dead worker\'s session to end', 50);
      assert.equal((await queue.get(p3))!.status, 'running', 'the completion was rolled back: the parent is still running under the dead worker');
      assert.equal((await queue.get(child))!.status, 'waiting');
    }
    await holder.query('ROLLBACK');
  } finally {
    holder.release();
  }
  const rescuer = worker(ENV);
  await eventually(() => (steps([rescuer]).some((l) => l.n === 4 && l.ev === 'end') ? true : undefined), 30_000, 'the child to run', 50);
  await eventually(async () => ((await queue.get(child))!.status === 'succeeded' ? true : undefined), 10_000, 'the child to succeed');
  // Wait one more lease: a second release would show up as a second run by now.
  await new Promise((r) => setTimeout(r, 2_500));
  const lines = steps([doomed, rescuer]);
  const childRuns = lines.filter((l) => l.n === 4 && l.ev === 'start');
  assert.equal(childRuns.length, 1, 'the child ran exactly once');
  assert.deepEqual(childRuns[0]!.parents!.map((p) => p.status), ['succeeded', 'succeeded', 'succeeded']);
  const lastParentRuns = lines.filter((l) => l.n === 3 && l.ev === 'start');
  const p3job = (await queue.get(p3))!;
  t.diagnostic(`the last parent ran ${lastParentRuns.length} time(s), ${p3job.attempts} attempt(s) recorded`);
  if (rollBack) {
    assert.deepEqual(lastParentRuns.map((l) => [l.attempt, l.worker === lastParentRuns[0]!.worker]), [[1, true], [2, false]], 'recovered, then run again by the other worker');
    assert.match(p3job.errors[0]!.error, /lost the job: its lease expired/);
  }
  assert.equal(p3job.status, 'succeeded');
  assert.ok(childRuns[0]!.t >= Math.max(...lines.filter((l) => l.n === 3 && l.ev === 'end').map((l) => l.t)), 'after the last parent\'s last run');
  assert.equal((await db.pool.query('SELECT 1 FROM jobq.dependencies')).rowCount, 0);
}

// Its rollback comes from the server's statement_timeout, which jobq sets only on direct connections
// (src/db/pool.ts): through PgBouncer it is the server's own setting, none on the test server.
test('SIGKILL while completing the last parent, the completion rolled back: the parent is recovered and run again, and the child released once', {
  timeout: 120_000,
  skip: throughPgBouncer && 'through PgBouncer the statement timeout that rolls the completion back is the server\'s own setting, not set here',
}, async (t) => {
  await crashWhileCompleting(t, true);
});

test('SIGKILL while completing the last parent, the lock freed at once: however the dead worker\'s transaction ends, the child runs once', { timeout: 120_000 }, async (t) => {
  await crashWhileCompleting(t, false);
});
