/**
 * Debounce keys (migration 0012): while a job of the key is queued and never claimed, an enqueue with
 * the key rewrites it and pushes its run_at; the last write wins. Real connections throughout.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { isJobqError } from '../../src/errors.ts';
import type { EnqueueResult, NewJob } from '../../src/queue/types.ts';
import { claimOne, connections, emailJob as email, freshQueue, jobCount, noopJob, waitForLockWait } from '../helpers/fixtures.ts';

const T0 = new Date('2030-01-01T00:00:00Z').getTime();

async function keyed(pool: pg.Pool, key: string): Promise<{ id: string; status: string; payload: unknown }[]> {
  const { rows } = await pool.query('SELECT id, status, payload FROM jobq.jobs WHERE debounce_key = $1 ORDER BY id', [key]);
  return rows;
}

const debounced = (n: number, extra: Partial<NewJob> = {}): NewJob => noopJob({ payload: { sleep_ms: n }, debounceKey: 'd', debounceMs: 1_000, ...extra });

test('a debounced enqueue makes a job that runs debounce_ms later; the next one rewrites it and pushes run_at', async () => {
  let now = T0;
  const { queue, db } = await freshQueue({ clock: () => new Date(now) });
  const first = await queue.enqueue(debounced(1));
  assert.deepEqual([first.outcome, first.isNew, first.job.debounceKey, first.job.singletonKey], ['created', true, 'd', null]);
  assert.equal(first.job.runAt.getTime(), T0 + 1_000);
  assert.deepEqual(first.job, await queue.get(first.job.id), 'the job returned is the row stored');

  now = T0 + 600;
  const second = await queue.enqueue(email({ queue: 'mail', priority: 4, maxAttempts: 7, timeoutMs: 900, debounceKey: 'd', debounceMs: 5_000 }));
  assert.deepEqual([second.outcome, second.isNew, second.job.id], ['debounced', false, first.job.id]);
  const stored = (await queue.get(first.job.id))!;
  assert.deepEqual(second.job, stored, 'the job returned is the row as rewritten');
  assert.equal(stored.runAt.getTime(), T0 + 600 + 5_000, 'run_at: now + the latest debounce_ms');
  assert.deepEqual(
    [stored.kind, stored.payload, stored.queue, stored.priority, stored.maxAttempts, stored.timeoutMs],
    ['send_email', { to: 'a@b.c', subject: 'hi', body: 'hello' }, 'mail', 4, 7, 900],
    'the last enqueue describes the job',
  );
  assert.deepEqual([stored.createdAt.getTime(), stored.updatedAt.getTime(), stored.status], [T0, T0 + 600, 'queued']);
  assert.equal((await keyed(db.pool, 'd')).length, 1);
  assert.equal(await claimOne(queue, 'w'), null, 'not runnable before its run_at');
  now = T0 + 5_600;
  assert.equal((await claimOne(queue, 'w'))?.id, first.job.id);
});

test('a job that was claimed is never rewritten: the next debounce makes a new job, even after the claim is given back', async () => {
  let now = T0;
  const { queue, db } = await freshQueue({ clock: () => new Date(now) });
  const a = (await queue.enqueue(debounced(1, { debounceMs: 0 }))).job;
  const claim = (await claimOne(queue, 'w'))!;
  assert.equal(claim.id, a.id);

  now = T0 + 10;
  const b = await queue.enqueue(debounced(2));
  assert.equal(b.outcome, 'created', 'a running job is not rewritten');
  assert.notEqual(b.job.id, a.id);
  assert.deepEqual((await queue.get(a.id))?.payload, { sleep_ms: 1 }, 'the running job kept its payload');

  // A shutdown gives the claim back: the job is queued again, but it was claimed once and stays out of the way.
  const [released] = await queue.release('w', [claim]);
  assert.equal(released?.status, 'queued');
  const c = await queue.enqueue(debounced(3));
  assert.deepEqual([c.outcome, c.job.id], ['debounced', b.job.id]);
  assert.deepEqual((await queue.get(a.id))?.payload, { sleep_ms: 1 });
  assert.deepEqual((await keyed(db.pool, 'd')).map((r) => [r.id, r.status, r.payload]), [
    [a.id, 'queued', { sleep_ms: 1 }],
    [b.job.id, 'queued', { sleep_ms: 3 }],
  ]);
});

test('a debounce waiting on a job being claimed makes a new job once the claim commits', async () => {
  const { queue, db } = await freshQueue();
  const a = (await queue.enqueue(debounced(1, { debounceMs: 0 }))).job;
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    assert.equal((await queue.claim('w', { limit: 1, db: client }))[0]?.id, a.id); // row locked, running, uncommitted
    const next = queue.enqueue(debounced(2));
    await waitForLockWait(db.pool); // its UPDATE waits for the claim's row lock
    await client.query('COMMIT');
    const r = await next;
    assert.equal(r.outcome, 'created');
    assert.notEqual(r.job.id, a.id);
  } finally {
    client.release();
  }
  assert.deepEqual((await queue.get(a.id))?.payload, { sleep_ms: 1 }, 'the claimed job was not rewritten');
});

test('cancelling the waiting job frees the key; retrying it while another waits is invalid_transition', async () => {
  const { queue } = await freshQueue();
  const a = (await queue.enqueue(debounced(1))).job;
  await queue.requestCancel(a.id);
  const b = await queue.enqueue(debounced(2));
  assert.equal(b.outcome, 'created', 'a cancelled job is not rewritten');
  await assert.rejects(queue.retry(a.id), (err) => {
    assert.ok(isJobqError(err, 'invalid_transition'), String(err));
    assert.deepEqual(err.details, [{ path: '/debounce_key', message: `held by job ${b.job.id}`, job_id: b.job.id }]);
    return true;
  });
  await queue.requestCancel(b.job.id);
  assert.equal((await queue.retry(a.id)).status, 'queued');
  const c = await queue.enqueue(debounced(3));
  assert.deepEqual([c.outcome, c.job.id], ['debounced', a.id], 'a retried job that was never claimed is open again');
});

test('concurrent debounces of one key in transactions: one job, and its payload is the one committed last', async () => {
  // Each enqueue runs in a transaction of its own; the test commits each as soon as its enqueue
  // returns, so the order of the commits is known. The writes queue on the job's row lock (the first
  // ones on the insert), so each commit lets the next write through.
  const { queue, db } = await freshQueue();
  const n = 12;
  const pool = new pg.Pool({ connectionString: db.url, max: n }).on('error', () => {});
  const clients = await Promise.all(Array.from({ length: n }, () => pool.connect()));
  try {
    await Promise.all(clients.map((c) => c.query('BEGIN')));
    const pending = new Map(clients.map((c, i) => [i, queue.enqueue(debounced(i), { db: c }).then((r) => ({ i, r }))]));
    const committed: { i: number; r: EnqueueResult }[] = [];
    while (pending.size > 0) {
      const done = await Promise.race(pending.values());
      pending.delete(done.i);
      await clients[done.i]!.query('COMMIT');
      committed.push(done);
    }
    assert.equal(committed.filter((c) => c.r.outcome === 'created').length, 1);
    assert.equal(new Set(committed.map((c) => c.r.job.id)).size, 1);
    const rows = await keyed(db.pool, 'd');
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0]!.payload, { sleep_ms: committed.at(-1)!.i }, `commit order ${committed.map((c) => c.i).join(',')}`);
  } finally {
    for (const c of clients) c.release();
    await pool.end();
  }
});

test('30 connections debounce one key at once: one queued job holding one of their payloads', async () => {
  const { db } = await freshQueue();
  const c = await connections(db.url, 30);
  try {
    const results = await Promise.all(c.queues.map((q, i) => q.enqueue(debounced(i))));
    assert.equal(results.filter((r) => r.outcome === 'created').length, 1);
    assert.equal(results.filter((r) => r.outcome === 'debounced').length, 29);
    const rows = await keyed(db.pool, 'd');
    assert.deepEqual(rows.map((r) => r.status), ['queued']);
    const n = (rows[0]!.payload as { sleep_ms: number }).sleep_ms;
    assert.ok(Number.isInteger(n) && n >= 0 && n < 30, `payload ${JSON.stringify(rows[0]!.payload)}`);
    // Each answer is the job as that enqueue left it: its own payload.
    assert.deepEqual(results.map((r) => r.job.payload), results.map((_r, i) => ({ sleep_ms: i })));
  } finally {
    await c.end();
  }
});

test('concurrent debounces over one pool, several keys: one job per key', async () => {
  const { queue, db } = await freshQueue();
  await Promise.all(Array.from({ length: 80 }, (_x, i) => queue.enqueue(debounced(i, { debounceKey: `k${i % 4}` }))));
  const { rows } = await db.pool.query<{ key: string; n: number }>('SELECT debounce_key AS key, count(*)::int AS n FROM jobq.jobs GROUP BY 1 ORDER BY 1');
  assert.deepEqual(rows, ['k0', 'k1', 'k2', 'k3'].map((key) => ({ key, n: 1 })));
});

test('a debounce waiting on an uncommitted new job of its key rewrites it once that commits', async () => {
  const { queue, db } = await freshQueue();
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const first = await queue.enqueue(debounced(1), { db: client });
    const second = queue.enqueue(debounced(2));
    await waitForLockWait(db.pool); // its INSERT waits for the first transaction
    await client.query('COMMIT');
    const r = await second;
    assert.deepEqual([r.outcome, r.job.id], ['debounced', first.job.id]);
  } finally {
    client.release();
  }
  assert.deepEqual((await keyed(db.pool, 'd')).map((r) => r.payload), [{ sleep_ms: 2 }]);
});

test('idempotency first: a known idempotency key is replayed and the waiting job is not rewritten', async () => {
  const { queue } = await freshQueue();
  const a = (await queue.enqueue(debounced(1, { idempotencyKey: 'i1' }))).job;
  const replay = await queue.enqueue(debounced(1, { idempotencyKey: 'i1' }));
  assert.deepEqual([replay.outcome, replay.job.id, replay.job.updatedAt], ['idempotent_replay', a.id, a.updatedAt]);
  await assert.rejects(queue.enqueue(debounced(2, { idempotencyKey: 'i1' })), (err) => isJobqError(err, 'idempotency_conflict'));
  assert.deepEqual((await queue.get(a.id))?.payload, { sleep_ms: 1 }, 'neither rewrote the job');
  // A new idempotency key rewrites the waiting job, which keeps its own idempotency key.
  const rewrite = await queue.enqueue(debounced(3, { idempotencyKey: 'i2' }));
  assert.deepEqual([rewrite.outcome, rewrite.job.id, rewrite.job.idempotencyKey, rewrite.job.payload], ['debounced', a.id, 'i1', { sleep_ms: 3 }]);
});

test('a batch with debounce keys: entries of one key rewrite the job in order; a conflict undoes the batch', async () => {
  const { queue, db } = await freshQueue();
  const out = await queue.enqueueMany([debounced(1), noopJob(), debounced(2, { debounceKey: 'e' }), debounced(3)]);
  assert.deepEqual(out.map((r) => r.outcome), ['created', 'created', 'created', 'debounced']);
  assert.equal(out[3]!.job.id, out[0]!.job.id);
  assert.deepEqual((await keyed(db.pool, 'd')).map((r) => r.payload), [{ sleep_ms: 3 }]);
  for (const r of out.slice(1)) assert.deepEqual(r.job, await queue.get(r.job.id));

  await queue.enqueue(noopJob({ idempotencyKey: 'i' }));
  await assert.rejects(queue.enqueueMany([debounced(4), debounced(5, { idempotencyKey: 'i' })]), (err) => isJobqError(err, 'idempotency_conflict'));
  assert.deepEqual((await keyed(db.pool, 'd')).map((r) => r.payload), [{ sleep_ms: 3 }], 'the batch rewrote nothing');
});

test('keys are checked: bounded lengths, debounce_key and debounce_ms together, never beside singleton_key, run_at or delay_ms', async () => {
  const { queue, db } = await freshQueue();
  const cases: [Partial<NewJob>, string][] = [
    [{ singletonKey: '' }, '/singleton_key'],
    [{ singletonKey: 'x'.repeat(256) }, '/singleton_key'],
    [{ singletonKey: 7 as unknown as string }, '/singleton_key'],
    [{ debounceKey: 'x'.repeat(256), debounceMs: 1 }, '/debounce_key'],
    [{ debounceMs: 10 }, '/debounce_key'],
    [{ debounceKey: 'd' }, '/debounce_ms'],
    [{ debounceKey: 'd', debounceMs: -1 }, '/debounce_ms'],
    [{ debounceKey: 'd', debounceMs: 1.5 }, '/debounce_ms'],
    [{ debounceKey: 'd', debounceMs: 2 ** 31 }, '/debounce_ms'],
    [{ singletonKey: 's', debounceKey: 'd', debounceMs: 1 }, '/debounce_key'],
    [{ singletonKey: 's', debounceMs: 1 }, '/debounce_ms'],
    [{ debounceKey: 'd', debounceMs: 1, delayMs: 5 }, '/delay_ms'],
    [{ debounceKey: 'd', debounceMs: 1, runAt: new Date() }, '/run_at'],
  ];
  for (const [extra, path] of cases) {
    await assert.rejects(queue.enqueue(noopJob(extra)), (err) => {
      assert.ok(isJobqError(err, 'validation_failed'), `${JSON.stringify(extra)}: ${String(err)}`);
      assert.equal(err.details?.[0]?.path, path, JSON.stringify(extra));
      return true;
    });
  }
  await assert.rejects(queue.enqueueMany([noopJob(), noopJob({ debounceMs: 3 })]), (err) => isJobqError(err, 'validation_failed') && err.details?.[0]?.index === 1);
  assert.equal(await jobCount(db.pool), 0);
  assert.equal((await queue.enqueue(noopJob({ debounceKey: 'x'.repeat(255), debounceMs: 2 ** 31 - 1 }))).outcome, 'created', 'the bounds themselves are accepted');
});
