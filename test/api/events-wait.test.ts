/**
 * GET /v1/jobs/{id}?wait= over a real socket (issue #19): it answers when the job reaches a final state
 * (its status changed in a transaction, which publishes nothing, then the event published), when
 * reconciliation finds a change whose event never came, at once for a finished job, with the job as it
 * is when the wait ends or the server shuts down; `wait` is checked; a wait outlives the socket idle
 * timeout. Waits that must end on an event run with a wait far longer than the test's own timeout, so
 * only the event can end them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import { assertErrorBody, buildTestApp, eventually, listen, UNKNOWN_ID } from '../helpers/fixtures.ts';
import { jobEvent, publish } from '../helpers/events.ts';
import type { EventHub } from '../../src/events/index.ts';
import type { Queue } from '../../src/queue/queue.ts';

const LONG = '110s';

/**
 * Finishes the job as a worker (claim, complete) or an operator (cancel) would, in either store, in a
 * transaction of its own: an operation inside the caller's transaction publishes nothing.
 */
async function finish(queue: Queue, pool: pg.Pool, id: string, status: 'succeeded' | 'cancelled'): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    if (status === 'succeeded') {
      const [claimed] = await queue.claim('w', { db: client, limit: 1 });
      assert.equal(claimed?.id, id);
      assert.deepEqual(await queue.complete('w', [{ id, claimSeq: claimed.claimSeq }], { db: client }), [claimed.claimSeq]);
    } else {
      assert.equal((await queue.requestCancel(id, { db: client })).outcome, 'cancelled');
    }
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}

/** The long-poll has read the job and waits (the hub knows its state). */
const waiting = (hub: EventHub, n = 1) => eventually(() => (hub.stats().knownStates >= n ? true : undefined), 10_000, 'the wait to begin');

test('a wait answers as soon as the job finishes (its event published), with the finished job', { timeout: 30_000 }, async () => {
  const { app, queue, db, hub } = await buildTestApp({ hubOptions: { reconcileMs: 600_000 } });
  const base = await listen(app);
  const { job } = await queue.enqueue({ kind: 'noop', payload: {}, queue: 'q' });
  const answer = fetch(`${base}/v1/jobs/${job.id}?wait=${LONG}`);
  await waiting(hub!);
  // An event of another job, and a progress event of this one, do not end the wait.
  await publish(db!.pool, jobEvent({ ...job, id: UNKNOWN_ID }, 'succeeded'), jobEvent(job, 'progress', { progress: { value: 0.5 } }));
  await finish(queue, db!.pool, job.id, 'succeeded');
  await publish(db!.pool, jobEvent(job, 'succeeded'));
  const res = await answer;
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual([body.id, body.status, body.attempts], [job.id, 'succeeded', 1]);
  await eventually(() => (hub!.stats().subscriptions === 0 ? true : undefined), 5_000, 'the wait to unsubscribe');
});

test('a final event the database does not confirm yet does not end the wait early', { timeout: 30_000 }, async () => {
  const { app, queue, db, hub } = await buildTestApp({ hubOptions: { reconcileMs: 600_000 } });
  const base = await listen(app);
  const { job } = await queue.enqueue({ kind: 'noop', payload: {} });
  const answer = fetch(`${base}/v1/jobs/${job.id}?wait=1500ms`);
  await waiting(hub!);
  await publish(db!.pool, jobEvent(job, 'cancelled'));
  const body = await (await answer).json();
  // Answered at the end of the wait, with the job as it is.
  assert.equal(body.status, 'queued');
});

test('reconciliation ends a wait whose final event was never published', { timeout: 30_000 }, async () => {
  const { app, queue, db, hub } = await buildTestApp({ hubOptions: { reconcileMs: 100 } });
  const base = await listen(app);
  const { job } = await queue.enqueue({ kind: 'noop', payload: {} });
  const answer = fetch(`${base}/v1/jobs/${job.id}?wait=${LONG}`);
  await waiting(hub!);
  await finish(queue, db!.pool, job.id, 'cancelled');
  const body = await (await answer).json();
  assert.equal(body.status, 'cancelled');
});

