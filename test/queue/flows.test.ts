/**
 * Job dependencies (migration 0015, docs/flows.md): a job with parents waits until each has settled and
 * is queued in the transaction of the last one's completion; a failed or cancelled parent cancels it or
 * counts as settled, by its on_parent_failure. On a real database, through the Queue's own API.
 */
import pg from 'pg';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { claimOne, freshQueue } from '../helpers/fixtures.ts';
import { edges, finish, own, states } from '../helpers/flows.ts';

test('a job with parents waits, counts them down as each succeeds, and is queued by the last completion', async () => {
  const { queue, db } = await freshQueue();
  const a = (await queue.enqueue(own())).job;
  const b = (await queue.enqueue(own())).job;
  const child = await queue.enqueue(own({ dependsOn: [a.id, b.id] }));
  assert.deepEqual([child.outcome, child.job.status, child.job.dependsOn, child.job.onParentFailure], ['created', 'waiting', [a.id, b.id], 'cancel']);
  assert.deepEqual(child.job, await queue.get(child.job.id), 'the job returned is the row stored');
  assert.equal(await claimOne(queue, 'w', { queues: [child.job.queue] }), null, 'a waiting job is never claimed');
  assert.equal(await edges(db.pool), 2);

  await finish(queue, b.id, 'succeed');
  assert.deepEqual(await states(db.pool, [child.job.id]), ['waiting/1']);
  await finish(queue, a.id, 'succeed');
  assert.deepEqual(await states(db.pool, [child.job.id]), ['queued/0'], 'queued by the statement that completed the last parent');
  assert.equal(await edges(db.pool), 0, 'the edges were taken');
  assert.equal((await claimOne(queue, 'w', { queues: [child.job.queue] }))?.id, child.job.id);
  assert.deepEqual(await queue.parents(child.job.id), [
    { id: a.id, kind: 'noop', status: 'succeeded', result: { from: a.id } },
    { id: b.id, kind: 'noop', status: 'succeeded', result: { from: b.id } },
  ], 'its parents, in depends_on order, with their results');
  assert.deepEqual(await queue.parents(a.id), [], 'a job without parents has none');
});

test('parents settled already: succeeded counts as settled, failed or cancelled applies the policy at once', async () => {
  const { queue, db } = await freshQueue();
  const ok = (await finish(queue, (await queue.enqueue(own())).job.id, 'succeed')).id;
  const failed = (await finish(queue, (await queue.enqueue(own())).job.id, 'fail')).id;
  const cancelled = (await queue.requestCancel((await queue.enqueue(own())).job.id)).job.id;
  const running = (await queue.enqueue(own())).job;
  await claimOne(queue, 'w', { queues: [running.queue] });

  assert.equal((await queue.enqueue(own({ dependsOn: [ok] }))).job.status, 'queued', 'all parents succeeded: runnable at once');
  const cancelledChild = (await queue.enqueue(own({ dependsOn: [ok, failed] }))).job;
  assert.equal(cancelledChild.status, 'cancelled');
  assert.ok(cancelledChild.finishedAt);
  assert.equal(cancelledChild.lastError, `cancelled: parent ${failed} ended failed_permanent`);
  assert.equal((await queue.enqueue(own({ dependsOn: [cancelled], onParentFailure: 'cancel' }))).job.status, 'cancelled');
  assert.equal((await queue.enqueue(own({ dependsOn: [failed, cancelled], onParentFailure: 'run' }))).job.status, 'queued', 'run: failed parents count as settled');
  const waits = (await queue.enqueue(own({ dependsOn: [failed, running.id], onParentFailure: 'run' }))).job;
  assert.deepEqual(await states(db.pool, [waits.id]), ['waiting/1'], 'run: waits only for the unsettled one');
  assert.equal(await edges(db.pool), 1, 'edges only to parents not settled');
});

