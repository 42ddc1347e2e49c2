/**
 * Jobs of the log store as parents (migrations/0020_log_parents.sql, src/queue/log/parents.sql,
 * docs/flows.md "Parents in the log store"): a child names a log job by id in each of its states —
 * waiting (it becomes a row), delayed, running (the log's triggers settle the child when it ends, in
 * the same transaction), finished — and no child waits forever when its enqueue and its parent's
 * completion commit at the same moment.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import type { Queue } from '../../src/queue/queue.ts';
import { eventually, freshQueue, noopJob as noop, setup, testKinds, waitForStatus } from '../helpers/fixtures.ts';

const LOG = { logStore: true } as const;

async function isRow(pool: pg.Pool, id: string): Promise<{ has_children: boolean } | undefined> {
  return (await pool.query<{ has_children: boolean }>('SELECT has_children FROM jobq.jobs WHERE id = $1', [id])).rows[0];
}

async function registered(pool: pg.Pool): Promise<string[]> {
  return (await pool.query<{ id: string }>('SELECT id FROM jobq.log_parents ORDER BY id')).rows.map((r) => r.id);
}

/** A log job claimed by worker `w`: its claim. */
async function running(queue: Queue, opts: { queue?: string } = {}) {
  const { job } = await queue.enqueue(noop(opts));
  const [claimed] = await queue.claim('w', { limit: 10, queues: [job.queue] });
  assert.equal(claimed?.id, job.id);
  assert.ok(claimed!.claimSeq < 0, 'a log claim');
  return claimed!;
}

test('a waiting log job named as a parent becomes a row, with its children, and the Worker settles them', async () => {
  const s = await setup(testKinds(), LOG);
  const parent = await s.queue.enqueue(noop());
  const later = await s.queue.enqueue(noop({ delayMs: 50 }));
  assert.equal(await isRow(s.db.pool, parent.job.id), undefined, 'in the log');
  const [a, b] = await s.queue.enqueueMany([{ ...noop(), dependsOn: [parent.job.id] }, { ...noop(), dependsOn: [later.job.id, parent.job.id] }]);
  assert.equal(a!.job.status, 'waiting');
  assert.equal(b!.job.status, 'waiting');
  assert.deepEqual(await isRow(s.db.pool, parent.job.id), { has_children: true }, 'a row now');
  assert.deepEqual(await isRow(s.db.pool, later.job.id), { has_children: true }, 'a delayed one too');
  const row = (await s.queue.get(later.job.id))!;
  assert.equal(row.status, 'queued');
  assert.equal(row.runAt.getTime(), later.job.runAt.getTime(), 'keeps its run_at');
  assert.deepEqual(await registered(s.db.pool), []);
  assert.equal((await s.queue.list({ limit: 100 })).jobs.filter((j) => j.id === parent.job.id).length, 1, 'listed once');

  await s.worker({ pollIntervalMs: 50 });
  await waitForStatus(s.queue, a!.job.id, 'succeeded');
  await waitForStatus(s.queue, b!.job.id, 'succeeded');
});

test('a running log job named as a parent: its completion releases the child in its own transaction, with its result for ctx.parents()', async () => {
  const { queue, db } = await freshQueue(LOG);
  const claimed = await running(queue);
  const child = await queue.enqueue({ ...noop(), dependsOn: [claimed.id] });
  assert.equal(child.job.status, 'waiting');
  assert.equal(await isRow(db.pool, claimed.id), undefined, 'still the log\'s');
  assert.deepEqual(await registered(db.pool), [claimed.id]);
  assert.deepEqual(await queue.parents(child.job.id), [{ id: claimed.id, kind: 'noop', status: 'running', result: null }]);

  assert.deepEqual(await queue.complete('w', [{ id: claimed.id, claimSeq: claimed.claimSeq, result: { answer: 42 } }]), [claimed.claimSeq]);
  assert.equal((await queue.get(child.job.id))?.status, 'queued', 'released by the completion itself');
  assert.deepEqual(await registered(db.pool), []);
  assert.deepEqual(await queue.parents(child.job.id), [{ id: claimed.id, kind: 'noop', status: 'succeeded', result: { answer: 42 } }]);
});

test('a running log parent that fails for good or is cancelled cancels its "cancel" children and releases its "run" ones', async () => {
  const { queue } = await freshQueue(LOG);
  const failing = await running(queue, { queue: 'a' });
  const cancelled = await running(queue, { queue: 'b' });
  const [c1, r1, c2, r2] = await queue.enqueueMany([
    { ...noop(), dependsOn: [failing.id] },
    { ...noop(), dependsOn: [failing.id], onParentFailure: 'run' },
    { ...noop(), dependsOn: [cancelled.id] },
    { ...noop(), dependsOn: [cancelled.id], onParentFailure: 'run' },
  ]);
  await queue.markFailedOrRetry(failing.id, new Error('boom'), { workerId: 'w', claimSeq: failing.claimSeq, permanent: true });
  const cancelledChild = (await queue.get(c1!.job.id))!;
  assert.equal(cancelledChild.status, 'cancelled');
  assert.equal(cancelledChild.lastError, `cancelled: parent ${failing.id} ended failed_permanent`);
  assert.equal((await queue.get(r1!.job.id))?.status, 'queued');

  assert.equal((await queue.requestCancel(cancelled.id)).outcome, 'cancel_requested');
  await queue.finalizeCancelled(cancelled.id, { workerId: 'w', claimSeq: cancelled.claimSeq });
  assert.equal((await queue.get(c2!.job.id))?.status, 'cancelled');
  assert.equal((await queue.get(r2!.job.id))?.status, 'queued');
});

