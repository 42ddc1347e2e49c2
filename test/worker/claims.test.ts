/**
 * The worker keys its in-flight work by claim and guards every write by it (issue #14, item 4), and
 * a worker id names one live worker at a time.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import type pg from 'pg';
import { resolveConfig } from '../../src/config.ts';
import { type ClaimOptions, Queue } from '../../src/queue/queue.ts';
import type { ClaimedJob } from '../../src/queue/types.ts';
import { Worker, WorkerIdInUseError, type FinishOutcome } from '../../src/worker/worker.ts';
import { ProcessGroup } from '../chaos/helpers/procs.ts';
import { freshDatabase, deferred, eventually, kindsWithProbe, setup, silent, waitForStatus } from '../helpers/fixtures.ts';

/** Lets these jobs' leases lapse an hour ago (as after a stall), in whichever store holds them: their rows, or their log batches. */
async function lapse(pool: pg.Pool, ids: string[]): Promise<void> {
  await pool.query(`UPDATE jobq.jobs SET locked_at = now() - interval '1 hour' WHERE id = ANY($1)`, [ids]);
  await pool.query(`UPDATE jobq.log_batch SET locked_at = now() - interval '1 hour' WHERE batch_id IN (SELECT batch_id FROM jobq.log_jobs($1))`, [ids]);
}

test('attempt 1 finishing late, after the same worker claimed attempt 2, is lost; attempt 2 succeeds with its result', async () => {
  const releaseFirst = deferred();
  const releaseSecond = deferred();
  const s = await setup(
    kindsWithProbe(async (_p, ctx) => {
      if (ctx.job.attempt === 1) {
        await releaseFirst.promise; // stalls past its lease
        return 'attempt 1';
      }
      await releaseSecond.promise; // runs until attempt 1 has ended, however slow the test's reads
      return 'attempt 2';
    }),
  );
  const w = await s.worker({ workerId: 'w', concurrency: 2 });
  const outcomes: { attempt: number; outcome: FinishOutcome }[] = [];
  w.events.on('job:finish', (e) => outcomes.push({ attempt: e.job.attempts, outcome: e.outcome }));
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {}, maxAttempts: 5 });
  await waitForStatus(s.queue, job.id, 'running');
  // The lease lapses (as after a stall) and the sweeper gives the job another run, which w claims.
  await lapse(s.db.pool, [job.id]);
  assert.equal(await s.queue.recoverStale(30_000), 1);
  await eventually(async () => ((await s.queue.get(job.id))?.attempts === 2 ? true : undefined), 10_000, 'attempt 2 claimed');
  assert.equal((await s.queue.get(job.id))?.lockedBy, 'w');
  releaseFirst.resolve(); // attempt 1 ends while attempt 2 still runs
  await eventually(() => (outcomes.some((o) => o.attempt === 1) ? true : undefined), 10_000, 'attempt 1 to finish');
  releaseSecond.resolve();
  const done = await waitForStatus(s.queue, job.id, 'succeeded');
  assert.equal(done.result, 'attempt 2', 'the late completion of attempt 1 did not finish attempt 2');
  assert.equal(done.attempts, 2);
  await eventually(() => (outcomes.length === 2 ? true : undefined), 5_000, 'both attempts finished');
  assert.deepEqual(outcomes.sort((a, b) => a.attempt - b.attempt), [
    { attempt: 1, outcome: 'lost' },
    { attempt: 2, outcome: 'succeeded' },
  ]);
  assert.equal(w.busy, 0);
});

test('a claim whose answer comes back after its jobs were recovered and claimed elsewhere runs none of them', async () => {
  const ran: string[] = [];
  const kinds = kindsWithProbe((_p, ctx) => void ran.push(ctx.job.id));
  const s = await setup(kinds);
  let stalled = false;
  // The answer of the first claim arrives late, as after a handler blocked the event loop for longer
  // than the lease while the claim was on its way: meanwhile its jobs were recovered and claimed by another.
  class SlowClaims extends Queue {
    override async claim(workerId: string, opts?: ClaimOptions): Promise<ClaimedJob[]> {
      const jobs = await super.claim(workerId, opts);
      if (jobs.length === 0 || stalled) return jobs;
      stalled = true;
      await lapse(s.db.pool, jobs.map((j) => j.id));
      await s.queue.recoverStale(1_000);
      await s.queue.claim('other', { limit: 100 });
      await new Promise((r) => setTimeout(r, 600));
      return jobs;
    }
  }
  const jobs = await s.queue.enqueueMany([1, 2, 3].map(() => ({ kind: 'probe', payload: {} })));
  const w = await s.worker({ workerId: 'slow', queue: new SlowClaims({ pool: s.db.pool, kinds }), leaseMs: 1_000, heartbeatMs: 200 });
  const [claim] = await once(w.events, 'claim'); // the slow claim, after the worker decided what to run
  await new Promise((r) => setImmediate(r));
  assert.equal(claim.claimed, 0, 'it kept none of the three');
  assert.deepEqual(ran, [], 'none of the recovered jobs ran here');
  for (const r of jobs) assert.equal((await s.queue.get(r.job.id))?.lockedBy, 'other');
});

