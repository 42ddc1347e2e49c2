/**
 * Why no child waits forever (docs/flows.md): the enqueue of a child locks its parents, so a parent's
 * completion and a child's enqueue meet in one order or the other, and either way the child ends
 * released (or cancelled). Both orders forced with real transactions, then raced many times over
 * separate connections.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Queue } from '../../src/queue/queue.ts';
import { connections, freshQueue, waitForLockWait } from '../helpers/fixtures.ts';
import { edges, own, states } from '../helpers/flows.ts';

/** A running job of its own queue, and its claim. */
async function runningJob(queue: Queue): Promise<{ id: string; claimSeq: number }> {
  const job = (await queue.enqueue(own())).job;
  const [claimed] = await queue.claim('w', { limit: 1, queues: [job.queue] });
  return { id: job.id, claimSeq: claimed!.claimSeq };
}

test('the enqueue holds the parent: a completion waits for its commit, then finds the edge and releases the child', async () => {
  const { queue, db } = await freshQueue();
  const parent = await runningJob(queue);
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const child = (await queue.enqueue(own({ dependsOn: [parent.id] }), { db: client })).job;
    assert.equal(child.status, 'waiting');
    const completing = queue.complete('w', [parent]);
    await waitForLockWait(db.pool);
    await client.query('COMMIT');
    assert.deepEqual(await completing, [parent.claimSeq]);
    assert.deepEqual(await states(db.pool, [child.id]), ['queued/0']);
  } finally {
    client.release();
  }
  assert.equal(await edges(db.pool), 0);
});

test('the completion holds the parent: the enqueue waits for its commit, then reads it succeeded (or failed) and decides at once', async () => {
  const { queue, db } = await freshQueue();
  for (const how of ['succeed', 'fail'] as const) {
    const parent = await runningJob(queue);
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      if (how === 'succeed') assert.deepEqual(await queue.complete('w', [parent], { db: client }), [parent.claimSeq]);
      else await queue.markFailedOrRetry(parent.id, new Error('boom'), { workerId: 'w', claimSeq: parent.claimSeq, permanent: true, db: client });
      const enqueuing = queue.enqueue(own({ dependsOn: [parent.id] }));
      await waitForLockWait(db.pool);
      await client.query('COMMIT');
      const child = (await enqueuing).job;
      assert.equal(child.status, how === 'succeed' ? 'queued' : 'cancelled');
    } finally {
      client.release();
    }
  }
  assert.equal(await edges(db.pool), 0);
});

test('raced 400 times over separate connections: every child ends queued (or cancelled), none waits, no edge is left', async () => {
  const { queue, db } = await freshQueue();
  const c = await connections(db.url, 8);
  try {
    const children: { id: string; failed: boolean }[] = [];
    for (let round = 0; round < 25; round++) {
      // 16 parents running; each completed on one connection while a child naming it is enqueued on another.
      const parents = await Promise.all(Array.from({ length: 16 }, () => runningJob(queue)));
      const results = await Promise.all(parents.flatMap((p, i) => {
        const failed = (round + i) % 4 === 0;
        const writer = c.queues[i % 4]!;
        const end = failed
          ? writer.markFailedOrRetry(p.id, new Error('boom'), { workerId: 'w', claimSeq: p.claimSeq, permanent: true })
          : writer.complete('w', [p]);
        const enqueue = c.queues[4 + (i % 4)]!.enqueue(own({ dependsOn: [p.id] })).then((r) => children.push({ id: r.job.id, failed }));
        return i % 2 === 0 ? [end, enqueue] : [enqueue, end];
      }));
      assert.equal(results.length, 32);
    }
    assert.equal(children.length, 400);
    const ended = await states(db.pool, children.map((ch) => ch.id));
    const wrong = children.map((ch, i) => ({ ...ch, state: ended[i]! })).filter((ch) => ch.state !== (ch.failed ? 'cancelled/0' : 'queued/0') && ch.state !== 'cancelled/1');
    assert.deepEqual(wrong, [], 'every child queued when its parent succeeded, cancelled when it failed');
    assert.ok(children.every((ch, i) => ch.failed === ended[i]!.startsWith('cancelled')));
    assert.equal(await edges(db.pool), 0);
    assert.equal((await queue.stats()).byStatus.waiting, 0);
  } finally {
    await c.end();
  }
});
