/**
 * Singleton keys (migration 0012): at most one job with the key is queued, retrying or running; a
 * second enqueue gets that job; the key is free once the job finished. Real connections throughout.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { isJobqError } from '../../src/errors.ts';
import { JOBS_CHANNEL } from '../../src/queue/channels.ts';
import type { EnqueueResult, NewJob } from '../../src/queue/types.ts';
import { claimOne, connections, emailJob as email, eventually, freshQueue, jobCount, noopJob, succeed, waitForLockWait } from '../helpers/fixtures.ts';

async function holders(pool: pg.Pool, key: string): Promise<{ id: string; status: string }[]> {
  const { rows } = await pool.query('SELECT id, status FROM jobq.jobs WHERE singleton_key = $1 ORDER BY id', [key]);
  return rows;
}

/** Enqueues `job(n)` from `n` connections at once: one job is made, every answer is that job, one row holds the key. */
async function fromConnections(n: number, job: (n: number) => NewJob): Promise<EnqueueResult[]> {
  const { db } = await freshQueue();
  const c = await connections(db.url, n);
  try {
    const results = await Promise.all(c.queues.map((q, i) => q.enqueue(job(i))));
    assert.equal(results.filter((r) => r.outcome === 'created').length, 1);
    assert.equal(new Set(results.map((r) => r.job.id)).size, 1);
    assert.equal((await holders(db.pool, job(0).singletonKey!)).length, 1);
    return results;
  } finally {
    await c.end();
  }
}

test('a second enqueue while the job is queued returns it, whatever its kind or payload; the job shows its key', async () => {
  const { queue, db } = await freshQueue();
  const first = await queue.enqueue(email({ singletonKey: 'report-7' }));
  assert.deepEqual([first.outcome, first.isNew, first.job.singletonKey, first.job.debounceKey], ['created', true, 'report-7', null]);
  assert.deepEqual(first.job, await queue.get(first.job.id), 'the job returned is the row stored');
  const again = await queue.enqueue({ kind: 'noop', payload: { sleep_ms: 1 }, queue: 'other', singletonKey: 'report-7' });
  assert.deepEqual([again.outcome, again.isNew, again.job.id], ['singleton_existing', false, first.job.id]);
  assert.deepEqual(again.job, await queue.get(first.job.id), 'the existing job, unchanged');
  assert.equal((await queue.enqueue(email({ singletonKey: 'report-8' }))).outcome, 'created', 'another key is another job');
  assert.equal((await holders(db.pool, 'report-7')).length, 1);
});

test('running, buffered and retrying jobs hold the key; succeeded, cancelled and failed_permanent free it', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue, db } = await freshQueue({ clock: () => now });
  const key = 'k';
  const again = () => queue.enqueue(noopJob({ singletonKey: key }));

  // succeeded
  const a = (await again()).job;
  const claimA = (await claimOne(queue, 'w1'))!;
  assert.equal((await again()).job.id, a.id, 'running holds the key');
  await succeed(queue, 'w1', claimA);
  const b = await again();
  assert.equal(b.outcome, 'created', 'succeeded frees the key');
  assert.notEqual(b.job.id, a.id);

  // cancelled while queued
  await queue.requestCancel(b.job.id);
  const c = await again();
  assert.equal(c.outcome, 'created', 'cancelled frees the key');

  // buffered (claimed, not started), then retrying, then failed_permanent
  const [buffered] = await queue.claim('w2', { limit: 1, started: 0 });
  assert.equal(buffered?.id, c.job.id);
  assert.equal((await again()).job.id, c.job.id, 'a job in a worker buffer holds the key');
  const retrying = await queue.markFailedOrRetry(c.job.id, new Error('boom'), { workerId: 'w2', claimSeq: buffered!.claimSeq });
  assert.equal(retrying.status, 'retrying');
  assert.equal((await again()).job.id, c.job.id, 'retrying holds the key');
  now = new Date(now.getTime() + 2 * 3_600_000); // past any backoff
  const rerun = (await claimOne(queue, 'w2'))!;
  assert.equal(rerun.id, c.job.id);
  const failed = await queue.markFailedOrRetry(c.job.id, new Error('boom'), { workerId: 'w2', claimSeq: rerun.claimSeq, permanent: true });
  assert.equal(failed.status, 'failed_permanent');
  const d = await again();
  assert.equal(d.outcome, 'created', 'failed_permanent frees the key');

  const rows = await holders(db.pool, key);
  assert.deepEqual(rows.map((r) => r.status).sort(), ['cancelled', 'failed_permanent', 'queued', 'succeeded']);
});

