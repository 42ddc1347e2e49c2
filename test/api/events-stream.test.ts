/**
 * GET /v1/events over a real socket (issue #19): filters, the frame format, replay after Last-Event-ID,
 * reset for an unknown id, heartbeats, the watched jobs' states first, and the bad filters refused.
 * Events are published as the publisher does (publishEvents: a real NOTIFY).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertErrorBody, buildTestApp, claimOne, eventually, listen, succeed } from '../helpers/fixtures.ts';
import { type Frame, jobEvent, openStream, publish } from '../helpers/events.ts';

const job = (n: number, queue = 'default', kind = 'noop', group: string | null = null) => ({
  id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  queue,
  kind,
  group,
});

test('each stream gets exactly the events its filter matches, in order, as id/event/data frames', async () => {
  const { app, db } = await buildTestApp();
  const base = await listen(app);
  const a = job(1, 'mail', 'send_email');
  const b = job(2, 'mail', 'noop', 'acme');
  const c = job(3, 'imports', 'noop', 'acme');
  const d = job(4, 'imports', 'http', 'a,b');
  const streams = {
    all: await openStream(`${base}/v1/events`),
    mail: await openStream(`${base}/v1/events?queue=mail`),
    queues: await openStream(`${base}/v1/events?queue=mail,imports&kind=noop`),
    repeated: await openStream(`${base}/v1/events?kind=http&kind=send_email`),
    group: await openStream(`${base}/v1/events?group=acme&queue=imports`),
    comma: await openStream(`${base}/v1/events?group=a,b`),
    ids: await openStream(`${base}/v1/events?id=${a.id}&id=${d.id.toUpperCase()}&last_event_id=x`),
  };
  for (const s of Object.values(streams)) {
    assert.equal(s.status, 200);
    assert.match(s.headers['content-type']!, /^text\/event-stream/);
    assert.equal(s.headers['cache-control'], 'no-cache');
    assert.deepEqual((await s.next((f) => f.retry !== undefined)).retry, 2000);
  }
  // The id stream gave an unknown last event id: it starts with a reset (and without states).
  assert.deepEqual((await streams.ids.next()).data, { reason: 'unknown_last_event_id' });
  const events = [jobEvent(a, 'enqueued'), jobEvent(b, 'started'), jobEvent(c, 'succeeded'), jobEvent(d, 'progress', { progress: { value: 0.5, message: 'half' } }), jobEvent(a, 'succeeded')];
  await publish(db!.pool, ...events.slice(0, 2));
  await publish(db!.pool, ...events.slice(2));
  const end = jobEvent(job(99, 'mail', 'noop', 'acme'), 'cancelled');
  await publish(db!.pool, end, { ...end, queue: 'imports', kind: 'send_email' }, { ...end, id: a.id, group: 'a,b' }, { ...end, kind: 'http', id: d.id });
  const got = async (s: (typeof streams)[keyof typeof streams]) =>
    (await s.until((f) => f.data?.type === 'cancelled')).map((f: Frame) => `${f.data.id.slice(-1)}:${f.event}`);
  assert.deepEqual(await got(streams.all), ['1:enqueued', '2:started', '3:succeeded', '4:progress', '1:succeeded', '9:cancelled']);
  assert.deepEqual(await got(streams.mail), ['1:enqueued', '2:started', '1:succeeded', '9:cancelled']);
  assert.deepEqual(await got(streams.queues), ['2:started', '3:succeeded', '9:cancelled']);
  assert.deepEqual(await got(streams.repeated), ['1:enqueued', '4:progress', '1:succeeded', '9:cancelled']);
  assert.deepEqual(await got(streams.group), ['3:succeeded', '9:cancelled']);
  assert.deepEqual(await got(streams.comma), ['4:progress', '1:cancelled']);
  assert.deepEqual(await got(streams.ids), ['1:enqueued', '4:progress', '1:succeeded', '1:cancelled']);

  // The frame: id n-i (events of one notification share n), event = type, data = the event verbatim.
  const frames = streams.all.frames.filter((f) => f.event !== undefined);
  assert.match(frames[0]!.id!, /^\d+-0$/);
  assert.equal(frames[1]!.id, frames[0]!.id!.replace(/-0$/, '-1'));
  assert.equal(frames[2]!.id!.split('-')[1], '0');
  assert.notEqual(frames[2]!.id!.split('-')[0], frames[0]!.id!.split('-')[0]);
  assert.deepEqual(frames[3]!.data, events[3]);
  assert.ok(frames[3]!.raw.includes(`data: ${JSON.stringify(events[3])}`));
  for (const s of Object.values(streams)) s.close();
});

test('Last-Event-ID replays what a reconnecting client missed; an unknown one gets reset first', async () => {
  const { app, db } = await buildTestApp();
  const base = await listen(app);
  const j = job(7, 'mail');
  const first = await openStream(`${base}/v1/events?queue=mail`);
  await publish(db!.pool, jobEvent(j, 'enqueued'), jobEvent(j, 'started'));
  const seen = await first.until((f) => f.event === 'started');
  first.close();
  // Missed while away: one event of another queue, which the replay leaves out, and two of this one.
  await publish(db!.pool, jobEvent(job(8, 'other'), 'enqueued'), jobEvent(j, 'progress', { progress: { value: 0.9 } }));
  await publish(db!.pool, jobEvent(j, 'succeeded'));
  const again = await openStream(`${base}/v1/events?queue=mail`, { 'last-event-id': seen[0]!.id! });
  const replayed = await again.until((f) => f.event === 'succeeded');
  assert.deepEqual(replayed.map((f) => f.event), ['started', 'progress', 'succeeded']);
  // Then live.
  await publish(db!.pool, jobEvent(j, 'cancelled'));
  assert.equal((await again.next()).event, 'cancelled');
  again.close();
  // The query parameter does the same, for clients that cannot set headers.
  const byQuery = await openStream(`${base}/v1/events?queue=mail&last_event_id=${replayed[1]!.id}`);
  assert.deepEqual((await byQuery.until((f) => f.event === 'cancelled')).map((f) => f.event), ['succeeded', 'cancelled']);
  byQuery.close();
  // An id this process never heard: reset, then live events.
  const unknown = await openStream(`${base}/v1/events?queue=mail`, { 'last-event-id': '999999999-0' });
  const reset = await unknown.next();
  assert.deepEqual([reset.event, reset.id, reset.data], ['reset', undefined, { reason: 'unknown_last_event_id' }]);
  await publish(db!.pool, jobEvent(j, 'enqueued'));
  assert.equal((await unknown.next()).event, 'enqueued');
  unknown.close();
});

test('idle streams get a heartbeat comment every eventsHeartbeatMs', async () => {
  const { app } = await buildTestApp({ config: { eventsHeartbeatMs: 100 } });
  const base = await listen(app);
  const s = await openStream(`${base}/v1/events`);
  const beats = [await s.next((f) => f.comment !== undefined), await s.next((f) => f.comment !== undefined)];
  assert.deepEqual(beats.map((f) => f.raw), [': heartbeat', ': heartbeat']);
  s.close();
});

test('a stream of ids starts with each watched job\'s state (unknown ids left out), unless its Last-Event-ID is replayed', async () => {
  const { app, queue, db } = await buildTestApp();
  const base = await listen(app);
  const { job: queued } = await queue.enqueue({ kind: 'noop', payload: {}, queue: 'q1', group: 'g' });
  const { job: done } = await queue.enqueue({ kind: 'noop', payload: {} });
  await succeed(queue, 'w', (await claimOne(queue, 'w', { queues: ['default'] }))!); // as a worker would, in either store
  const s = await openStream(`${base}/v1/events?id=${done.id},${queued.id},${job(5).id}`);
  const states = [await s.next(), await s.next()];
  assert.deepEqual(states.map((f) => [f.event, f.id, f.data.id, f.data.status, f.data.type]), [
    ['state', undefined, done.id, 'succeeded', 'state'],
    ['state', undefined, queued.id, 'queued', 'state'],
  ]);
  assert.deepEqual(Object.keys(states[1]!.data).sort(), ['at', 'attempt', 'group', 'id', 'kind', 'queue', 'status', 'type']);
  assert.deepEqual([states[1]!.data.queue, states[1]!.data.group, states[1]!.data.attempt], ['q1', 'g', 0]);
  await publish(db!.pool, jobEvent(queued, 'started'));
  const started = await s.next();
  assert.equal(started.event, 'started');
  s.close();
  // Resuming: no states, the replay instead.
  await publish(db!.pool, jobEvent(queued, 'succeeded'));
  const resumed = await openStream(`${base}/v1/events?id=${queued.id}`, { 'last-event-id': started.id! });
  assert.deepEqual((await resumed.next()).event, 'succeeded');
  resumed.close();
  // Resuming after an id no longer known: reset, then the states (the job may have finished meanwhile).
  await db!.pool.query(`UPDATE jobq.jobs SET status = 'cancelled', finished_at = now() WHERE id = $1`, [queued.id]);
  const lost = await openStream(`${base}/v1/events?id=${queued.id}`, { 'last-event-id': '999999-0' });
  assert.deepEqual([(await lost.next()).event, (await lost.next()).data.status], ['reset', 'cancelled']);
  lost.close();
});

test('bad filters are refused with validation_failed naming the parameter', async () => {
  const { app } = await buildTestApp();
  const cases: [string, string][] = [
    ['id=not-a-uuid', '/id'],
    [`id=${Array.from({ length: 101 }, (_, i) => job(i).id).join(',')}`, '/id'],
    ['queue=a%20b', '/queue'],
    ['queue=a,,b', '/queue'],
    ['kind=Upper', '/kind'],
    [`kind=${Array.from({ length: 21 }, (_, i) => `k${i}`).join('&kind=')}`, '/kind'],
    ['group=%01', '/group'],
    ['colour=red', '/colour'],
  ];
  for (const [query, path] of cases) {
    const res = await app.inject({ url: `/v1/events?${query}` });
    const body = assertErrorBody(res.statusCode, res.body, 'validation_failed');
    assert.equal(body.error.details?.[0]?.path, path, query);
  }
});

test('the stream and the hub: the process is registered as a listener while something is open, and no longer after the idle delay', async () => {
  const { app, db, hub } = await buildTestApp({ hubOptions: { idleMs: 200 } });
  const base = await listen(app);
  const rows = async () => (await db!.pool.query<{ id: string }>('SELECT id FROM jobq.event_listeners WHERE expires_at > now()')).rows.map((r) => r.id);
  assert.deepEqual(await rows(), []);
  const s = await openStream(`${base}/v1/events`);
  await s.next((f) => f.retry !== undefined);
  await eventually(async () => ((await rows()).includes(hub!.processId) ? true : undefined), 5_000, 'the registration');
  assert.ok(hub!.stats().listening);
  s.close();
  await eventually(async () => ((await rows()).length === 0 ? true : undefined), 5_000, 'the unregistration');
  await eventually(() => (hub!.stats().listening ? undefined : true), 5_000, 'the LISTEN connection closed');
});
