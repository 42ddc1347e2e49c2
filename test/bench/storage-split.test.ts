/**
 * Storage candidate `split` (bench/storage/split): the real Worker runs jobs through its Queue (hot
 * table, history they move to, reads over both), its transitions and retention work, and each of its
 * pgbench scripts runs on a seeded database.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { candidate } from '../../bench/storage/split/index.ts';
import type { Queue } from '../../src/queue/queue.ts';
import type { Job } from '../../src/queue/types.ts';
import { PermanentError } from '../../src/kinds/registry.ts';
import { directDatabase, type TestDatabase } from '../helpers/db.ts';
import { eventually, waitForStatus } from '../helpers/poll.ts';
import { kindsWithProbe, silent } from '../helpers/worker.ts';
import { Worker } from '../../src/worker/worker.ts';
import { withoutPgbench } from '../helpers/pgbench.ts';

/** Runs of each `n` the probe handler saw; n < 0 throws (n = -2 permanently). */
const runs = new Map<number, number>();
const kinds = kindsWithProbe((p) => {
  const n = p.n ?? 0;
  runs.set(n, (runs.get(n) ?? 0) + 1);
  if (n === -2) throw new PermanentError('no');
  if (n < 0) throw new Error(`probe ${n} fails`);
  return { n };
});
const db: TestDatabase = await directDatabase();
await db.pool.query(readFileSync(candidate.setupSql, 'utf8'));
const queue: Queue = candidate.createQueue({ pool: db.pool, kinds, backoff: { baseMs: 10, capMs: 20 } });

/** Runs `fn` with a real Worker on the split Queue (concurrency 10), stopped after. */
async function withWorker(fn: () => Promise<void>): Promise<void> {
  const w = new Worker({
    queue, databaseUrl: db.url, listenUrl: db.listenUrl, logger: silent, workerId: 'split-w', concurrency: 10, queues: [],
    leaseMs: 30_000, heartbeatMs: 5_000, pollIntervalMs: 100, shutdownGraceMs: 5_000, timeoutGraceMs: 1_000,
  });
  await w.start();
  try {
    await fn();
  } finally {
    await w.stop();
  }
}

const count = async (sql: string, params: unknown[] = []) => (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params)).rows[0]!.n;

test('500 jobs run through the real Worker exactly once, end succeeded in the history, and get finds them', async () => {
  const made = await queue.enqueueMany(Array.from({ length: 500 }, (_, i) => ({ kind: 'probe', payload: { n: i + 1 } })));
  await withWorker(() => eventually(async () => ((await count(`jobq.jobs_done WHERE status = 'succeeded'`)) === 500 ? true : undefined), 30_000, '500 jobs').then(() => {}));
  for (let n = 1; n <= 500; n++) assert.equal(runs.get(n), 1, `job ${n} ran once`);
  assert.equal(await count('jobq.jobs'), 0, 'the hot table is empty');
  for (const { job } of made) {
    const got = await queue.get(job.id);
    assert.equal(got?.status, 'succeeded');
    assert.deepEqual(got?.result, got?.payload);
    assert.ok(got?.startedAt && got.finishedAt);
  }
});

test('a job that throws retries, then fails for good; retry brings it back queued from the history', async () => {
  const { job } = await queue.enqueue({ kind: 'probe', payload: { n: -1 }, maxAttempts: 2 });
  const failed = await withWorker(() => waitForStatus(queue, job.id, 'failed_permanent', 10_000).then(() => {})).then(() => queue.get(job.id));
  assert.equal(failed?.attempts, 2);
  assert.equal(failed?.errors.length, 2, 'two attempts, each with its error');
  assert.equal(await count('jobq.jobs_done WHERE id = $1', [job.id]), 1);
  const back = await queue.retry(job.id);
  assert.equal(back.status, 'queued');
  assert.equal(back.attempts, 0);
  assert.equal(await count('jobq.jobs WHERE id = $1', [job.id]), 1, 'back in the hot table');
  assert.equal(await count('jobq.jobs_done WHERE id = $1', [job.id]), 0);
  await assert.rejects(queue.retry(job.id), /cannot retry job .*: it is queued/);
  await queue.requestCancel(job.id); // keep the worker of later tests from running it again
});

