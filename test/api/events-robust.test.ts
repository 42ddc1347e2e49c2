/**
 * The event hub when things go wrong (issue #19): a client that stops reading is disconnected at its
 * buffer's bound while the others go on; the LISTEN connection killed (pg_terminate_backend) is a gap:
 * streams are told `reset`, a Last-Event-ID from before it is no longer replayed, and the watched jobs
 * are re-read, so a change made meanwhile arrives as a synthesized event (no id); reconciliation does
 * the same on its timer; malformed notifications are skipped; a shutdown ends every stream.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import type pg from 'pg';
import { inTransaction } from '../../src/queue/db.ts';
import type { Queryable } from '../../src/queue/types.ts';
import { buildTestApp, eventually, listen } from '../helpers/fixtures.ts';
import { jobEvent, openStream, publish } from '../helpers/events.ts';

/** Runs the queue's operations of `fn` in a transaction of its own: they publish nothing, in either store. */
const unpublished = <T>(pool: pg.Pool, fn: (db: Queryable) => Promise<T>): Promise<T> => inTransaction(pool, fn);

test('a client that stops reading is disconnected once eventsStreamBuffer events wait for it; the others get every event', { timeout: 120_000 }, async () => {
  const { app, db, hub } = await buildTestApp({ config: { eventsStreamBuffer: 1_000 } });
  const base = await listen(app);
  const reader = await openStream(`${base}/v1/events`);
  const stalled = net.connect(Number(new URL(base).port), '127.0.0.1');
  stalled.on('error', () => {});
  await new Promise((resolve) => stalled.once('connect', resolve));
  stalled.write('GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  stalled.pause();
  await eventually(() => (hub!.stats().subscriptions === 2 ? true : undefined), 10_000, 'both streams open');
  const job = { id: '00000000-0000-4000-8000-000000000001', queue: 'default', kind: 'noop' };
  const message = 'x'.repeat(480);
  let sent = 0;
  // Big events until the stalled stream is cut (the socket's buffers in the kernel fill first).
  const deadline = Date.now() + 60_000;
  while (hub!.stats().subscriptions > 1) {
    assert.ok(Date.now() < deadline, `still open after ${sent} events`);
    await publish(db!.pool, ...Array.from({ length: 100 }, (_, i) => jobEvent(job, 'progress', { attempt: sent + i, progress: { value: 0.5, message } })));
    sent += 100;
  }
  await publish(db!.pool, jobEvent(job, 'succeeded'));
  const got = await reader.until((f) => f.event === 'succeeded', 30_000);
  assert.equal(got.length, sent + 1, 'the reading stream got every event');
  assert.deepEqual(got.slice(0, sent).map((f) => f.data.attempt), Array.from({ length: sent }, (_, i) => i));
  reader.close();
  stalled.destroy();
});

test('a lost LISTEN connection is a gap: streams get reset, old ids are not replayed, changes made meanwhile arrive reconciled', { timeout: 60_000 }, async () => {
  const { app, db, queue, hub } = await buildTestApp({ hubOptions: { reconcileMs: 600_000 } });
  const base = await listen(app);
  const { job } = await queue.enqueue({ kind: 'noop', payload: {}, queue: 'q' });
  const byQueue = await openStream(`${base}/v1/events?queue=q`);
  const byId = await openStream(`${base}/v1/events?id=${job.id}`);
  assert.equal((await byId.next()).data.status, 'queued');
  await publish(db!.pool, jobEvent(job, 'started'));
  const before = await byQueue.next();
  assert.equal((await byId.next()).event, 'started');

  // The job finishes while the hub's connection is gone (committed right after the kill); nobody publishes it.
  await unpublished(db!.pool, async (client) => {
    const [claimed] = await queue.claim('w', { db: client, limit: 1 });
    assert.equal(claimed?.id, job.id);
    assert.deepEqual(await queue.complete('w', [{ id: job.id, claimSeq: claimed.claimSeq }], { db: client }), [claimed.claimSeq]);
    const killed = await db!.pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'jobq-events'`);
    assert.equal(killed.rowCount, 1);
  });

  assert.deepEqual([(await byQueue.next()).event, byQueue.frames.at(-1)!.data], ['reset', { reason: 'gap' }]);
  assert.equal((await byId.next()).event, 'reset');
  const reconciled = await byId.next();
  assert.deepEqual([reconciled.event, reconciled.id, reconciled.data.status, reconciled.data.attempt], ['succeeded', undefined, 'succeeded', 1]);
  // Made up from the job as stored: its fields, and when it changed.
  assert.deepEqual([reconciled.data.type, reconciled.data.queue, reconciled.data.kind, reconciled.data.group], ['succeeded', 'q', 'noop', null]);
  await eventually(() => (hub!.stats().listening ? true : undefined), 10_000, 'listening again');

  // The ring was emptied: the id heard before the gap gets reset, not a replay with a hole in it.
  const resumed = await openStream(`${base}/v1/events?queue=q`, { 'last-event-id': before.id! });
  assert.deepEqual((await resumed.next()).data, { reason: 'unknown_last_event_id' });
  // And events flow again.
  await publish(db!.pool, jobEvent(job, 'enqueued'));
  assert.equal((await byQueue.next()).event, 'enqueued');
  for (const s of [byQueue, byId, resumed]) s.close();
});

test('reconciliation on its timer sends a stream of ids the change it did not hear of, once', { timeout: 60_000 }, async () => {
  const { app, db, queue } = await buildTestApp({ hubOptions: { reconcileMs: 100 } });
  const base = await listen(app);
  const { job } = await queue.enqueue({ kind: 'noop', payload: {} });
  const s = await openStream(`${base}/v1/events?id=${job.id}`);
  assert.equal((await s.next()).event, 'state');
  await unpublished(db!.pool, async (client) => assert.equal((await queue.claim('w', { db: client, limit: 1 }))[0]?.id, job.id));
  const started = await s.next();
  assert.deepEqual([started.event, started.id, started.data.attempt], ['started', undefined, 1]);
  await unpublished(db!.pool, async (client) => assert.equal((await queue.markFailedOrRetry(job.id, new Error('boom'), { db: client, workerId: 'w' })).status, 'retrying'));
  assert.equal((await s.next()).event, 'retrying');
  // A change it heard of is not sent again.
  await unpublished(db!.pool, async (client) => assert.equal((await queue.requestCancel(job.id, { db: client })).outcome, 'cancelled'));
  await publish(db!.pool, jobEvent(job, 'cancelled'));
  const cancelled = await s.next();
  assert.ok(cancelled.id, 'the published event, with its id');
  await publish(db!.pool, jobEvent({ ...job, id: '00000000-0000-4000-8000-000000000009' }, 'succeeded'), jobEvent(job, 'progress'));
  assert.equal((await s.next()).event, 'progress', 'no second cancelled in between');
  s.close();
});

test('malformed notifications and events are skipped; the good ones around them arrive', async () => {
  const { app, db } = await buildTestApp();
  const base = await listen(app);
  const s = await openStream(`${base}/v1/events`);
  const job = { id: '00000000-0000-4000-8000-000000000001', queue: 'default', kind: 'noop' };
  const good = jobEvent(job, 'started');
  for (const payload of ['not json', '{"n":1}', 'null', `{"n":2,"e":[{"type":"exploded","id":"x"},null,${JSON.stringify(good)}]}`, `{"n":"3\\nevent: x","e":[${JSON.stringify(good)}]}`]) {
    await db!.pool.query(`SELECT pg_notify('jobq_events', $1)`, [payload]);
  }
  await publish(db!.pool, jobEvent(job, 'succeeded'));
  const got = await s.until((f) => f.event === 'succeeded');
  assert.deepEqual(got.map((f) => [f.id, f.event]), [['2-2', 'started'], [got[1]!.id, 'succeeded']]);
  s.close();
});

test('a shutdown ends every stream', { timeout: 30_000 }, async () => {
  const { app, hub } = await buildTestApp();
  const base = await listen(app);
  const streams = [await openStream(`${base}/v1/events`), await openStream(`${base}/v1/events?queue=a`)];
  await app.close();
  await Promise.all(streams.map((s) => s.ended));
  assert.equal(hub!.stats().subscriptions, 0);
});
