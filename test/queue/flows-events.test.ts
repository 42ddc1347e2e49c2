/**
 * The children the dependency trigger releases or cancels are told from inside it (docs/flows.md): on
 * jobq_events in the contract's format (src/queue/events/types.ts), only while a listener is live,
 * chunked under PostgreSQL's 8,000-byte limit; and released jobs wake their queue on jobq_jobs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { GROUPED_MARK, JOBS_CHANNEL } from '../../src/queue/channels.ts';
import { decodeNotification, EVENTS_CHANNEL, type JobEvent } from '../../src/queue/events/types.ts';
import type { NewJob } from '../../src/queue/types.ts';
import { directUrl } from '../helpers/db.ts';
import { eventually, freshQueue } from '../helpers/fixtures.ts';
import { finish, own } from '../helpers/flows.ts';

/** Every notification of `channels` the pool's database sends while the test runs. */
async function listen(url: string, channels: string[]): Promise<{ got: { channel: string; payload: string }[]; stop(): void }> {
  const client = new pg.Client(directUrl(url));
  client.on('error', () => {}); // the database's forced drop at the end
  await client.connect();
  const got: { channel: string; payload: string }[] = [];
  client.on('notification', (m) => got.push({ channel: m.channel, payload: m.payload ?? '' }));
  for (const c of channels) await client.query(`LISTEN ${c}`);
  return { got, stop: () => void client.end() };
}

const children = (n: number, parent: string, extra: Partial<NewJob> = {}): NewJob[] =>
  Array.from({ length: n }, () => ({ kind: 'noop', payload: {}, queue: 'kids', dependsOn: [parent], ...extra }));

test('with a live listener: one event per child released or cancelled, in chunks of at most 8,000 bytes, at the parent\'s time', async () => {
  const now = new Date('2031-05-06T07:08:09.123Z');
  const { queue, db } = await freshQueue({ clock: () => now });
  await db.pool.query(`INSERT INTO jobq.event_listeners (id, expires_at) VALUES ('test', now() + interval '1 hour')`);
  const ok = (await queue.enqueue(own())).job.id;
  const bad = (await queue.enqueue(own())).job.id;
  const released = (await queue.enqueueMany(children(150, ok, { group: 'tenant-1' }))).map((r) => r.job.id);
  const cancelled = (await queue.enqueueMany(children(150, bad))).map((r) => r.job.id);
  const ran = (await queue.enqueue(own({ dependsOn: [bad], onParentFailure: 'run' }))).job;
  const l = await listen(db.url, [EVENTS_CHANNEL, JOBS_CHANNEL]);
  try {
    await finish(queue, ok, 'succeed');
    await finish(queue, bad, 'fail');
    const all = new Set([...released, ...cancelled, ran.id]);
    // The trigger's notifications: the queue's publisher also sends the enqueues and the parents' events, after their commits.
    const fromTrigger = (m: { channel: string; payload: string }) => m.channel === EVENTS_CHANNEL && decodeNotification(m.payload).events.every((e) => e.type === 'released' || e.type === 'cancelled');
    const ofChildren = () => l.got.filter(fromTrigger).map((m) => decodeNotification(m.payload));
    await eventually(() => (ofChildren().flatMap((d) => d.events).length >= all.size ? true : undefined), 5_000, 'the events');
    const notes = l.got.filter(fromTrigger);
    assert.ok(notes.length >= 4, `chunked: ${notes.length} notifications for ${all.size} events`);
    for (const m of notes) assert.ok(Buffer.byteLength(m.payload) <= 8000, `${Buffer.byteLength(m.payload)} bytes`);
    const decoded = notes.map((m) => decodeNotification(m.payload));
    assert.equal(new Set(decoded.map((d) => d.n)).size, decoded.length, 'each notification numbered on its own');
    const events = decoded.flatMap((d) => d.events);
    assert.equal(new Set(events.map((e) => e.eventId)).size, events.length);
    const byId = new Map<string, JobEvent>(events.map((e) => [e.id, e]));
    assert.equal(byId.size, events.length, 'one event per child');
    assert.deepEqual(new Set(byId.keys()), all);
    const strip = ({ type, queue: q, kind, group, status, attempt, at }: JobEvent) => ({ type, queue: q, kind, group, status, attempt, at });
    assert.deepEqual(strip(byId.get(released[0]!)!), { type: 'released', queue: 'kids', kind: 'noop', group: 'tenant-1', status: 'queued', attempt: 0, at: now.toISOString() });
    assert.deepEqual(strip(byId.get(cancelled[0]!)!), { type: 'cancelled', queue: 'kids', kind: 'noop', group: null, status: 'cancelled', attempt: 0, at: now.toISOString() });
    assert.deepEqual(strip(byId.get(ran.id)!), { type: 'released', queue: ran.queue, kind: 'noop', group: null, status: 'queued', attempt: 0, at: now.toISOString() });
    assert.ok(released.every((id) => byId.get(id)!.type === 'released') && cancelled.every((id) => byId.get(id)!.type === 'cancelled'));
    // The released jobs woke their queues: each once, grouped ones marked as such.
    const woken = l.got.filter((m) => m.channel === JOBS_CHANNEL).map((m) => m.payload);
    assert.deepEqual(woken.filter((p) => p.startsWith('kids')), [`kids${GROUPED_MARK}`]);
    assert.ok(woken.includes(ran.queue));
  } finally {
    l.stop();
  }
});

test('without a live listener nothing is published; workers are still woken', async () => {
  const { queue, db } = await freshQueue();
  await db.pool.query(`INSERT INTO jobq.event_listeners (id, expires_at) VALUES ('gone', now() - interval '1 second')`);
  const parent = (await queue.enqueue(own())).job.id;
  await queue.enqueueMany(children(3, parent));
  const l = await listen(db.url, [EVENTS_CHANNEL, JOBS_CHANNEL]);
  try {
    await finish(queue, parent, 'succeed');
    await eventually(() => (l.got.some((m) => m.channel === JOBS_CHANNEL && m.payload === 'kids') ? true : undefined), 5_000, 'the wake-up');
    // Notifications of one transaction arrive together, in one batch: the wake-up came, and no event with it.
    assert.deepEqual(l.got.filter((m) => m.channel === EVENTS_CHANNEL), []);
  } finally {
    l.stop();
  }
});