test('a failing parent cancels its child and, through it, the grandchild; a "run" grandchild is settled instead, and runs', async () => {
  const { queue, db } = await freshQueue();
  const parent = (await queue.enqueue(own())).job;
  const other = (await queue.enqueue(own())).job;
  const child = (await queue.enqueue(own({ dependsOn: [parent.id, other.id] }))).job;
  const grandchild = (await queue.enqueue(own({ dependsOn: [child.id] }))).job;
  const great = (await queue.enqueue(own({ dependsOn: [grandchild.id] }))).job;
  const runner = (await queue.enqueue(own({ dependsOn: [child.id], onParentFailure: 'run' }))).job;
  const bystander = (await queue.enqueue(own({ dependsOn: [other.id] }))).job;

  await finish(queue, parent.id, 'fail');
  assert.deepEqual(await states(db.pool, [child.id, grandchild.id, great.id, runner.id, bystander.id]),
    ['cancelled/2', 'cancelled/1', 'cancelled/1', 'queued/0', 'waiting/1']);
  const rows = await Promise.all([child, grandchild, great].map((j) => queue.get(j.id)));
  assert.deepEqual(rows.map((r) => r!.lastError), [
    `cancelled: parent ${parent.id} ended failed_permanent`,
    `cancelled: parent ${child.id} ended cancelled`,
    `cancelled: parent ${grandchild.id} ended cancelled`,
  ]);
  assert.ok(rows.every((r) => r!.finishedAt?.getTime() === rows[0]!.finishedAt!.getTime()), 'all at the time the parent failed');
  assert.equal((await claimOne(queue, 'w', { queues: [runner.queue] }))?.id, runner.id, 'the "run" grandchild runs');
  // The other parent of the cancelled child settles later: its edge goes, nothing else changes.
  await finish(queue, other.id, 'succeed');
  assert.deepEqual(await states(db.pool, [child.id, bystander.id]), ['cancelled/2', 'queued/0']);
  assert.equal(await edges(db.pool), 0);
});

test('on_parent_failure "run": a failed parent and a cancelled one count as settled; the child runs after the last', async () => {
  const { queue, db } = await freshQueue();
  const [a, b, c] = await Promise.all([0, 1, 2].map(async () => (await queue.enqueue(own())).job));
  const child = (await queue.enqueue(own({ dependsOn: [a!.id, b!.id, c!.id], onParentFailure: 'run' }))).job;
  await finish(queue, a!.id, 'fail');
  await queue.requestCancel(b!.id);
  assert.deepEqual(await states(db.pool, [child.id]), ['waiting/1']);
  await finish(queue, c!.id, 'succeed');
  assert.deepEqual(await states(db.pool, [child.id]), ['queued/0']);
  assert.deepEqual((await queue.parents(child.id)).map((p) => p.status), ['failed_permanent', 'cancelled', 'succeeded']);
});

test('cancelling a waiting job cancels it at once and cascades to its waiting children; retry runs it without waiting again', async () => {
  const { queue, db } = await freshQueue();
  const parent = (await queue.enqueue(own())).job;
  const waiting = (await queue.enqueue(own({ dependsOn: [parent.id] }))).job;
  const child = (await queue.enqueue(own({ dependsOn: [waiting.id] }))).job;
  const cancel = await queue.requestCancel(waiting.id);
  assert.deepEqual([cancel.outcome, cancel.job.status], ['cancelled', 'cancelled']);
  assert.deepEqual(await states(db.pool, [waiting.id, child.id]), ['cancelled/1', 'cancelled/1']);
  assert.equal((await queue.requestCancel(waiting.id)).outcome, 'already_terminal');

  // retry: runnable now, its parent still queued (docs/flows.md: an operator's retry runs the job).
  const retried = await queue.retry(waiting.id);
  assert.deepEqual([retried.status, retried.attempts], ['queued', 0]);
  assert.deepEqual(await states(db.pool, [waiting.id, child.id]), ['queued/0', 'cancelled/1'], 'its children stay cancelled');
  assert.equal(await edges(db.pool), 1, 'the edge from its parent stays until the parent settles');
  await finish(queue, parent.id, 'succeed');
  assert.deepEqual(await states(db.pool, [waiting.id]), ['queued/0'], 'its parent settling later changes nothing');
  assert.equal(await edges(db.pool), 0);
});