test('a finished log parent decides its child at once', async () => {
  const { queue } = await freshQueue(LOG);
  const ok = await running(queue, { queue: 'a' });
  await queue.complete('w', [{ id: ok.id, claimSeq: ok.claimSeq }]);
  const bad = await running(queue, { queue: 'b' });
  await queue.markFailedOrRetry(bad.id, new Error('boom'), { workerId: 'w', claimSeq: bad.claimSeq, permanent: true });
  const [after, doomed] = await queue.enqueueMany([{ ...noop(), dependsOn: [ok.id] }, { ...noop(), dependsOn: [ok.id, bad.id] }]);
  assert.equal(after!.job.status, 'queued');
  assert.equal(doomed!.job.status, 'cancelled');
  assert.equal(doomed!.job.lastError, `cancelled: parent ${bad.id} ended failed_permanent`);
  await assert.rejects(queue.enqueue({ ...noop(), dependsOn: ['00000000-0000-4000-8000-000000000000'] }), (e: { kind?: string }) => e.kind === 'validation_failed');
});

test('a running log parent given another attempt (a retry, a release, a lost lease) becomes a row with its children, which settle when it ends', async () => {
  const { queue, db } = await freshQueue(LOG);
  const [retried, released, lost] = [await running(queue, { queue: 'a' }), await running(queue, { queue: 'b' }), await running(queue, { queue: 'c' })];
  const children = await queue.enqueueMany([retried, released, lost].map((p) => ({ ...noop(), dependsOn: [p.id] })));
  assert.deepEqual(await registered(db.pool), [retried.id, released.id, lost.id].sort());

  assert.equal((await queue.markFailedOrRetry(retried.id, new Error('again'), { workerId: 'w', claimSeq: retried.claimSeq })).status, 'retrying');
  await queue.release('w', [released]);
  assert.equal(await queue.recoverStale(0), 1, 'the third one\'s lease lapsed');
  for (const p of [retried, released, lost]) assert.deepEqual(await isRow(db.pool, p.id), { has_children: true }, `${p.id} is a row`);
  assert.deepEqual(await registered(db.pool), []);
  const statuses = await Promise.all([retried, released, lost].map(async (p) => (await queue.get(p.id))!));
  assert.deepEqual(statuses.map((j) => [j.status, j.attempts]), [['retrying', 1], ['queued', 0], ['retrying', 1]]);
  assert.match(statuses[0]!.lastError!, /^Error: again/);

  await db.pool.query('UPDATE jobq.jobs SET run_at = now() WHERE id = ANY($1)', [[retried.id, released.id, lost.id]]);
  const again = await queue.claim('w2', { limit: 10 });
  assert.deepEqual(again.map((j) => j.id).sort(), [retried.id, released.id, lost.id].sort());
  assert.ok(again.every((j) => j.claimSeq > 0), 'row claims');
  await queue.complete('w2', again);
  for (const c of children) assert.equal((await queue.get(c.job.id))?.status, 'queued');
});

test('a child enqueued while its log parent completes is released either way: the enqueue and the completion take turns on the batch', async () => {
  const { queue, db } = await freshQueue(LOG);
  // The enqueue first: the completion waits for its commit, then finds the child.
  const first = await running(queue, { queue: 'a' });
  const tx = await db.pool.connect();
  try {
    await tx.query('BEGIN');
    const child = await queue.enqueue({ ...noop(), dependsOn: [first.id] }, { db: tx });
    const completing = queue.complete('w', [{ id: first.id, claimSeq: first.claimSeq }]);
    await eventually(async () => ((await db.pool.query(`SELECT 1 FROM pg_locks WHERE NOT granted`)).rowCount ?? 0) > 0 || undefined, 10_000, 'the completion to wait');
    await tx.query('COMMIT');
    assert.deepEqual(await completing, [first.claimSeq]);
    assert.equal((await queue.get(child.job.id))?.status, 'queued');
  } finally {
    tx.release();
  }

  // The completion first: the enqueue waits for its commit, then reads the parent as succeeded.
  const second = await running(queue, { queue: 'b' });
  const tp = await db.pool.connect();
  try {
    await tp.query('BEGIN');
    await queue.complete('w', [{ id: second.id, claimSeq: second.claimSeq }], { db: tp });
    const enqueueing = queue.enqueue({ ...noop(), dependsOn: [second.id] });
    await eventually(async () => ((await db.pool.query(`SELECT 1 FROM pg_locks WHERE NOT granted`)).rowCount ?? 0) > 0 || undefined, 10_000, 'the enqueue to wait');
    await tp.query('COMMIT');
    assert.equal((await enqueueing).job.status, 'queued');
  } finally {
    tp.release();
  }
  assert.deepEqual(await registered(db.pool), []);
});

test('many children and their log parents finishing at once: every child is released, none left waiting', async () => {
  const s = await setup(testKinds(), LOG);
  const parents = await s.queue.enqueueMany(Array.from({ length: 200 }, () => noop()));
  await s.worker({ pollIntervalMs: 20, concurrency: 10 });
  const children: string[] = [];
  for (const p of parents) children.push((await s.queue.enqueue({ ...noop(), dependsOn: [p.job.id] })).job.id);
  for (const id of children) await waitForStatus(s.queue, id, 'succeeded');
  assert.deepEqual(await registered(s.db.pool), []);
  assert.equal((await s.db.pool.query('SELECT count(*)::int AS n FROM jobq.dependencies')).rows[0].n, 0);
});
