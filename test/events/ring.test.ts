/** The replay ring (src/events/ring.ts) and the subscription index (subscriptions.ts), without a database. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventTypeFor, type HubEvent } from '../../src/events/event.ts';
import { EventRing } from '../../src/events/ring.ts';
import { Subscription, SubscriptionIndex } from '../../src/events/subscriptions.ts';

let seq = 0;
function ev(eventId: string | undefined, fields: Partial<HubEvent['data']> = {}, arrivedAt = 0): HubEvent {
  return {
    eventId,
    seq: ++seq,
    arrivedAt,
    data: { type: 'started', id: 'j1', queue: 'default', kind: 'noop', group: null, status: 'running', attempt: 1, at: '2025-01-01T00:00:00.000Z', ...fields },
  };
}
const ids = (events: HubEvent[] | undefined) => events?.map((e) => e.eventId);

test('the ring replays what came after an id it holds, in arrival order; an id it never held, or evicted, is unknown', () => {
  const ring = new EventRing({ size: 3, maxAgeMs: 60_000, now: () => 0 });
  for (const id of ['9-0', '9-1', '3-0']) ring.push(ev(id));
  assert.deepEqual(ids(ring.after('9-0')), ['9-1', '3-0']);
  assert.deepEqual(ids(ring.after('3-0')), []);
  assert.equal(ring.after('4-0'), undefined);
  ring.push(ev('10-0'));
  assert.equal(ring.length, 3);
  assert.equal(ring.after('9-0'), undefined, 'evicted by count');
  assert.deepEqual(ids(ring.after('9-1')), ['3-0', '10-0']);
  ring.push(ev(undefined));
  assert.equal(ring.length, 3, 'a made-up event (no id) is never kept');
});

test('the ring drops events older than maxAgeMs by its clock, and a gap empties it', () => {
  let now = 0;
  const ring = new EventRing({ size: 100, maxAgeMs: 1_000, now: () => now });
  ring.push(ev('1-0', {}, 0));
  now = 600;
  ring.push(ev('2-0', {}, 600));
  now = 1_100;
  assert.equal(ring.after('1-0'), undefined, 'older than a second');
  assert.deepEqual(ids(ring.after('2-0')), []);
  ring.push(ev('3-0', {}, 1_100));
  ring.clear();
  assert.equal(ring.length, 0);
  assert.equal(ring.after('2-0'), undefined);
  ring.push(ev('4-0', {}, 1_100));
  ring.push(ev('5-0', {}, 1_100));
  assert.deepEqual(ids(ring.after('4-0')), ['5-0'], 'positions stay right after a clear');
});

test('the ring stays right across many evictions (its array is compacted)', () => {
  const ring = new EventRing({ size: 10, maxAgeMs: 60_000, now: () => 0 });
  for (let i = 0; i < 5_000; i++) ring.push(ev(`${i}-0`));
  assert.equal(ring.length, 10);
  assert.deepEqual(ids(ring.after('4995-0')), ['4996-0', '4997-0', '4998-0', '4999-0']);
});

test('filters: AND across fields, OR within one; ids are matched in lower case; a group filter never matches a job without one', () => {
  const index = new SubscriptionIndex();
  const got = new Map<string, string[]>();
  const sub = (name: string, filter: ConstructorParameters<typeof Subscription>[0]) => {
    const s = new Subscription(filter, { event: (e) => got.set(name, [...(got.get(name) ?? []), e.data.id]), reset: () => got.set(name, [...(got.get(name) ?? []), 'reset']) });
    index.add(s);
    return s;
  };
  sub('all', {});
  sub('mail', { queue: ['mail'] });
  sub('mailNoop', { queue: ['mail', 'x'], kind: ['noop'] });
  sub('groupA', { group: ['a'] });
  const twoIds = sub('ids', { id: ['J1', 'j2'], queue: ['mail'] });
  index.dispatch(ev('1-0', { id: 'j1', queue: 'mail', kind: 'noop' }));
  index.dispatch(ev('1-1', { id: 'j2', queue: 'default', kind: 'noop', group: 'a' }));
  index.dispatch(ev('1-2', { id: 'j3', queue: 'mail', kind: 'http', group: 'b' }));
  index.dispatch(ev(undefined, { id: 'j2', queue: 'mail' }), true);
  assert.deepEqual(Object.fromEntries(got), {
    all: ['j1', 'j2', 'j3'],
    mail: ['j1', 'j3'],
    mailNoop: ['j1'],
    groupA: ['j2'],
    ids: ['j1', 'j2'],
  });
  assert.deepEqual([...index.watchedIds()].sort(), ['j1', 'j2']);
  index.resetAll();
  assert.equal(got.get('ids')!.filter((x) => x === 'reset').length, 1, 'once per subscription, however many ids it has');
  assert.deepEqual(index.delete(twoIds).sort(), ['j1', 'j2']);
  assert.deepEqual(index.delete(twoIds), [], 'a second delete does nothing');
  assert.equal(index.size, 4);
});

test('an event is offered only to the subscriptions naming its job, however many name other jobs', () => {
  const index = new SubscriptionIndex();
  let offered = 0;
  let delivered = 0;
  for (let i = 0; i < 10_000; i++) {
    const s = new Subscription({ id: [`job-${i}`] }, { event: () => delivered++, reset: () => {} });
    const matches = s.matches.bind(s);
    s.matches = (e) => (offered++, matches(e));
    index.add(s);
  }
  index.dispatch(ev('1-0', { id: 'job-42' }));
  index.dispatch(ev('1-1', { id: 'job-none' }));
  assert.deepEqual([offered, delivered], [1, 1]);
});

test('a status the hub did not hear of stands for the event that leads to it', () => {
  assert.deepEqual(
    (['running', 'retrying', 'succeeded', 'failed_permanent', 'cancelled', 'waiting'] as const).map((s) => eventTypeFor(s, 'queued')),
    ['started', 'retrying', 'succeeded', 'failed_permanent', 'cancelled', 'enqueued'],
  );
  assert.equal(eventTypeFor('queued', 'waiting'), 'released');
  assert.equal(eventTypeFor('queued', 'failed_permanent'), 'enqueued');
});
