/**
 * The log store for busy queues only (QueueOptions.logStore 'busy', src/queue/log/busy.ts): a queue's
 * plain jobs are rows until a batch of BUSY_BATCH of them, or a process claiming BUSY_RATE of its rows
 * within a second, makes the queue busy; from then on they go to the log. Many quiet queues stay rows,
 * where they cost a claim nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { BusyQueues, BUSY_RATE, BUSY_WINDOW_MS } from '../../src/queue/log/busy.ts';
import { BUSY_BATCH } from '../../src/queue/log/statements.ts';
import { freshQueue, noopJob as noop } from '../helpers/fixtures.ts';

const BUSY = { logStore: 'busy' } as const;

/** Jobs of `queue` in each store. */
async function stores(pool: pg.Pool, queue: string): Promise<{ log: number; scheduled: number; rows: number }> {
  return (
    await pool.query<{ log: number; scheduled: number; rows: number }>(
      `SELECT (SELECT count(*)::int FROM jobq.log WHERE queue = $1) AS log, (SELECT count(*)::int FROM jobq.log_scheduled WHERE queue = $1) AS scheduled,
              (SELECT count(*)::int FROM jobq.jobs WHERE queue = $1) AS rows`,
      [queue],
    )
  ).rows[0]!;
}

test('a batch of BUSY_BATCH plain jobs makes its queue busy: they and its later plain jobs go to the log; smaller batches and other jobs stay rows', async () => {
  const { queue, db } = await freshQueue(BUSY);
  await queue.enqueue(noop({ queue: 'b' }));
  await queue.enqueueMany(Array.from({ length: BUSY_BATCH - 1 }, () => noop({ queue: 'b' })));
  // Plain jobs of BUSY_BATCH in all, and BUSY_BATCH with the priority ones: neither counts.
  await queue.enqueueMany([...Array.from({ length: BUSY_BATCH - 1 }, () => noop({ queue: 'c' })), noop({ queue: 'c', priority: 1 })]);
  assert.deepEqual(await stores(db.pool, 'b'), { log: 0, scheduled: 0, rows: BUSY_BATCH });
  assert.deepEqual(await stores(db.pool, 'c'), { log: 0, scheduled: 0, rows: BUSY_BATCH });

  await queue.enqueueMany([...Array.from({ length: BUSY_BATCH }, () => noop({ queue: 'b' })), noop({ queue: 'c' })]);
  assert.deepEqual(await stores(db.pool, 'b'), { log: BUSY_BATCH, scheduled: 0, rows: BUSY_BATCH });
  assert.deepEqual(await stores(db.pool, 'c'), { log: 0, scheduled: 0, rows: BUSY_BATCH + 1 }, 'a queue of the batch with fewer stays rows');
  await queue.enqueue(noop({ queue: 'b' }));
  await queue.enqueue(noop({ queue: 'b', delayMs: 60_000 }));
  await queue.enqueue(noop({ queue: 'b', priority: 2 }));
  assert.deepEqual(await stores(db.pool, 'b'), { log: BUSY_BATCH + 1, scheduled: 1, rows: BUSY_BATCH + 1 }, 'a busy queue: its plain jobs, one at a time too');

  // Every job is claimed and finishes, whichever store holds it.
  let done = 0;
  for (let claims = 0; claims < 20; claims++) {
    const jobs = await queue.claim('w', { limit: 500, queues: ['b', 'c'] });
    if (jobs.length === 0) break;
    done += (await queue.complete('w', jobs.map((c) => ({ id: c.id, claimSeq: c.claimSeq, result: null })))).length;
  }
  assert.equal(done, 2 * BUSY_BATCH + 2 + BUSY_BATCH + 1, 'all but the delayed one');
});

