/** The worker in-process on real PostgreSQL: wake-up, concurrency, cancellation, timeouts, leases. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { PermanentError } from '../../src/kinds/registry.ts';
import { deferred, EVERY_JOB, eventually, kindsWithProbe, setup, waitForStatus } from '../helpers/fixtures.ts';

/** Jobs by status and attempts, in whichever store holds each: the rows, and each log job as jobq.log_jobs derives it. */
async function stored(pool: pg.Pool): Promise<{ status: string; attempts: number; n: number }[]> {
  const { rows } = await pool.query(
    `SELECT status, attempts, count(*)::int AS n
       FROM ${EVERY_JOB} j
      GROUP BY 1, 2 ORDER BY 1`,
  );
  return rows;
}

test('a job enqueued while the worker idles starts at once, by NOTIFY, not by the 60 s poll', async () => {
  const s = await setup(kindsWithProbe(() => 'ran'));
  await s.worker({ pollIntervalMs: 60_000 });
  await new Promise((r) => setTimeout(r, 100)); // let the worker settle into its idle wait
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  // The poll would start it only after 60 s; within waitForStatus's deadline, only NOTIFY can.
  await waitForStatus(s.queue, job.id, 'succeeded');
});

test('concurrency never exceeds the limit, and reaches it', async () => {
  let running = 0;
  let peak = 0;
  const s = await setup(
    kindsWithProbe(async () => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
    }),
  );
  const jobs = await s.queue.enqueueMany(Array.from({ length: 60 }, () => ({ kind: 'probe', payload: {} })));
  await s.worker({ concurrency: 4 });
  for (const r of jobs) await waitForStatus(s.queue, r.job.id, 'succeeded');
  assert.equal(peak, 4);
});

test('a handler result is stored; a thrown error retries; a PermanentError fails at once', async () => {
  const s = await setup(
    kindsWithProbe((p) => {
      if (p.n === 1) return { doubled: 2 };
      if (p.n === 2) throw new Error('flaky');
      throw new PermanentError('bad input');
    }),
  );
  await s.worker();
  const [ok, flaky, bad] = await s.queue.enqueueMany([1, 2, 3].map((n) => ({ kind: 'probe', payload: { n }, maxAttempts: 5 })));
  assert.deepEqual((await waitForStatus(s.queue, ok!.job.id, 'succeeded')).result, { doubled: 2 });
  const retrying = await waitForStatus(s.queue, flaky!.job.id, 'retrying');
  assert.match(retrying.lastError!, /^Error: flaky/);
  assert.ok(retrying.runAt.getTime() > Date.now(), 'retried later, with backoff');
  const failed = await waitForStatus(s.queue, bad!.job.id, 'failed_permanent');
  assert.equal(failed.attempts, 1);
  assert.match(failed.lastError!, /PermanentError: bad input/);
});

test('cancelling a running noop {sleep_ms: 60000} ends it cancelled at once, by NOTIFY, not at the next heartbeat', async () => {
  const s = await setup();
  // No heartbeat within waitForStatus's deadline: only the cancel NOTIFY can reach the handler.
  const worker = await s.worker({ heartbeatMs: 60_000, leaseMs: 180_000 });
  const started = deferred();
  worker.events.on('job:start', () => started.resolve());
  const { job } = await s.queue.enqueue({ kind: 'noop', payload: { sleep_ms: 60_000 } });
  // Not the row's `running`: it commits with the claim, before the worker reads the claim's reply, and
  // a NOTIFY that came before would find nothing to abort (the heartbeat would, in a minute).
  await started.promise;
  assert.equal((await s.queue.requestCancel(job.id)).outcome, 'cancel_requested');
  const after = await waitForStatus(s.queue, job.id, 'cancelled');
  assert.equal(after.attempts, 1, 'never retried');
  assert.equal(after.lockedBy, null);
});

test('a handler that finishes successfully despite a cancel request is succeeded', async () => {
  const release = deferred();
  const aborted = deferred();
  const s = await setup(
    kindsWithProbe(async (_p, ctx) => {
      ctx.signal.addEventListener('abort', () => aborted.resolve());
      await release.promise; // ignores the signal and completes its work
      return 'done anyway';
    }),
  );
  await s.worker();
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  await waitForStatus(s.queue, job.id, 'running');
  await s.queue.requestCancel(job.id);
  await aborted.promise;
  release.resolve();
  assert.equal((await waitForStatus(s.queue, job.id, 'succeeded')).result, 'done anyway');
});

