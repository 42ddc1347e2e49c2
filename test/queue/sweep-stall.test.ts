/**
 * The sweeper's advisory lock (issue #14, item 1): a process that stalls in the middle of its sweep (a
 * handler blocking its event loop) must not keep every other process from recovering jobs while it
 * stalls. Its session ends itself after being idle for the lease, which frees the lock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { Queue } from '../../src/queue/queue.ts';
import { freshQueue, testKinds, deferred, eventually } from '../helpers/fixtures.ts';

test('a sweeper stalled while holding the sweep lock loses it after one lease idle; another process then sweeps', async () => {
  const { queue, db } = await freshQueue();
  const stall = deferred();
  let statements = 0;
  // A pool whose sweep stalls after taking the lock, as a process whose event loop stopped would.
  const stallingPool = {
    connect: async () => {
      const client = await db.pool.connect();
      const query = client.query.bind(client) as (...a: unknown[]) => Promise<unknown>;
      (client as { query: unknown }).query = async (...args: unknown[]) => {
        if (++statements === 2) await stall.promise;
        return query(...args);
      };
      return client;
    },
  } as unknown as pg.Pool;
  const stalled = new Queue({ pool: stallingPool, kinds: testKinds() }).sweep(1_000).catch((err: unknown) => err);
  try {
    await eventually(() => (statements >= 2 ? true : undefined), 5_000, 'the stalled sweeper to hold the lock');
    assert.equal(await queue.sweep(1_000), null, 'the lock is held');
    const swept = await eventually(async () => (await queue.sweep(1_000)) ?? undefined, 10_000, 'another sweep to get the lock');
    assert.deepEqual(swept, { recovered: 0, pruned: 0 });
  } finally {
    stall.resolve(); // also when the test fails: the stalled sweep must give its client back before the pool ends
  }
  await stalled; // fails or finishes; either way it no longer holds the lock
  assert.notEqual(await queue.sweep(1_000), null);
});