test('a permanent error fails at once; cancel of a queued job moves it; retry of the cancelled job runs it', async () => {
  const { job: perm } = await queue.enqueue({ kind: 'probe', payload: { n: -2 }, maxAttempts: 5 });
  const { job: later } = await queue.enqueue({ kind: 'probe', payload: { n: 1000 }, delayMs: 3_600_000 });
  await withWorker(async () => {
    const p = await waitForStatus(queue, perm.id, 'failed_permanent');
    assert.equal(p.attempts, 1);
    const c = await queue.requestCancel(later.id);
    assert.equal(c.outcome, 'cancelled');
    assert.equal((await queue.get(later.id))?.status, 'cancelled');
    assert.equal(await count('jobq.jobs_done WHERE id = $1', [later.id]), 1);
    const again = await queue.requestCancel(later.id);
    assert.deepEqual([again.outcome, again.outcome === 'already_terminal' && again.status], ['already_terminal', 'cancelled']);
    await queue.retry(later.id);
    await waitForStatus(queue, later.id, 'succeeded');
  });
  assert.equal(runs.get(1000), 1);
});

test('a dead worker\'s jobs come back when their lease lapses, and then succeed', async () => {
  const made = await queue.enqueueMany(Array.from({ length: 5 }, (_, i) => ({ kind: 'probe', payload: { n: 2000 + i } })));
  const claimed = await queue.claim('dead-worker', { limit: 5, kinds: ['probe'] });
  assert.equal(claimed.length, 5);
  await db.pool.query(`UPDATE jobq.jobs SET locked_at = now() - interval '1 hour' WHERE locked_by = 'dead-worker'`);
  assert.equal(await queue.recoverStale(30_000), 5);
  for (const { job } of made) assert.equal((await queue.get(job.id))?.status, 'retrying');
  await withWorker(async () => {
    for (const { job } of made) assert.equal((await waitForStatus(queue, job.id, 'succeeded')).attempts, 2);
  });
});

test('flow control is the hot table\'s: a queue with a concurrency limit and groups runs through claimLimited', async () => {
  await queue.setQueue('limited', { concurrency: 2, groupConcurrency: 1 });
  const made = await queue.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ kind: 'probe', payload: { n: 5000 + i }, queue: 'limited', group: `g${i % 3}` })));
  await withWorker(async () => {
    for (const { job } of made) await waitForStatus(queue, job.id, 'succeeded');
  });
  for (let i = 0; i < 20; i++) assert.equal(runs.get(5000 + i), 1);
});

test('an idempotency key holds across both tables until retention drops its day', async () => {
  const first = await queue.enqueue({ kind: 'probe', payload: { n: 3000 }, idempotencyKey: 'k1' });
  assert.equal(first.isNew, true);
  assert.equal((await queue.enqueue({ kind: 'probe', payload: { n: 3000 }, idempotencyKey: 'k1' })).outcome, 'idempotent_replay');
  await withWorker(() => waitForStatus(queue, first.job.id, 'succeeded').then(() => {}));
  // Finished: its key is in jobq.job_keys only.
  const replay = await queue.enqueue({ kind: 'probe', payload: { n: 3000 }, idempotencyKey: 'k1' });
  assert.deepEqual([replay.outcome, replay.job.id, replay.job.status], ['idempotent_replay', first.job.id, 'succeeded']);
  await assert.rejects(queue.enqueue({ kind: 'probe', payload: { n: 1 }, idempotencyKey: 'k1' }), /idempotency key "k1" was used/);
  assert.equal((await queue.list({ idempotencyKey: 'k1' })).jobs[0]?.id, first.job.id);
  // Three days old: retention drops its day and frees the key.
  await db.pool.query(`SELECT jobq.split_ensure_days(((now() - interval '3 days') AT TIME ZONE 'UTC')::date, 1)`);
  await db.pool.query(`UPDATE jobq.jobs_done SET finished_at = now() - interval '3 days' WHERE id = $1`, [first.job.id]);
  const c = await db.pool.connect();
  try {
    await candidate.addFinished(c, 50, 72);
    await candidate.addFinished(c, 40, 1);
    const kept = await count('jobq.jobs_done');
    assert.equal(await candidate.retention(c, new Date(Date.now() - 2 * 86_400_000)), 51, 'the 50 jobs and the keyed one of three days ago');
    assert.equal(await count('jobq.jobs_done'), kept - 51, 'only the old day went');
  } finally {
    c.release();
  }
  assert.equal(await queue.get(first.job.id), null);
  assert.equal(await count('jobq.job_keys'), 0);
  const fresh = await queue.enqueue({ kind: 'probe', payload: { n: 3001 }, idempotencyKey: 'k1', delayMs: 3_600_000 });
  assert.equal(fresh.isNew, true);
  await queue.requestCancel(fresh.job.id);
  // Queue.prune drops by the longest retention: nothing here is a day past it.
  assert.equal(await queue.prune({ succeeded: 86_400_000, failed_permanent: 2 * 86_400_000, cancelled: 86_400_000 }), 0);
});

