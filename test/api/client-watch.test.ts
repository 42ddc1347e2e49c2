/**
 * The typed client's watch() against a live server (issue #19): a job's state then its events, ending
 * when it has finished; a filter's events; a reconnect after the server cut the connection resumes
 * with Last-Event-ID and misses nothing; lastEventId to resume; an abort ends the loop quietly; a
 * refused filter rejects. (An ended watch aborts its fetch, after which undici opens an idle connection
 * of its own that it closes after its keep-alive timeout, 4 s: the app's close at the end of a test
 * waits for it.)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createClient, JobqClientError, type WatchEvent } from '../../src/client.ts';
import { buildTestApp, eventually, listen } from '../helpers/fixtures.ts';
import { jobEvent, publish } from '../helpers/events.ts';

/** Cuts every connection of the server (a proxy or a network failure would). */
const cut = (app: FastifyInstance) => app.server.closeAllConnections();

test('watch(id) yields the job\'s state, then its events, and ends once it has finished', { timeout: 30_000 }, async () => {
  const { app, queue, db } = await buildTestApp();
  const client = createClient({ baseUrl: await listen(app) });
  const { job } = await queue.enqueue({ kind: 'noop', payload: {}, queue: 'q' });
  const seen: WatchEvent[] = [];
  for await (const e of client.watch(job.id)) {
    seen.push(e);
    if (e.type === 'state') await publish(db!.pool, jobEvent(job, 'started'), jobEvent(job, 'progress', { progress: { value: 0.5, current: 1, total: 2 } }), jobEvent(job, 'succeeded'), jobEvent(job, 'enqueued'));
  }
  assert.deepEqual(seen.map((e) => [e.type, e.type === 'reset' ? undefined : e.status]), [['state', 'queued'], ['started', 'running'], ['progress', 'running'], ['succeeded', 'succeeded']]);
  assert.equal(seen[0]!.eventId, undefined);
  assert.match(seen[3]!.eventId!, /^\d+-2$/);
  assert.deepEqual(seen[2]!.type === 'progress' && seen[2]!.progress, { value: 0.5, current: 1, total: 2 });
});

test('watch(filter) reconnects after a cut connection with the last id it yielded, and misses nothing', { timeout: 60_000 }, async () => {
  const { app, db, hub } = await buildTestApp({ config: { apiKeys: ['k'] } });
  const client = createClient({ baseUrl: await listen(app), apiKey: 'k' });
  const a = { id: '00000000-0000-4000-8000-00000000000a', queue: 'mail', kind: 'noop' };
  const ac = new AbortController();
  const seen: string[] = [];
  let opened = 0;
  const iteration = (async () => {
    for await (const e of client.watch({ queue: ['mail', 'other'], kind: 'noop' }, { signal: ac.signal, onOpen: () => opened++ })) {
      seen.push(e.type);
      if (e.type === 'succeeded') ac.abort();
    }
  })();
  await eventually(() => (hub!.stats().subscriptions === 1 ? true : undefined), 10_000, 'the stream');
  await publish(db!.pool, jobEvent(a, 'enqueued'), jobEvent({ ...a, kind: 'http' }, 'enqueued'));
  await eventually(() => (seen.length === 1 ? true : undefined), 10_000, 'the first event');
  assert.equal(opened, 1, 'onOpen once the stream answered');
  cut(app);
  await eventually(() => (hub!.stats().subscriptions === 0 ? true : undefined), 10_000, 'the stream to be cut');
  // While it is away.
  await publish(db!.pool, jobEvent(a, 'started'), jobEvent(a, 'progress'));
  await eventually(() => (hub!.stats().subscriptions === 1 ? true : undefined), 20_000, 'the reconnect');
  await publish(db!.pool, jobEvent(a, 'succeeded'));
  await iteration;
  assert.deepEqual(seen, ['enqueued', 'started', 'progress', 'succeeded']);
  assert.equal(opened, 2, 'onOpen again on the reconnect');
});

test('lastEventId resumes an earlier watch; an abort ends the loop without an error; a refused filter rejects', { timeout: 30_000 }, async () => {
  const { app, db, hub } = await buildTestApp();
  const client = createClient({ baseUrl: await listen(app) });
  const a = { id: '00000000-0000-4000-8000-00000000000a', queue: 'q', kind: 'noop' };
  const first = new AbortController();
  const firstSeen: WatchEvent[] = [];
  const firstLoop = (async () => {
    for await (const e of client.watch({ queue: 'q' }, { signal: first.signal })) {
      firstSeen.push(e);
      first.abort();
    }
  })();
  await eventually(() => (hub!.stats().subscriptions === 1 ? true : undefined), 10_000, 'the stream');
  await publish(db!.pool, jobEvent(a, 'enqueued'), jobEvent(a, 'started'));
  await firstLoop;
  const resumed: string[] = [];
  const again = new AbortController();
  for await (const e of client.watch({ queue: 'q' }, { signal: again.signal, lastEventId: firstSeen[0]!.eventId })) {
    resumed.push(e.type);
    again.abort();
  }
  assert.deepEqual(resumed, ['started']);
  const gone = new AbortController();
  const reset: string[] = [];
  for await (const e of client.watch({ queue: 'q' }, { signal: gone.signal, lastEventId: '99999-0' })) {
    reset.push(e.type === 'reset' ? `reset:${e.reason}` : e.type);
    gone.abort();
  }
  assert.deepEqual(reset, ['reset:unknown_last_event_id']);
  await assert.rejects(
    (async () => {
      for await (const _ of client.watch({ id: 'nope' })) assert.fail('no event expected');
    })(),
    (err) => err instanceof JobqClientError && err.status === 400 && err.kind === 'validation_failed' && err.details?.[0]?.path === '/id',
  );
});

test('the fetch the client is given is called as a plain function, as a browser\'s fetch must be, by watch() and by every call', { timeout: 30_000 }, async () => {
  const { app, queue, db } = await buildTestApp();
  let calls = 0;
  // A browser's fetch throws "Illegal invocation" when called with any `this` but the window.
  const strictFetch = function (this: unknown, input: string | URL | Request, init?: RequestInit) {
    if (this !== undefined && this !== globalThis) throw new TypeError('Illegal invocation');
    calls++;
    return globalThis.fetch(input, init);
  } as typeof globalThis.fetch;
  const client = createClient({ baseUrl: await listen(app), fetch: strictFetch });
  const { job } = await queue.enqueue({ kind: 'noop', payload: {}, queue: 'q' });
  assert.equal((await client.get(job.id)).id, job.id);
  const seen: string[] = [];
  for await (const e of client.watch(job.id)) {
    seen.push(e.type);
    if (e.type === 'state') await publish(db!.pool, jobEvent(job, 'succeeded'));
  }
  assert.deepEqual(seen, ['state', 'succeeded']);
  assert.ok(calls >= 2, `${calls} calls`);
});