test('a released job runs from the later of its run_at and its release, and is listed, counted and woken as waiting, then queued', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue, db } = await freshQueue({ clock: () => now });
  const parent = (await queue.enqueue(own())).job;
  const soon = (await queue.enqueue(own({ dependsOn: [parent.id] }))).job;
  const later = (await queue.enqueue(own({ dependsOn: [parent.id], delayMs: 3_600_000 }))).job;
  assert.equal(soon.runAt.getTime(), now.getTime());
  assert.deepEqual((await queue.list({ status: 'waiting' })).jobs.map((j) => j.id).sort(), [soon.id, later.id].sort());
  assert.equal((await queue.stats()).byStatus.waiting, 2);
  assert.equal((await queue.stats()).oldestRunnableAgeSeconds, 0, 'a waiting job is not runnable');

  const client = new pg.Client(db.listenUrl ?? db.url);
  client.on('error', () => {});
  await client.connect();
  const woken: string[] = [];
  client.on('notification', (m) => woken.push(m.payload!));
  await client.query('LISTEN jobq_jobs');
  try {
    now = new Date('2030-01-01T00:10:00Z');
    await finish(queue, parent.id, 'succeed');
    const [s, l] = await Promise.all([queue.get(soon.id), queue.get(later.id)]);
    assert.deepEqual([s!.status, s!.runAt.toISOString(), s!.updatedAt.toISOString()], ['queued', now.toISOString(), now.toISOString()]);
    assert.deepEqual([l!.status, l!.runAt.toISOString()], ['queued', '2030-01-01T01:00:00.000Z'], 'its delay still holds');
    assert.equal((await queue.stats()).byStatus.waiting, 0);
    await new Promise((r) => setTimeout(r, 50)); // notifications of a committed transaction are already on their way
    assert.ok(woken.includes(soon.queue), `the released job's queue was woken (${woken.join(', ')})`);
    assert.ok(!woken.includes(later.queue), 'a job released to run later is not woken for');
  } finally {
    await client.end();
  }
});

test('only a job with children fires the trigger: a completion of any other job runs no trigger at all', async () => {
  const { queue, db } = await freshQueue();
  const plain = (await queue.enqueue(own())).job;
  const parent = (await queue.enqueue(own())).job;
  await queue.enqueue(own({ dependsOn: [parent.id] }));
  const triggerCalls = async (id: string) => {
    const [claimed] = await queue.claim('w', { limit: 1, queues: [(await queue.get(id))!.queue] });
    const { rows } = await db.pool.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) UPDATE jobq.jobs SET status = 'succeeded', locked_by = NULL, locked_at = NULL,
              finished_at = now(), updated_at = now() WHERE id = $1 AND claim_seq = $2`, [id, claimed!.claimSeq]);
    return rows.map((r) => r['QUERY PLAN']).filter((l) => l.startsWith('Trigger'));
  };
  assert.deepEqual(await triggerCalls(plain.id), [], 'no trigger ran');
  const fired = await triggerCalls(parent.id);
  assert.equal(fired.length, 1);
  assert.match(fired[0]!, /^Trigger jobs_settle_children: calls=1/);
});

test('the row keeps itself consistent: a waiting job without pending parents, or parents without a policy, is refused', async () => {
  const { db } = await freshQueue();
  const insert = (cols: string, values: string) =>
    db.pool.query(`INSERT INTO jobq.jobs (id, kind, payload, ${cols}) VALUES (gen_random_uuid(), 'noop', '{}', ${values})`);
  const parent = '01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f';
  await assert.rejects(insert('status', `'waiting'`), /jobs_waiting_has_parents/);
  await assert.rejects(insert('status, depends_on, on_parent_failure, pending_parents', `'waiting', ARRAY['${parent}']::uuid[], 'cancel', 0`), /jobs_waiting_has_parents/);
  await assert.rejects(insert('status, depends_on, on_parent_failure, pending_parents', `'queued', ARRAY['${parent}']::uuid[], 'cancel', 1`), /jobs_waiting_has_parents/);
  await assert.rejects(insert('depends_on, pending_parents', `ARRAY['${parent}']::uuid[], 0`), /jobs_depends_on_check/);
  await assert.rejects(insert('depends_on, on_parent_failure, pending_parents', `'{}'::uuid[], 'cancel', 0`), /jobs_depends_on_check/);
  await assert.rejects(insert('depends_on, on_parent_failure, pending_parents', `ARRAY['${parent}']::uuid[], 'maybe', 0`), /jobs_on_parent_failure_check/);
  await assert.rejects(insert('status, depends_on, on_parent_failure, pending_parents', `'waiting', ARRAY['${parent}']::uuid[], 'run', 2`), /jobs_pending_parents_check/);
  await insert('status, depends_on, on_parent_failure, pending_parents', `'waiting', ARRAY['${parent}']::uuid[], 'run', 1`);
});