test('a worker id held by a live worker is refused at start; free again after a clean stop or once its registration lapses', async () => {
  const s = await setup();
  const first = await s.worker({ workerId: 'dup' });
  const twin = new Worker({ ...options(s), workerId: 'dup' });
  await assert.rejects(twin.start(), (err: unknown) => {
    assert.ok(err instanceof WorkerIdInUseError);
    assert.match(err.message, /worker id "dup" belongs to a live worker/);
    return true;
  });
  await first.stop();
  const next = await s.worker({ workerId: 'dup' }); // a clean stop frees the id at once
  // A process that died without stopping keeps the id until its registration (one lease) lapses.
  await s.db.pool.query(`UPDATE jobq.workers SET instance = 'crashed', alive_until = now() + interval '1 minute' WHERE id = 'dup'`);
  await next.stop();
  await assert.rejects(s.worker({ workerId: 'dup' }), WorkerIdInUseError);
  await s.db.pool.query(`UPDATE jobq.workers SET alive_until = now() - interval '1 second' WHERE id = 'dup'`);
  await s.worker({ workerId: 'dup' });
});

test('the heartbeat keeps the registration alive; a worker whose id another one took over stops', async () => {
  const s = await setup();
  const w = await s.worker({ workerId: 'kept', leaseMs: 1_500, heartbeatMs: 200 });
  const aliveUntil = async () => (await s.db.pool.query(`SELECT alive_until FROM jobq.workers WHERE id = 'kept'`)).rows[0].alive_until.getTime();
  const t1 = await aliveUntil();
  await eventually(async () => ((await aliveUntil()) > t1 ? true : undefined), 5_000, 'registration renewed');
  await s.db.pool.query(`UPDATE jobq.workers SET instance = 'someone else' WHERE id = 'kept'`);
  // It stops by itself: its lease keeper's connection goes away.
  const keepers = async () =>
    (await s.db.pool.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'jobq-lease-keeper' AND datname = current_database()`)).rowCount;
  await eventually(async () => ((await keepers()) === 0 ? true : undefined), 10_000, 'the worker to stop');
  await w.stop();
  assert.equal((await s.db.pool.query(`SELECT instance FROM jobq.workers WHERE id = 'kept'`)).rows[0].instance, 'someone else', 'its stop left the new holder alone');
});

test('the default worker id carries a random part, so hostname:pid repeating across containers does not make two workers one', () => {
  const id = resolveConfig({}, {}).workerId;
  assert.match(id, /^.+:\d+:[0-9a-f]{8}$/);
});

function options(s: Awaited<ReturnType<typeof setup>>) {
  return {
    queue: s.queue, databaseUrl: s.db.url, logger: silent, workerId: 'x', concurrency: 1, queues: [], leaseMs: 30_000, heartbeatMs: 5_000,
    pollIntervalMs: 60_000, shutdownGraceMs: 1_000, timeoutGraceMs: 1_000,
  };
}

test('`jobq worker` with the --worker-id of a running worker exits 1 saying so', { timeout: 120_000 }, async (t) => {
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const db = await freshDatabase();
  const env = { DATABASE_URL: db.url, JOBQ_LEASE_MS: '3000', JOBQ_HEARTBEAT_MS: '500' };
  const first = group.start('first', ['worker', '--worker-id', 'same'], env);
  await first.waitForLine((l) => l.msg === 'worker started', 60_000, '"worker started"');
  const second = group.start('second', ['worker', '--worker-id', 'same'], env);
  const failed = await second.waitForLine((l) => l.msg === 'failed to start', 60_000, '"failed to start"');
  assert.match(String(failed.err), /worker id "same" belongs to a live worker/);
  assert.equal((await second.exited).code, 1);
  assert.equal(first.alive(), true);
});
