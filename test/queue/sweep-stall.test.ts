/**
 * The sweep's turn (issue #14, item 1; a row since issue #21): a process that stalls in the middle of
 * its sweep (a handler blocking its event loop) must not keep every other process from recovering jobs
 * while it stalls. Its turn ends when its lease passes, and another process sweeps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { Queue } from '../../src/queue/queue.ts';
import { freshQueue, testKinds, deferred, eventually } from '../helpers/fixtures.ts';

test('a sweeper stalled while holding the sweep turn loses it when its lease passes; another process then sweeps', async () => {
  const { queue, db } = await freshQueue();
  const stall = deferred();
  let holding = false;
  // A pool whose sweep stalls right after taking the turn, as a process whose event loop stopped would.
  const stallingPool = {
    query: async (...args: unknown[]) => {
      if (holding) await stall.promise;
      const out = await (db.pool.query as (...a: unknown[]) => Promise<pg.QueryResult>)(...args);
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text: string }).text;
      if (text.includes('UPDATE jobq.sweep_lease SET holder') && out.rowCount === 1) holding = true;
      return out;
    },
  } as unknown as pg.Pool;
  const stalled = new Queue({ pool: stallingPool, kinds: testKinds() }).sweep(1_000).catch((err: unknown) => err);
  try {
    await eventually(() => (holding ? true : undefined), 5_000, 'the stalled sweeper to hold the turn');
    assert.equal(await queue.sweep(1_000), null, 'the turn is held');
    const swept = await eventually(async () => (await queue.sweep(1_000)) ?? undefined, 10_000, 'another sweep to get the turn');
    assert.deepEqual(swept, { recovered: 0, pruned: 0 });
  } finally {
    stall.resolve(); // also when the test fails
  }
  await stalled; // finishes; its give-back finds the turn another's and changes nothing
  assert.notEqual(await queue.sweep(1_000), null);
});