test('a timeout aborts the signal with a timeout reason and the job is retried', async () => {
  const s = await setup();
  await s.worker();
  const { job } = await s.queue.enqueue({ kind: 'noop', payload: { sleep_ms: 60_000 }, timeoutMs: 200 });
  const after = await waitForStatus(s.queue, job.id, 'retrying', 5_000);
  assert.match(after.lastError!, /timed out after 200 ms/);
  assert.equal(after.attempts, 1);
});

test('a handler that ignores its signal loses its slot after timeout plus grace, and the job fails', async () => {
  const never = new Promise(() => {});
  const s = await setup(kindsWithProbe((p) => (p.n === 1 ? never : 'second ran')));
  await s.worker({ concurrency: 1, timeoutGraceMs: 200 });
  const { job: stuck } = await s.queue.enqueue({ kind: 'probe', payload: { n: 1 }, timeoutMs: 200, maxAttempts: 1 });
  const { job: next } = await s.queue.enqueue({ kind: 'probe', payload: { n: 2 } });
  const failed = await waitForStatus(s.queue, stuck.id, 'failed_permanent', 5_000);
  assert.match(failed.lastError!, /timed out/);
  assert.equal((await waitForStatus(s.queue, next.id, 'succeeded', 5_000)).result, 'second ran', 'the slot was freed');
});

test('a long job whose worker is alive keeps its lease and is never taken from it', async () => {
  const s = await setup(kindsWithProbe(async () => new Promise((r) => setTimeout(() => r('kept'), 3_000))));
  const worker = await s.worker({ leaseMs: 1_000, heartbeatMs: 200 });
  let recovered = 0;
  worker.events.on('recovered', (e) => (recovered += e.count));
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  const done = await waitForStatus(s.queue, job.id, 'succeeded', 10_000);
  assert.equal(done.attempts, 1);
  assert.equal(recovered, 0);
});

test('the sweeper recovers a job whose worker vanished, and it runs again', async () => {
  const s = await setup(kindsWithProbe(() => 'ran'));
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  await s.queue.claim('vanished-worker'); // claimed by a worker that will never come back
  const worker = await s.worker({ leaseMs: 1_000, heartbeatMs: 200 });
  const recovered = deferred<number>();
  worker.events.on('recovered', (e) => recovered.resolve(e.count));
  assert.equal(await recovered.promise, 1);
  const done = await waitForStatus(s.queue, job.id, 'succeeded', 5_000);
  assert.equal(done.attempts, 2);
  assert.equal(done.lockedBy, null);
});

test('jobs of kinds this worker has no handler for are left for workers that have one', async () => {
  const s = await setup(kindsWithProbe(() => 'ok'));
  await s.db.pool.query(`INSERT INTO jobq.jobs (id, kind, payload) VALUES (gen_random_uuid(), 'elsewhere', '{}')`);
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  await s.worker();
  await waitForStatus(s.queue, job.id, 'succeeded');
  const { rows } = await s.db.pool.query(`SELECT status FROM jobq.jobs WHERE kind = 'elsewhere'`);
  assert.equal(rows[0].status, 'queued');
});

test('stop() lets running jobs finish within the grace period', async () => {
  const started = deferred();
  const s = await setup(kindsWithProbe(() => {
    started.resolve();
    return new Promise((r) => setTimeout(() => r('finished'), 300));
  }));
  const worker = await s.worker({ shutdownGraceMs: 5_000 });
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  // Not the row's `running`: it commits with the claim, before the worker reads the claim's reply, and a
  // stop() then gives the claimed job back unstarted.
  await started.promise;
  await worker.stop();
  assert.equal((await s.queue.get(job.id))?.status, 'succeeded');
});

