/**
 * Publishing job events (src/queue/events/): a real client LISTENs on jobq_events while the queue's
 * operations run, and each transition publishes exactly its events, in order; nothing is published
 * (nor looked up per operation) while no listener is registered; a batch of events splits into
 * notifications under PostgreSQL's payload limit; a failed publish is reported and dropped.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Queue, type QueueOptions } from '../../src/queue/queue.ts';
import * as Events from '../../src/queue/statements/events.ts';
import { briefEvent as brief, countStatements, eventually, freshDatabase, listenEvents, noopJob as noop, testKinds } from '../helpers/fixtures.ts';

const T0 = new Date('2031-03-01T10:00:00.000Z');

async function setup(opts: Partial<QueueOptions> & { register?: boolean } = {}) {
  const db = await freshDatabase();
  const clock = { now: T0 };
  const listener = await listenEvents(db.url);
  if (opts.register !== false) await Events.registerListener(db.pool, { id: 'test-listener', ttlMs: 600_000 });
  const queue = new Queue({ pool: db.pool, kinds: testKinds(), clock: () => clock.now, ...opts });
  return { db, clock, queue, listener };
}

const expect = (type: string, id: string, status: string, attempt: number) => brief({ type: type as never, id, status, attempt });

test('each operation publishes its events after it commits, in order, with the job\'s queue, kind, group, status and attempt', async () => {
  const { db, clock, queue, listener } = await setup();
  const want: string[] = [];

  // enqueue: single, batch, keyed (only the job made), grouped
  const a = (await queue.enqueue(noop({ queue: 'qa' }))).job;
  want.push(expect('enqueued', a.id, 'queued', 0));
  const [b, c] = (await queue.enqueueMany([noop(), noop()])).map((r) => r.job);
  want.push(expect('enqueued', b!.id, 'queued', 0), expect('enqueued', c!.id, 'queued', 0));
  // In a queue of its own: a row, which the claim of 'default' below could take beside the log's jobs (they share a claim).
  const s1 = await queue.enqueue(noop({ queue: 'qk', singletonKey: 'one' }));
  const s2 = await queue.enqueue(noop({ queue: 'qk', singletonKey: 'one' }));
  assert.equal(s2.outcome, 'singleton_existing');
  want.push(expect('enqueued', s1.job.id, 'queued', 0));
  const g = (await queue.enqueue(noop({ queue: 'qg', group: 'tenant-1' }))).job;
  want.push(expect('enqueued', g.id, 'queued', 0));

  // claim: only the one started now; the buffered one when the worker starts it (b and c in either order:
  // the log store keeps enqueue order within a lane, not across a queue's lanes)
  const claimed = await queue.claim('w1', { limit: 2, started: 1, queues: ['default'] });
  assert.deepEqual(claimed.map((j) => j.id).sort(), [b!.id, c!.id].sort());
  want.push(expect('started', claimed[0]!.id, 'running', 1));
  queue.jobStarted(claimed[1]!);
  want.push(expect('started', claimed[1]!.id, 'running', 1));

  // complete: succeeded, from the claimed job the caller holds
  assert.deepEqual(await queue.complete('w1', [{ ...claimed[0]!, result: 1, job: claimed[0]! }]), [claimed[0]!.claimSeq]);
  want.push(expect('succeeded', claimed[0]!.id, 'succeeded', 1));
  // and without it (a library caller): read back for the event
  assert.deepEqual(await queue.complete('w1', [{ id: claimed[1]!.id, claimSeq: claimed[1]!.claimSeq }]), [claimed[1]!.claimSeq]);
  want.push(expect('succeeded', claimed[1]!.id, 'succeeded', 1));

  // fail: retrying, then (claimed again) failed_permanent; an operator's retry: enqueued
  const [ca] = await queue.claim('w1', { queues: ['qa'] });
  want.push(expect('started', a.id, 'running', 1));
  await queue.markFailedOrRetry(a.id, new Error('boom'), { workerId: 'w1', claimSeq: ca!.claimSeq });
  want.push(expect('retrying', a.id, 'retrying', 1));
  clock.now = new Date(T0.getTime() + 3_600_000);
  const [ca2] = await queue.claim('w1', { queues: ['qa'] });
  want.push(expect('started', a.id, 'running', 2));
  await queue.markFailedOrRetry(a.id, new Error('boom'), { workerId: 'w1', claimSeq: ca2!.claimSeq, permanent: true });
  want.push(expect('failed_permanent', a.id, 'failed_permanent', 2));
  await queue.retry(a.id);
  want.push(expect('enqueued', a.id, 'queued', 0));

  // cancel of a waiting job: cancelled; of a running one: nothing until the worker finalizes it
  await queue.requestCancel(a.id);
  want.push(expect('cancelled', a.id, 'cancelled', 0));
  const { jobs: [cg] } = await queue.claimLimited('w1', { queues: ['qg'], limit: 5 });
  want.push(expect('started', g.id, 'running', 1));
  assert.equal((await queue.requestCancel(g.id)).outcome, 'cancel_requested');
  await queue.finalizeCancelled(g.id, { workerId: 'w1', claimSeq: cg!.claimSeq });
  want.push(expect('cancelled', g.id, 'cancelled', 1));

  // release: given back (no event), or cancelled when a cancel was requested
  const d = (await queue.enqueue(noop({ queue: 'qd' }))).job;
  const e = (await queue.enqueue(noop({ queue: 'qd' }))).job;
  want.push(expect('enqueued', d.id, 'queued', 0), expect('enqueued', e.id, 'queued', 0));
  const rel = await queue.claim('w1', { queues: ['qd'], limit: 2 });
  assert.deepEqual(rel.map((j) => j.id).sort(), [d.id, e.id].sort());
  want.push(...rel.map((j) => expect('started', j.id, 'running', 1))); // in claim order, as b and c above
  await queue.requestCancel(e.id);
  await queue.release('w1', rel);
  want.push(expect('cancelled', e.id, 'cancelled', 0));

  // recovery of a lost worker's job: retrying
  const [rd] = await queue.claim('w2', { queues: ['qd'] });
  want.push(expect('started', d.id, 'running', 1));
  clock.now = new Date(clock.now.getTime() + 1);
  assert.equal(await queue.recoverStale(0), 1);
  want.push(expect('retrying', rd!.id, 'retrying', 1));

  // a schedule's tick: enqueued
  await queue.schedules.set({ name: 'beat', every: '1s', job: { kind: 'noop', payload: {}, queue: 'qs' } });
  clock.now = new Date(clock.now.getTime() + 1_000);
  const { fired } = await queue.schedules.fireDue();
  assert.equal(fired.length, 1);
  want.push(expect('enqueued', fired[0]!.jobId, 'queued', 0));

  await queue.publisher.flush();
  await listener.sentinel(db.pool);
  assert.deepEqual(listener.events.map(brief), want);

  // the fields the event carries, from the row
  const ev = listener.events;
  assert.deepEqual({ ...ev.find((x) => x.id === g.id && x.type === 'cancelled'), eventId: undefined }, {
    type: 'cancelled', id: g.id, queue: 'qg', kind: 'noop', group: 'tenant-1', status: 'cancelled', attempt: 1, at: new Date(T0.getTime() + 3_600_000).toISOString(), eventId: undefined,
  });
  assert.equal(ev.at(-1)!.at, clock.now.toISOString(), 'at: the queue\'s clock');
  assert.equal(ev.at(-1)!.queue, 'qs');
  // ids: each notification's number and the event's place in it; numbers grow in arrival order
  const numbers = ev.map((x) => Number(x.eventId.split('-')[0]));
  assert.deepEqual(numbers, [...numbers].sort((x, y) => x - y));
  assert.equal(new Set(ev.map((x) => x.eventId)).size, ev.length);
  assert.deepEqual(queue.publisher.counts, { published: want.length, dropped: 0 });
});

test('an operation inside the caller\'s open transaction publishes nothing; on an idle client it does', async () => {
  const { db, queue, listener } = await setup();
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const inTx = (await queue.enqueue(noop(), { db: client })).job;
    await client.query('COMMIT');
    const idle = (await queue.enqueue(noop(), { db: client })).job;
    await queue.publisher.flush();
    await listener.sentinel(db.pool);
    assert.deepEqual(listener.events.map(brief), [expect('enqueued', idle.id, 'queued', 0)]);
    assert.notEqual(inTx.id, idle.id);
  } finally {
    client.release();
  }
});

test('with no live listener nothing is published, and the gate is looked up once, not per operation', async () => {
  const { db, queue, listener } = await setup({ register: false, publish: { recheckMs: 3_600_000 } });
  const counts = countStatements(db.pool);
  for (let i = 0; i < 20; i++) await queue.enqueue(noop());
  const jobs = await queue.claim('w', { limit: 20 });
  assert.equal(jobs.length, 20);
  await queue.complete('w', jobs.map((j) => ({ id: j.id, claimSeq: j.claimSeq, job: j })));
  for (let i = 0; i < 5; i++) await queue.requestCancel((await queue.enqueue(noop())).job.id);
  await queue.publisher.flush();
  await listener.sentinel(db.pool);
  assert.deepEqual(listener.events, []);
  assert.equal(counts.get('jobq_listeners_live'), 1, 'one look-up in all');
  assert.equal(counts.get('jobq_publish_events') ?? 0, 0);
  assert.equal(counts.get('jobq_watched_states') ?? 0, 0, 'no read for events nobody gets');
  assert.deepEqual(queue.publisher.counts, { published: 0, dropped: 0 });
  assert.equal(queue.publisher.live, false);
});

test('the gate is looked up again once its answer is older than recheckMs: a listener registered meanwhile gets the events', async () => {
  const { db, queue, listener } = await setup({ register: false, publish: { recheckMs: 100 } });
  const counts = countStatements(db.pool);
  await queue.enqueue(noop());
  await queue.publisher.flush();
  assert.equal(queue.publisher.live, false);
  // Registered without its notification: only the re-check can find it.
  await db.pool.query(`INSERT INTO jobq.event_listeners (id, expires_at) VALUES ('quiet', now() + interval '1 hour')`);
  const job = await eventually(async () => {
    const j = (await queue.enqueue(noop())).job;
    await queue.publisher.flush();
    return queue.publisher.live ? j : undefined;
  }, 10_000, 'the publisher to find the listener');
  await listener.sentinel(db.pool);
  // The enqueue that found it was held during the look-up, then sent: nothing from before it.
  assert.deepEqual(listener.events.map(brief), [expect('enqueued', job.id, 'queued', 0)]);
  assert.ok(counts.get('jobq_listeners_live')! >= 2);
  // An expired listener turns it off again at the next look-up.
  await db.pool.query(`UPDATE jobq.event_listeners SET expires_at = now() - interval '1 second'`);
  await eventually(async () => {
    await queue.enqueue(noop());
    await queue.publisher.flush();
    return queue.publisher.live ? undefined : true;
  }, 10_000, 'the publisher to turn off');
});

test('300 events split into several notifications, each under 8,000 bytes, ids in order', async () => {
  const { db, queue, listener } = await setup();
  const long = 'q'.repeat(120);
  const jobs = (await queue.enqueueMany(Array.from({ length: 300 }, (_x, i) => noop({ queue: `${long}${i % 10}`, group: `g-${'x'.repeat(100)}-${i}` })))).map((r) => r.job);
  await queue.publisher.flush();
  await listener.sentinel(db.pool);
  assert.ok(listener.payloads.length >= 3, `${listener.payloads.length} notifications`);
  for (const p of listener.payloads) assert.ok(Buffer.byteLength(p) < 8_000, `a payload of ${Buffer.byteLength(p)} bytes`);
  assert.deepEqual(listener.events.map((e) => e.id), jobs.map((j) => j.id));
  const ids = listener.events.map((e) => e.eventId.split('-').map(Number) as [number, number]);
  for (let i = 1; i < ids.length; i++) {
    const [[n0, i0], [n1, i1]] = [ids[i - 1]!, ids[i]!];
    assert.ok(n1 > n0 ? i1 === 0 : n1 === n0 && i1 === i0 + 1, `event ${i}: ${n0}-${i0} then ${n1}-${i1}`);
  }
  assert.equal(new Set(ids.map(([n]) => n)).size, listener.payloads.length);
});

test('a failed publish is reported with its error and dropped; the operation is unaffected; later events go out', async () => {
  const { db, queue, listener } = await setup();
  const reports: { published: number; dropped: number; error?: unknown }[] = [];
  queue.events.on('eventsPublished', (r) => reports.push(r));
  await queue.enqueue(noop());
  await queue.publisher.flush();
  // The publish statement fails (the channel's function is gone for a moment); the enqueue does not.
  await db.pool.query(`ALTER SEQUENCE jobq.event_ids RENAME TO event_ids_away`);
  const lost = await queue.enqueue(noop());
  assert.equal(lost.outcome, 'created');
  await queue.publisher.flush();
  await db.pool.query(`ALTER SEQUENCE jobq.event_ids_away RENAME TO event_ids`);
  const after = (await queue.enqueue(noop())).job;
  await queue.publisher.flush();
  await listener.sentinel(db.pool);
  assert.deepEqual(reports.map(({ published, dropped, error }) => ({ published, dropped, failed: error !== undefined })), [
    { published: 1, dropped: 0, failed: false },
    { published: 0, dropped: 1, failed: true },
    { published: 1, dropped: 0, failed: false },
  ]);
  assert.deepEqual(listener.events.slice(1).map((e) => e.id), [after.id]);
  assert.deepEqual(queue.publisher.counts, { published: 2, dropped: 1 });
});

test('while the database cannot take them, at most maxBuffered events wait; the oldest are dropped and counted', async () => {
  const { db, queue, listener } = await setup({ publish: { maxBuffered: 10 } });
  await queue.enqueue(noop()); // the gate is open
  await queue.publisher.flush();
  // Hold the publish statement: while the sequence is locked, nextval waits; events pile up meanwhile.
  const blocker = await db.pool.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query('ALTER SEQUENCE jobq.event_ids INCREMENT BY 1'); // locks it: nextval waits
    await queue.enqueue(noop()); // its publish waits for the lock
    await eventually(async () => {
      const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
      return rows[0]!.n > 0 ? true : undefined;
    }, 10_000, 'the publish to wait for the lock');
    const jobs = (await queue.enqueueMany(Array.from({ length: 25 }, () => noop()))).map((r) => r.job);
    await blocker.query('COMMIT');
    await queue.publisher.flush();
    await listener.sentinel(db.pool);
    assert.deepEqual(listener.events.slice(2).map((e) => e.id), jobs.slice(15).map((j) => j.id), 'the newest 10 of the 25');
    assert.deepEqual(queue.publisher.counts, { published: 12, dropped: 15 });
  } finally {
    blocker.release();
  }
});