test('a finished job is answered at once; the end of the wait answers the job as it is; an unknown job is 404', { timeout: 30_000 }, async () => {
  const { app, queue, db } = await buildTestApp();
  const base = await listen(app);
  const { job: done } = await queue.enqueue({ kind: 'noop', payload: {} });
  await finish(queue, db!.pool, done.id, 'succeeded');
  assert.equal((await (await fetch(`${base}/v1/jobs/${done.id}?wait=${LONG}`)).json()).status, 'succeeded');
  const { job } = await queue.enqueue({ kind: 'noop', payload: {} });
  for (const wait of ['300ms', '250', '0']) {
    const res = await fetch(`${base}/v1/jobs/${job.id}?wait=${wait}`);
    assert.deepEqual([res.status, (await res.json()).status], [200, 'queued'], wait);
  }
  const missing = await fetch(`${base}/v1/jobs/${UNKNOWN_ID}?wait=1s`);
  assertErrorBody(missing.status, await missing.text(), 'not_found');
});

test('wait is a duration of at most 120 s; anything else is validation_failed naming it', async () => {
  const { app, queue } = await buildTestApp();
  const { job } = await queue.enqueue({ kind: 'noop', payload: {} });
  for (const wait of ['soon', '-1s', '121s', '1h', '']) {
    const res = await app.inject({ url: `/v1/jobs/${job.id}?wait=${encodeURIComponent(wait)}` });
    const body = assertErrorBody(res.statusCode, res.body, 'validation_failed');
    assert.equal(body.error.details?.[0]?.path, '/wait', wait);
  }
  const res = await app.inject({ url: `/v1/jobs/${job.id}?wait=1s&x=1` });
  assert.equal(assertErrorBody(res.statusCode, res.body, 'validation_failed').error.details?.[0]?.path, '/x');
});

test('a wait longer than the socket idle timeout is not cut', { timeout: 30_000 }, async () => {
  const { app, queue } = await buildTestApp({ config: { idleTimeoutMs: 400, requestTimeoutMs: 1_000, headersTimeoutMs: 500 } });
  const base = await listen(app);
  const { job } = await queue.enqueue({ kind: 'noop', payload: {} });
  const res = await fetch(`${base}/v1/jobs/${job.id}?wait=1500ms`);
  assert.deepEqual([res.status, (await res.json()).status], [200, 'queued']);
});

test('a shutdown answers the waits with the job as it is', { timeout: 30_000 }, async () => {
  const { app, queue, hub } = await buildTestApp();
  const base = await listen(app);
  const { job } = await queue.enqueue({ kind: 'noop', payload: {} });
  const answer = fetch(`${base}/v1/jobs/${job.id}?wait=${LONG}`);
  await waiting(hub!);
  await app.close();
  const res = await answer;
  assert.deepEqual([res.status, (await res.json()).status], [200, 'queued']);
});

test('waits and streams count against eventsMaxStreams: beyond it, 503 too_many_streams; without a hub, the same', { timeout: 30_000 }, async () => {
  const { app, queue, hub } = await buildTestApp({ hubOptions: { maxStreams: 1 } });
  const base = await listen(app);
  const { job } = await queue.enqueue({ kind: 'noop', payload: {} });
  const first = fetch(`${base}/v1/jobs/${job.id}?wait=1500ms`);
  await waiting(hub!);
  for (const url of [`/v1/jobs/${job.id}?wait=1s`, '/v1/events']) {
    const res = await fetch(`${base}${url}`);
    assert.equal(res.headers.get('retry-after'), '1');
    assert.match(assertErrorBody(res.status, await res.text(), 'too_many_streams').error.message, /holds 1 event streams and waits/);
  }
  assert.equal((await (await first).json()).status, 'queued');
  // Once it is over, there is room again.
  assert.equal((await fetch(`${base}/v1/jobs/${job.id}?wait=10ms`)).status, 200);

  const none = await buildTestApp({ queue, hub: undefined });
  for (const url of [`/v1/jobs/${job.id}?wait=1s`, '/v1/events']) {
    const res = await none.app.inject({ url });
    assert.match(assertErrorBody(res.statusCode, res.body, 'too_many_streams').error.message, /without an event hub/);
  }
  // A plain read needs no hub.
  assert.equal((await none.app.inject({ url: `/v1/jobs/${job.id}` })).statusCode, 200);
});