test('stop() aborts what outlives the grace period and releases it without spending the attempt', async () => {
  const s = await setup();
  const worker = await s.worker({ shutdownGraceMs: 100 });
  const started = deferred();
  worker.events.on('job:start', () => started.resolve());
  const { job } = await s.queue.enqueue({ kind: 'noop', payload: { sleep_ms: 60_000 } });
  // Not the row's `running`: a stop() before the worker read the claim's reply gives the job back
  // unstarted, and the grace period and the abort would go untested.
  await started.promise;
  await worker.stop();
  const after = await s.queue.get(job.id);
  assert.equal(after?.status, 'queued');
  assert.equal(after?.attempts, 0);
  assert.equal(after?.lockedBy, null);
});

test('the listener reconnects after pg_terminate_backend and NOTIFY wakes the worker again', async () => {
  const started = deferred();
  const s = await setup(kindsWithProbe(() => started.resolve()));
  const worker = await s.worker({ pollIntervalMs: 60_000 });
  const reconnected = deferred();
  worker.events.on('listener:reconnect', () => reconnected.resolve());
  const { rows } = await s.db.pool.query(
    `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'jobq-listener' AND datname = current_database()`,
  );
  assert.equal(rows.length, 1);
  await reconnected.promise;
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  await Promise.race([started.promise, new Promise((_, rej) => setTimeout(() => rej(new Error('no wake-up after reconnect')), 5_000))]);
  await waitForStatus(s.queue, job.id, 'succeeded');
});

test('ctx.heartbeat() renews the lease at once', async () => {
  const beat = deferred();
  const go = deferred();
  const s = await setup(kindsWithProbe(async (_p, ctx) => {
    await go.promise;
    await ctx.heartbeat();
    beat.resolve();
  }));
  await s.worker();
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  const before = (await waitForStatus(s.queue, job.id, 'running')).lockedAt!;
  await new Promise((r) => setTimeout(r, 20));
  go.resolve();
  await beat.promise;
  const row = await eventually(async () => (await s.queue.get(job.id)) ?? undefined);
  assert.ok(row.status === 'succeeded' || row.lockedAt!.getTime() > before.getTime());
});

test('a backlog is buffered beyond the slots; stop() gives the buffer back untouched', async () => {
  const gate = deferred();
  const s = await setup(kindsWithProbe(() => gate.promise));
  await s.queue.enqueueMany(Array.from({ length: 200 }, () => ({ kind: 'probe', payload: {} })));
  const worker = await s.worker({ concurrency: 2, shutdownGraceMs: 5_000 });
  await eventually(() => (worker.buffered > 0 ? true : undefined), 10_000, 'a buffer');
  const running = (await stored(s.db.pool)).filter((r) => r.status === 'running').reduce((n, r) => n + r.n, 0);
  assert.equal(running, 2 + worker.buffered, 'buffered jobs are claimed (leased) but not started');
  const stopping = worker.stop();
  gate.resolve();
  await stopping;
  assert.deepEqual(await stored(s.db.pool), [
    { status: 'queued', attempts: 0, n: 198 },
    { status: 'succeeded', attempts: 1, n: 2 },
  ]);
});

test('cancelling a job that waits in the buffer records it cancelled without running it', async () => {
  const gate = deferred();
  let runs = 0;
  const s = await setup(kindsWithProbe(() => (runs++, gate.promise)));
  const jobs = await s.queue.enqueueMany(Array.from({ length: 50 }, () => ({ kind: 'probe', payload: {} })));
  const worker = await s.worker({ concurrency: 1 });
  await eventually(() => (worker.buffered > 0 ? true : undefined), 10_000, 'a buffer');
  // Claimed into the buffer behind the first, never started (which one: the log store keeps FIFO within a lane only).
  const before = (await s.queue.list({ status: 'running' })).jobs.find((j) => j.startedAt === null);
  assert.equal(before?.status, 'running', 'a job is buffered (claimed)');
  const last = before!.id;
  assert.ok(jobs.some((r) => r.job.id === last));
  assert.equal((await s.queue.requestCancel(last)).outcome, 'cancel_requested');
  const after = await waitForStatus(s.queue, last, 'cancelled', 5_000);
  assert.equal(after.lockedBy, null);
  assert.equal(runs, 1, 'only the first job ever started');
  gate.resolve();
});