test('retrying a finished singleton job while another holds its key is invalid_transition naming that job', async () => {
  const { queue } = await freshQueue();
  const old = (await queue.enqueue(noopJob({ singletonKey: 's' }))).job;
  await queue.requestCancel(old.id);
  const holder = (await queue.enqueue(noopJob({ singletonKey: 's' }))).job;
  await assert.rejects(queue.retry(old.id), (err) => {
    assert.ok(isJobqError(err, 'invalid_transition'), String(err));
    assert.match(err.message, new RegExp(`singleton_key "s" is held by job ${holder.id}`));
    assert.deepEqual(err.details, [{ path: '/singleton_key', message: `held by job ${holder.id}`, job_id: holder.id }]);
    return true;
  });
  assert.equal((await queue.get(old.id))?.status, 'cancelled', 'the retry changed nothing');
  await queue.requestCancel(holder.id);
  assert.equal((await queue.retry(old.id)).status, 'queued', 'once the holder finished, the retry takes the key');
  assert.equal((await queue.enqueue(noopJob({ singletonKey: 's' }))).job.id, old.id);
});

test('the same singleton key from 30 connections at once: one job, 29 answered with it', async () => {
  const results = await fromConnections(30, (n) => noopJob({ payload: { sleep_ms: n }, singletonKey: 'race' }));
  assert.equal(results.filter((r) => r.outcome === 'singleton_existing').length, 29);
});

test('concurrent enqueues over one pool, mixing plain and singleton jobs: the plain ones are all created', async () => {
  const { queue, db } = await freshQueue();
  const results = await Promise.all(
    Array.from({ length: 60 }, (_x, n) => queue.enqueue(noopJob(n % 2 === 0 ? { singletonKey: `s${n % 6}` } : {}))),
  );
  assert.equal(results.filter((r, n) => n % 2 === 1 && r.outcome === 'created').length, 30);
  assert.equal(results.filter((r) => r.job.singletonKey !== null && r.outcome === 'created').length, 3, 's0, s2, s4: one job each');
  assert.equal(await jobCount(db.pool), 33);
});

test('a conflicting job committed after the statement began is found by running it again', async () => {
  const { queue, db } = await freshQueue();
  // A transaction inserts the key's job and holds it uncommitted; a second enqueue of the key waits on
  // it inside its INSERT. After the commit its statement's snapshot does not show the job: only a new
  // run of the statement finds it (without the retry it would come back empty).
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const first = await queue.enqueue(noopJob({ singletonKey: 'late' }), { db: client });
    const second = queue.enqueue(noopJob({ singletonKey: 'late' }));
    await waitForLockWait(db.pool);
    await client.query('COMMIT');
    const r = await second;
    assert.deepEqual([r.outcome, r.job.id], ['singleton_existing', first.job.id]);
  } finally {
    client.release();
  }
});

test('idempotency first: a known idempotency key is replayed (or conflicts) whatever the singleton key says', async () => {
  const { queue, db } = await freshQueue();
  const x = (await queue.enqueue(noopJob({ idempotencyKey: 'i1', singletonKey: 's1' }))).job;
  const replay = await queue.enqueue(noopJob({ idempotencyKey: 'i1', singletonKey: 's1' }));
  assert.deepEqual([replay.outcome, replay.job.id], ['idempotent_replay', x.id]);
  // The key's job finished: a new enqueue with its idempotency key is still the replay, not a new job.
  const claim = (await claimOne(queue, 'w'))!;
  await succeed(queue, 'w', claim);
  const later = await queue.enqueue(noopJob({ idempotencyKey: 'i1', singletonKey: 's1' }));
  assert.deepEqual([later.outcome, later.job.id, later.job.status], ['idempotent_replay', x.id, 'succeeded']);
  // Another singleton key does not help either.
  assert.equal((await queue.enqueue(noopJob({ idempotencyKey: 'i1', singletonKey: 's2' }))).outcome, 'idempotent_replay');
  await assert.rejects(queue.enqueue(noopJob({ payload: { sleep_ms: 5 }, idempotencyKey: 'i1', singletonKey: 's3' })), (err) => {
    assert.ok(isJobqError(err, 'idempotency_conflict'));
    assert.equal(err.details?.[0]?.job_id, x.id);
    assert.equal(err.details?.[0]?.index, undefined, 'a single enqueue names no index');
    return true;
  });
  // A new idempotency key on a held singleton key: the holder comes back, and the idempotency key is not recorded.
  const y = (await queue.enqueue(noopJob({ singletonKey: 's4' }))).job;
  const hit = await queue.enqueue(noopJob({ idempotencyKey: 'i2', singletonKey: 's4' }));
  assert.deepEqual([hit.outcome, hit.job.id, hit.job.idempotencyKey], ['singleton_existing', y.id, null]);
  assert.equal((await queue.enqueue(noopJob({ idempotencyKey: 'i2' }))).outcome, 'created', 'i2 was free');
  assert.equal(await jobCount(db.pool), 3);
});

