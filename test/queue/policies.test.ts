/** Queue policies through the library (src/queue/policies.ts): setting, reading, validation, the workers' view. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { isJobqError } from '../../src/errors.ts';
import { QUEUES_CHANNEL } from '../../src/queue/channels.ts';
import { freshQueue, noopJob } from '../helpers/fixtures.ts';

const NONE = { paused: false, concurrency: null, rate: null, groupConcurrency: null };

test('a policy is changed field by field: what a change leaves out stays, null removes a limit', async () => {
  const { queue } = await freshQueue();
  assert.deepEqual(await queue.getQueue('mail'), { name: 'mail', ...NONE, depth: 0, running: 0, oldestWaitingAgeSeconds: 0, updatedAt: null });
  const set = await queue.setQueue('mail', { concurrency: 5, rate: { limit: 10, periodMs: 1_000 } });
  assert.deepEqual({ ...set, updatedAt: null }, { name: 'mail', ...NONE, concurrency: 5, rate: { limit: 10, periodMs: 1_000 }, depth: 0, running: 0, oldestWaitingAgeSeconds: 0, updatedAt: null });
  assert.ok(set.updatedAt instanceof Date);
  const paused = await queue.pauseQueue('mail');
  assert.deepEqual([paused.paused, paused.concurrency, paused.rate], [true, 5, { limit: 10, periodMs: 1_000 }]);
  const cleared = await queue.setQueue('mail', { concurrency: null, rate: null, groupConcurrency: 3 });
  assert.deepEqual([cleared.paused, cleared.concurrency, cleared.rate, cleared.groupConcurrency], [true, null, null, 3]);
  assert.equal((await queue.resumeQueue('mail')).paused, false);
});

test('bad policies and names are refused with validation_failed, naming every field', async () => {
  const { queue } = await freshQueue();
  const refused = async (fn: () => Promise<unknown>, paths: string[]) =>
    assert.rejects(fn, (err) => isJobqError(err, 'validation_failed') && JSON.stringify(err.details?.map((d) => d.path)) === JSON.stringify(paths));
  await refused(() => queue.setQueue('q', { concurrency: 0, groupConcurrency: 1.5 }), ['/concurrency', '/group_concurrency']);
  await refused(() => queue.setQueue('q', { rate: { limit: 0, periodMs: 0 } }), ['/rate/limit', '/rate/period']);
  await refused(() => queue.setQueue('q', { paused: 'yes' as never }), ['/paused']);
  await refused(() => queue.setQueue('no spaces', { paused: true }), ['/name']);
  await refused(() => queue.getQueue(''), ['/name']);
  await refused(() => queue.listQueues({ limit: 0 }), ['/limit']);
  assert.deepEqual((await queue.listQueues()).queues, [], 'nothing was stored');
});

test('queues are listed by name with depth, running and the oldest runnable age; pages follow `after`', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue } = await freshQueue({ clock: () => now });
  await queue.enqueueMany([noopJob({ queue: 'b' }), noopJob({ queue: 'b' }), noopJob({ queue: 'b', delayMs: 60_000 }), noopJob({ queue: 'c' })]);
  await queue.setQueue('a', { paused: true });
  now = new Date(now.getTime() + 5_000);
  await queue.claim('w', { limit: 1, queues: ['c'] });
  const { queues, nextAfter } = await queue.listQueues();
  assert.equal(nextAfter, null);
  assert.deepEqual(queues.map((q) => [q.name, q.paused, q.depth, q.running, q.oldestWaitingAgeSeconds]), [
    ['a', true, 0, 0, 0],
    ['b', false, 2, 0, 5],
    ['c', false, 0, 1, 0],
  ]);
  const first = await queue.listQueues({ limit: 2 });
  assert.deepEqual([first.queues.map((q) => q.name), first.nextAfter], [['a', 'b'], 'b']);
  const rest = await queue.listQueues({ limit: 2, after: first.nextAfter! });
  assert.deepEqual([rest.queues.map((q) => q.name), rest.nextAfter], [['c'], null]);
});

test('a policy change is announced on its channel when it commits', async () => {
  const { queue, db } = await freshQueue();
  const listener = new pg.Client({ connectionString: db.listenUrl ?? db.url });
  await listener.connect();
  try {
    await listener.query(`LISTEN ${QUEUES_CHANNEL}`);
    const heard = new Promise<string>((resolve) => listener.on('notification', (n) => resolve(n.payload ?? '')));
    await queue.setQueue('mail', { concurrency: 2 });
    assert.equal(await heard, 'mail');
  } finally {
    await listener.end();
  }
});

test("the workers' view lists the queues with a policy and those whose waiting jobs carry a group; the sweep forgets rows of neither", async () => {
  const { queue, db } = await freshQueue();
  await queue.setQueue('limited', { concurrency: 1 });
  await queue.enqueueMany([noopJob({ queue: 'tenants', group: 't1' }), noopJob({ queue: 'plain' })]);
  const view = (await queue.flowQueues()).sort((x, y) => x.name.localeCompare(y.name));
  assert.deepEqual(view, [
    { name: 'limited', policy: { ...NONE, concurrency: 1 }, grouped: false },
    { name: 'tenants', policy: null, grouped: true },
  ]);
  // Claiming the grouped queue gives it a row (its round robin's place); once nothing of it waits, and
  // with no policy, the sweep deletes the row.
  const { jobs } = await queue.claimLimited('w', { queues: ['tenants'], limit: 5 });
  assert.equal(jobs.length, 1);
  const rows = async () => (await db.pool.query<{ name: string }>('SELECT name FROM jobq.queues ORDER BY name')).rows.map((r) => r.name);
  assert.deepEqual(await rows(), ['limited', 'tenants']);
  assert.deepEqual(await queue.flowQueues().then((v) => v.map((q) => q.name)), ['limited']);
  await queue.sweep(30_000);
  assert.deepEqual(await rows(), ['limited']);
});

test('a group is bounded and stored with the job; the ordinary claim leaves grouped jobs alone', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(noopJob({ group: 'customer-42' }));
  assert.equal(job.group, 'customer-42');
  assert.equal((await queue.get(job.id))?.group, 'customer-42');
  for (const group of ['', 'x'.repeat(129), 'tab\there', 7 as never]) {
    await assert.rejects(queue.enqueue(noopJob({ group })), (err) => isJobqError(err, 'validation_failed') && err.details?.[0]?.path === '/group');
  }
  assert.deepEqual(await queue.claim('w', { limit: 10 }), []);
});