test('during a backlog a higher-priority job still jumps ahead, and every job runs exactly once', async () => {
  const ran: number[] = [];
  const s = await setup(
    kindsWithProbe(async (p) => {
      ran.push(p.n ?? -1);
      await new Promise((r) => setTimeout(r, 2));
    }),
  );
  await s.queue.enqueueMany(Array.from({ length: 600 }, (_, n) => ({ kind: 'probe', payload: { n } })));
  await s.worker({ concurrency: 2, pollIntervalMs: 200 });
  await eventually(() => (ran.length >= 50 ? true : undefined), 10_000, 'the backlog to be under way');
  await s.queue.enqueue({ kind: 'probe', payload: { n: 9999 }, priority: 9 });
  await eventually(() => (ran.length === 601 ? true : undefined), 30_000, 'every job');
  assert.equal(new Set(ran).size, 601, 'each job ran once');
  const at = ran.indexOf(9999);
  assert.ok(at < 600 - 100, `the priority job ran at position ${at} of 601, well before the backlog drained`);
});

test('a completion chosen as a deadlock victim is written again, not given up (no second run)', async () => {
  // Another session holds B and then asks for A while the worker's batched completion of [A, B]
  // holds A and waits for B: PostgreSQL rolls the worker's statement back (40P01). The worker must
  // try the write again; given up, the jobs would stay running until their lease ran out and run twice.
  const gates = new Map([1, 2, 3].map((n) => [n, deferred<void>()] as const));
  const runs = new Map<number, number>();
  // The row store: the deadlock is made of row locks on jobq.jobs, which a log store completion (an INSERT) never waits for.
  const s = await setup(kindsWithProbe(async (p) => {
    runs.set(p.n!, (runs.get(p.n!) ?? 0) + 1);
    await gates.get(p.n!)!.promise;
  }), { logStore: false });
  const [a, b, c] = (await s.queue.enqueueMany([1, 2, 3].map((n) => ({ kind: 'probe', payload: { n } })))).map((r) => r.job.id);
  await s.worker({ concurrency: 3 });
  for (const id of [a!, b!, c!]) await waitForStatus(s.queue, id, 'running');
  const other = await s.db.pool.connect();
  const completionWaits = async () => {
    const { rows } = await s.db.pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%status = ''succeeded''%'`);
    return rows[0].n > 0 ? true : undefined;
  };
  const deadlocks = async () => (await s.db.pool.query(`SELECT deadlocks::int AS n FROM pg_stat_database WHERE datname = current_database()`)).rows[0].n as number;
  const deadlocksBefore = await deadlocks();
  try {
    await other.query(`SET deadlock_timeout = '60s'`); // the worker's session detects the deadlock, so it is the victim
    await other.query('BEGIN');
    await other.query('UPDATE jobq.jobs SET updated_at = updated_at WHERE id = $1', [b]);
    await other.query('SAVEPOINT hold_c');
    await other.query('UPDATE jobq.jobs SET updated_at = updated_at WHERE id = $1', [c]);
    gates.get(3)!.resolve(undefined); // C's completion goes alone and waits for C...
    await eventually(completionWaits, 10_000, "C's completion to wait");
    gates.get(1)!.resolve(undefined); // ...while A's and B's gather behind it
    gates.get(2)!.resolve(undefined);
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    await other.query('ROLLBACK TO SAVEPOINT hold_c'); // C is written; [A, B] goes next, takes A, waits for B
    // Only once C is written can a waiting completion be [A, B]'s (else C's wait, still shown a moment
    // after the lock was released, would pass for it: a race a loaded machine lost).
    await waitForStatus(s.queue, c!, 'succeeded', 10_000);
    await eventually(completionWaits, 10_000, "[A, B]'s completion to wait for B");
    assert.equal((await s.queue.get(a!))?.status, 'running', 'A is held by the waiting batch, not written alone');
    await other.query('UPDATE jobq.jobs SET updated_at = updated_at WHERE id = $1', [a]); // the deadlock
    await other.query('COMMIT');
  } finally {
    other.release();
  }
  for (const id of [a!, b!, c!]) await waitForStatus(s.queue, id, 'succeeded', 5_000);
  // A backend reports its statistics when it goes idle, at most once a second: poll for the count.
  await eventually(async () => ((await deadlocks()) > deadlocksBefore ? true : undefined), 10_000, 'PostgreSQL to count a deadlock');
  assert.deepEqual([...runs.entries()].sort(), [[1, 1], [2, 1], [3, 1]]);
});