test('the same idempotency and singleton key from 20 connections: one job, every answer is it', async () => {
  const results = await fromConnections(20, () => noopJob({ idempotencyKey: 'i', singletonKey: 's' }));
  assert.ok(results.every((r) => r.outcome !== 'debounced'));
});

test('a batch with singleton keys: in order, two entries of one key give one job, all or nothing', async () => {
  const { queue, db } = await freshQueue();
  const held = (await queue.enqueue(noopJob({ singletonKey: 'held' }))).job;
  const out = await queue.enqueueMany([
    noopJob(),
    noopJob({ singletonKey: 'a' }),
    noopJob({ singletonKey: 'held' }),
    email({ singletonKey: 'a' }),
    noopJob({ idempotencyKey: 'i' }),
  ]);
  assert.deepEqual(out.map((r) => r.outcome), ['created', 'created', 'singleton_existing', 'singleton_existing', 'created']);
  assert.equal(out[2]!.job.id, held.id);
  assert.equal(out[3]!.job.id, out[1]!.job.id);
  assert.equal(out[3]!.job.kind, 'noop', 'the job of the key, not the entry');
  for (const r of out) assert.deepEqual(r.job, await queue.get(r.job.id));

  const before = await jobCount(db.pool);
  await assert.rejects(
    queue.enqueueMany([noopJob(), noopJob({ singletonKey: 'b' }), noopJob({ payload: { sleep_ms: 9 }, idempotencyKey: 'i', singletonKey: 'c' })]),
    (err) => isJobqError(err, 'idempotency_conflict') && err.details?.[0]?.index === 2,
  );
  assert.equal(await jobCount(db.pool), before, 'nothing of the batch stayed');
  assert.equal((await queue.enqueue(noopJob({ singletonKey: 'b' }))).outcome, 'created', 'b was rolled back with the batch');
});

test('a singleton enqueue inside the caller\'s transaction is undone with it', async () => {
  const { queue, db } = await freshQueue();
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const r = await queue.enqueue(noopJob({ singletonKey: 'tx' }), { db: client });
    assert.equal(r.outcome, 'created');
    await client.query('ROLLBACK');
  } finally {
    client.release();
  }
  assert.deepEqual(await holders(db.pool, 'tx'), []);
  assert.equal((await queue.enqueue(noopJob({ singletonKey: 'tx' }))).outcome, 'created');
});

test('a runnable singleton job wakes the workers of its queue', async () => {
  const { queue, db } = await freshQueue();
  const listener = new pg.Client({ connectionString: db.listenUrl ?? db.url });
  await listener.connect();
  try {
    const woken: string[] = [];
    listener.on('notification', (n) => woken.push(n.payload ?? ''));
    await listener.query(`LISTEN ${JOBS_CHANNEL}`);
    await queue.enqueue(noopJob({ singletonKey: 'wake', queue: 'q-single' }));
    await eventually(() => (woken.includes('q-single') ? true : undefined), 5_000, 'a notification for q-single');
  } finally {
    await listener.end();
  }
});

test('keyed jobs keep their group: stored, shown, rewritten by a debounce, and announced as grouped', async () => {
  const { queue, db } = await freshQueue();
  const listener = new pg.Client(db.listenUrl ?? db.url);
  await listener.connect();
  try {
    const woken: string[] = [];
    listener.on('notification', (n) => woken.push(n.payload ?? ''));
    await listener.query(`LISTEN ${JOBS_CHANNEL}`);
    const single = await queue.enqueue(noopJob({ singletonKey: 'grouped', queue: 'q-groups', group: 'tenant-1' }));
    assert.equal(single.job.group, 'tenant-1');
    assert.equal((await queue.get(single.job.id))?.group, 'tenant-1', 'stored with its group');
    await eventually(() => (woken.includes('q-groups grouped') ? true : undefined), 5_000, 'a grouped notification for q-groups');

    const first = await queue.enqueue(noopJob({ debounceKey: 'grouped-d', debounceMs: 0, group: 'tenant-1' }));
    const second = await queue.enqueue(noopJob({ debounceKey: 'grouped-d', debounceMs: 0, group: 'tenant-2' }));
    assert.deepEqual([second.outcome, second.job.id, second.job.group], ['debounced', first.job.id, 'tenant-2']);
    assert.equal((await queue.get(first.job.id))?.group, 'tenant-2', 'the last write wins, group included');
    assert.equal((await queue.claim('w-plain', { limit: 10 })).length, 0, 'grouped jobs are not for the plain claim');
  } finally {
    await listener.end();
  }
});
