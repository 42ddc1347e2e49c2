/** Reading jobs: get, keyset-paged list, stats, and the schema's agreement with the TypeScript model. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isJobqError } from '../../src/errors.ts';
import { JOB_STATUSES } from '../../src/queue/types.ts';
import { claimOne, freshQueue, noopJob as noop, succeed } from '../helpers/fixtures.ts';

test('walking the cursors returns every matching job exactly once, newest first, even while jobs arrive', async () => {
  const { queue } = await freshQueue();
  const created: string[] = [];
  for (let i = 0; i < 3; i++) created.push(...(await queue.enqueueMany(Array.from({ length: 40 }, () => noop()))).map((r) => r.job.id));
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await queue.list({ limit: 50, cursor });
    seen.push(...page.jobs.map((j) => j.id));
    await queue.enqueue(noop()); // new arrivals land before the cursor and never shift the walk
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  assert.deepEqual(seen, [...created].reverse());
});

test('list filters combine (status, kind, queue) and validate their input', async () => {
  const { queue } = await freshQueue();
  await queue.enqueue(noop({ queue: 'q1' }));
  const b = await queue.enqueue(noop({ queue: 'q2' }));
  const c = await queue.enqueue({ kind: 'summarize_text', payload: { text: 'x' }, queue: 'q2' });
  await queue.claim('w', { queues: ['q2'], limit: 2 });
  await queue.enqueue(noop({ queue: 'q2' })); // queued, of the same kind and queue
  const page = await queue.list({ kind: 'noop', queue: 'q2', status: 'running' });
  assert.deepEqual(page.jobs.map((j) => j.id), [b.job.id]);
  assert.deepEqual((await queue.list({ queue: 'q2', status: 'running' })).jobs.map((j) => j.id).sort(), [b.job.id, c.job.id].sort());
  assert.equal(page.nextCursor, null);
  assert.equal((await queue.list({ queue: 'q2' })).jobs.length, 3);
  for (const bad of [{ limit: 0 }, { limit: 501 }, { limit: 2.5 }, { cursor: 'garbage' }, { status: 'nope' as never }]) {
    await assert.rejects(queue.list(bad), (err) => isJobqError(err, 'validation_failed'), JSON.stringify(bad));
  }
});

test('stats count by status, kind and queue, and age the oldest runnable job', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue } = await freshQueue({ clock: () => now });
  await queue.enqueueMany([noop({ queue: 'a' }), noop({ queue: 'a' }), noop({ queue: 'b', delayMs: 60_000 })]);
  await queue.enqueue({ kind: 'summarize_text', payload: { text: 'x' }, queue: 'b' });
  await succeed(queue, 'w', (await claimOne(queue, 'w'))!);
  now = new Date(now.getTime() + 30_000);
  const stats = await queue.stats();
  assert.equal(stats.byStatus.queued, 3);
  assert.equal(stats.byStatus.succeeded, 1);
  assert.equal(stats.byKind.noop?.queued, 2);
  assert.equal(stats.byKind.summarize_text?.queued, 1);
  assert.equal(stats.byQueue.a?.succeeded, 1);
  assert.equal(stats.byQueue.b?.queued, 2);
  assert.equal(stats.oldestRunnableAgeSeconds, 30, 'the delayed job is not runnable yet and does not count');
  assert.deepEqual(stats.oldestRunnableAgeSecondsByQueue, { a: 30, b: 30 });
  for (const s of JOB_STATUSES) assert.equal(typeof stats.byStatus[s], 'number');
});

test('stats of an empty table are zeros', async () => {
  const { queue } = await freshQueue();
  const stats = await queue.stats();
  assert.equal(stats.oldestRunnableAgeSeconds, 0);
  assert.deepEqual(Object.values(stats.byStatus), JOB_STATUSES.map(() => 0));
});

test('the SQL enum and the TypeScript statuses are the same list', async () => {
  const { db } = await freshQueue();
  const { rows } = await db.pool.query(`SELECT unnest(enum_range(NULL::jobq.job_status))::text AS s`);
  assert.deepEqual(rows.map((r) => r.s), [...JOB_STATUSES]);
});

test('the schema refuses rows that break the state invariants', async () => {
  const { queue, db } = await freshQueue({ logStore: false }); // the row store's table and its constraints
  const { job } = await queue.enqueue(noop());
  // A running job without a lease, or a finished one without finished_at, cannot be written.
  await assert.rejects(db.pool.query(`UPDATE jobq.jobs SET status = 'running' WHERE id = $1`, [job.id]), /jobs_running_has_lease/);
  await assert.rejects(db.pool.query(`UPDATE jobq.jobs SET status = 'succeeded' WHERE id = $1`, [job.id]), /jobs_finished_at_on_terminal/);
});