test('a process claiming BUSY_RATE rows of a queue within a second makes it busy; quiet queues stay rows', async () => {
  const { queue, db } = await freshQueue(BUSY);
  // Batches too small to make the queue busy.
  for (let left = BUSY_RATE + 10; left > 0; left -= BUSY_BATCH - 1) {
    await queue.enqueueMany(Array.from({ length: Math.min(left, BUSY_BATCH - 1) }, () => noop({ queue: 'hot' })));
  }
  await queue.enqueueMany(Array.from({ length: BUSY_RATE }, (_, i) => noop({ queue: `quiet-${i}` })));
  assert.deepEqual(await stores(db.pool, 'hot'), { log: 0, scheduled: 0, rows: BUSY_RATE + 10 });
  const claimed = await queue.claim('w', { limit: 2 * BUSY_RATE + 10 });
  assert.equal(claimed.length, 2 * BUSY_RATE + 10);
  await queue.enqueue(noop({ queue: 'hot' }));
  await queue.enqueue(noop({ queue: 'quiet-0' }));
  assert.deepEqual(await stores(db.pool, 'hot'), { log: 1, scheduled: 0, rows: BUSY_RATE + 10 });
  assert.deepEqual(await stores(db.pool, 'quiet-0'), { log: 0, scheduled: 0, rows: 2 });
});

test('BusyQueues counts claimed rows per queue in windows of BUSY_WINDOW_MS, names a queue once, and again after forget', () => {
  let now = 0;
  const busy = new BusyQueues(() => now);
  assert.deepEqual(busy.claimed(Array(BUSY_RATE - 1).fill('a')), []);
  now += BUSY_WINDOW_MS; // a new window: the count starts again
  assert.deepEqual(busy.claimed(Array(BUSY_RATE - 1).fill('a')), []);
  assert.deepEqual(busy.claimed(['a', 'b', 'a']), ['a']);
  assert.deepEqual(busy.claimed(Array(BUSY_RATE).fill('a')), [], 'named once');
  busy.forget(['a']);
  assert.deepEqual(busy.claimed(Array(BUSY_RATE).fill('a')), ['a']);
});

test('a busy queue gone quiet is rows again once its generations are history; an entry left without cursor rows is still claimed', async () => {
  const { queue, db } = await freshQueue(BUSY);
  const cursors = async (q: string) => (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM jobq.log_cursor WHERE queue = $1', [q])).rows[0]!.n;
  await queue.enqueueMany(Array.from({ length: BUSY_BATCH }, () => noop({ queue: 'burst' })));
  await queue.enqueueMany(Array.from({ length: BUSY_BATCH }, () => noop({ queue: 'steady' })));
  await queue.enqueue(noop({ queue: 'steady', delayMs: 3_600_000 })); // waiting: keeps it in the log
  const jobs = await queue.claim('w', { limit: 2 * BUSY_BATCH });
  assert.equal(jobs.length, 2 * BUSY_BATCH);
  await queue.complete('w', jobs.map((c) => ({ id: c.id, claimSeq: c.claimSeq })));
  await queue.sweep(60_000);
  assert.equal(await cursors('burst'), 4, 'its entries are in the current generation: still busy');
  await db.pool.query('SELECT jobq.log_rotate()');
  await queue.sweep(60_000);
  assert.deepEqual((await db.pool.query('SELECT gen FROM jobq.log_gen WHERE archived')).rows, [{ gen: 1 }]);
  assert.equal(await cursors('burst'), 0, 'quiet: rows again');
  assert.equal(await cursors('steady'), 4, 'a scheduled entry keeps a queue in the log');
  await queue.enqueue(noop({ queue: 'burst' }));
  await queue.enqueue(noop({ queue: 'steady' }));
  assert.deepEqual(await stores(db.pool, 'burst'), { log: 0, scheduled: 0, rows: 1 });
  assert.deepEqual(await stores(db.pool, 'steady'), { log: 1, scheduled: 1, rows: 0 });

  // An enqueue that routed to the log as the sweep took the queue's cursor rows: its entry is claimed all the same.
  await db.pool.query(`DELETE FROM jobq.log_cursor WHERE queue = 'steady'`);
  const [late] = await queue.claim('w', { queues: ['steady'] });
  assert.ok(late && late.claimSeq < 0, 'the log entry, claimed');
  assert.equal(await cursors('steady'), 4);
});