test('list: newest first over both tables, each job exactly once under a stable cursor while jobs move', async () => {
  const made = await queue.enqueueMany(Array.from({ length: 30 }, (_, i) => ({ kind: 'probe', payload: { n: 4000 + i }, delayMs: 3_600_000 })));
  const all = (await db.pool.query<{ id: string }>(`SELECT id FROM jobq.jobs UNION ALL SELECT id FROM jobq.jobs_done ORDER BY id DESC`)).rows.map((r) => r.id);
  const seen: Job[] = [];
  let cursor: string | undefined;
  let page = 0;
  do {
    const p = await queue.list({ limit: 7, ...(cursor && { cursor }) });
    seen.push(...p.jobs);
    cursor = p.nextCursor ?? undefined;
    // After the first page, every other job not yet listed moves from the hot table to the history.
    if (page++ === 0) for (const { job } of made.filter((_, i) => i % 2 === 0)) await queue.requestCancel(job.id);
  } while (cursor);
  assert.deepEqual(seen.map((j) => j.id), all, 'every job once, newest first');
  assert.ok(seen.some((j) => j.status === 'queued') && seen.some((j) => j.status === 'succeeded'), 'both tables listed');
  const queued = await queue.list({ status: 'queued', limit: 500 });
  assert.equal(queued.jobs.length, 15);
  for (const { job } of made) await queue.requestCancel(job.id);
});

test('what the prototype does not carry throws', async () => {
  await assert.rejects(async () => queue.stats(), /split prototype: stats .* not supported/);
  await assert.rejects(async () => queue.insights.workers(), /split prototype: insights.workers not supported/);
  await assert.rejects(queue.enqueue({ kind: 'probe', payload: {}, dependsOn: [crypto.randomUUID()] }), /split prototype: dependsOn .* not supported/);
  await assert.rejects(async () => queue.enqueueMany([{ kind: 'probe', payload: {}, idempotencyKey: 'x' }]), /not supported/);
});

test('each pgbench script runs on a seeded database', { skip: withoutPgbench() }, async () => {
  const c = await db.pool.connect();
  try {
    await candidate.reset(c);
    await c.query(`CREATE TABLE jobq.bench_ids (i int PRIMARY KEY, id uuid NOT NULL)`);
    await candidate.seed(c, 2_000);
    await candidate.addFinished(c, 1_000, 1);
    await candidate.addFailed(c, 100);
    await c.query('VACUUM ANALYZE');
    const scripts: [string, 'finished' | 'queued' | 'failed'][] = [
      [candidate.pgbench.get, 'finished'], [candidate.pgbench.list, 'finished'], [candidate.pgbench.enqueue, 'finished'],
      [candidate.pgbench.claimFinish, 'finished'], [candidate.pgbench.cancel, 'queued'], [candidate.pgbench.retry, 'failed'],
    ];
    for (const [script, what] of scripts) {
      await c.query('TRUNCATE jobq.bench_ids');
      // cancel and retry act on one job (ten transactions picking among many could pick one twice, and the count below would vary).
      const n = what === 'finished' ? 500 : 1;
      await c.query(`INSERT INTO jobq.bench_ids SELECT row_number() OVER (), id FROM (${candidate.sampleIdsSql(what)} LIMIT ${n}) s`);
      const nids = (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM jobq.bench_ids')).rows[0]!.n;
      const { stdout } = await promisify(execFile)('/usr/bin/pgbench', ['-n', '-M', 'prepared', '-t', '5', '-c', '2', '-D', 'batch=50', '-D', `nids=${nids}`, '-f', script, db.url]);
      assert.match(stdout, /number of transactions actually processed: 10\/10/, script);
    }
    assert.equal(await candidate.succeeded(c), 1_000 + 500, 'five claims of 50 per client finished 500 seeded jobs');
    assert.equal(await candidate.remaining(c), 2_000 - 500 + 10 - 1 + 1, 'seeded, minus finished, plus enqueued, minus the one cancelled, plus the one retried');
  } finally {
    c.release();
  }
});
