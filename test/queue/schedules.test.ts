/**
 * Schedules on one Queue with a clock the test moves (docs/schedules.md): saving and checking them,
 * the ticks they fire (exactly once, also with several firers at once), catch-up after an outage, DST
 * as croner defines it, edits, disabling, triggers and the reconcile of a schedules file.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { isJobqError } from '../../src/errors.ts';
import { Queue } from '../../src/queue/queue.ts';
import type { ScheduleDefinition } from '../../src/queue/types.ts';
import { freshDatabase, testKinds } from '../helpers/db.ts';

const T0 = new Date('2026-06-01T12:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const noop = { kind: 'noop', payload: { sleep_ms: 1 } };

async function setup() {
  const db = await freshDatabase();
  const clock = { now: T0 };
  const queue = new Queue({ pool: db.pool, kinds: testKinds(), clock: () => clock.now });
  const jobs = async (name: string) =>
    (await db.pool.query<{ key: string; kind: string; payload: unknown; queue: string; priority: number; max_attempts: number; created_at: Date }>(
      `SELECT idempotency_key AS key, kind, payload, queue, priority, max_attempts, created_at FROM jobq.jobs WHERE idempotency_key LIKE $1 ORDER BY idempotency_key`,
      [`schedule:${name}:%`],
    )).rows;
  return { db, clock, queue, jobs };
}

const rejects = async (p: Promise<unknown>, kind: string, path: string) => {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isJobqError(err, kind as never), `expected ${kind}, got ${String(err)}`);
    assert.ok(err.details?.some((d) => d.path === path), `expected a detail at ${path}: ${JSON.stringify(err.details)}`);
    return true;
  });
};

test('a saved schedule plans its first tick after now; saving it again the same changes nothing', async () => {
  const { queue } = await setup();
  const def: ScheduleDefinition = { name: 'report', cron: '*/15 * * * *', timezone: 'Europe/Paris', job: { ...noop, queue: 'reports', priority: 5 } };
  const first = await queue.schedules.set(def);
  assert.equal(first.created, true);
  assert.equal(first.changed, true);
  assert.deepEqual(first.schedule.nextFireAt, at(15 * 60_000));
  assert.equal(first.schedule.source, 'api');
  assert.deepEqual(first.schedule.job, { kind: 'noop', payload: { sleep_ms: 1 }, queue: 'reports', priority: 5, maxAttempts: null, timeoutMs: null });
  assert.equal(first.schedule.catchUp, 'skip');
  const again = await queue.schedules.set({ ...def, job: { ...def.job, payload: { sleep_ms: 1 } } });
  assert.equal(again.created, false);
  assert.equal(again.changed, false);
  assert.deepEqual(again.schedule.updatedAt, first.schedule.updatedAt);
  assert.deepEqual((await queue.schedules.get('report'))?.nextFireAt, at(15 * 60_000));
  assert.equal(await queue.schedules.get('nope'), null);
  const every = await queue.schedules.set({ name: 'beat', every: '90s', job: noop });
  assert.equal(every.schedule.every, '90s');
  assert.equal(every.schedule.everyMs, 90_000);
  assert.deepEqual(every.schedule.nextFireAt, new Date(Math.ceil((T0.getTime() + 1) / 90_000) * 90_000), 'every: multiples of the interval since the epoch');
});

test('what a schedule says is checked when it is saved, each problem with its field', async () => {
  const { queue, db } = await setup();
  const base = { name: 'x', job: noop };
  await rejects(queue.schedules.set({ ...base, cron: '61 * * * *' }), 'validation_failed', '/cron');
  await rejects(queue.schedules.set({ ...base, cron: '* * * * * * *' }), 'validation_failed', '/cron');
  await rejects(queue.schedules.set({ ...base, cron: '@reboot' }), 'validation_failed', '/cron');
  await rejects(queue.schedules.set({ ...base, cron: '0 0 31 2 *' }), 'validation_failed', '/cron');
  await rejects(queue.schedules.set({ ...base, cron: '* * * * *', timezone: 'Mars/Olympus_Mons' }), 'validation_failed', '/timezone');
  await rejects(queue.schedules.set({ ...base, cron: '* * * * *', every: '1m' }), 'validation_failed', '/every');
  await rejects(queue.schedules.set({ ...base }), 'validation_failed', '/cron');
  await rejects(queue.schedules.set({ ...base, every: '10ms' }), 'validation_failed', '/every');
  await rejects(queue.schedules.set({ ...base, every: 'soon' }), 'validation_failed', '/every');
  await rejects(queue.schedules.set({ ...base, name: '-bad name', every: '1m' }), 'validation_failed', '/name');
  await rejects(queue.schedules.set({ ...base, every: '1m', catchUp: 'some' as never }), 'validation_failed', '/catch_up');
  await rejects(queue.schedules.set({ ...base, every: '1m', catchUpLimit: 0 }), 'validation_failed', '/catch_up_limit');
  await rejects(queue.schedules.set({ ...base, every: '1m', job: { ...noop, queue: 'no spaces' } }), 'validation_failed', '/job/queue');
  await rejects(queue.schedules.set({ ...base, every: '1m', job: { ...noop, maxAttempts: 0 } }), 'validation_failed', '/job/max_attempts');
  await rejects(queue.schedules.set({ ...base, every: '1m', job: { kind: 'send_email', payload: { subject: 'hi', text: 'x' } } }), 'payload_invalid', '/job/payload/to');
  await rejects(queue.schedules.set({ ...base, every: '1m', job: { kind: 'no_such_kind' } }), 'unknown_kind', '/job/kind');
  assert.equal((await db.pool.query('SELECT count(*)::int AS n FROM jobq.schedules')).rows[0].n, 0, 'nothing was saved');
});

test('each tick fires once when it comes due: its job carries the template and the tick key', async () => {
  const { queue, clock, jobs } = await setup();
  const fired: unknown[] = [];
  queue.events.on('scheduleFired', (f) => fired.push(f));
  await queue.schedules.set({ name: 'tick', every: '1s', job: { ...noop, queue: 'q1', priority: 3, timeoutMs: 5000 } });
  clock.now = at(500);
  assert.deepEqual(await queue.schedules.fireDue(), { fired: [], nextInMs: 500 });
  clock.now = at(1_250);
  const r = await queue.schedules.fireDue();
  assert.equal(r.fired.length, 1);
  assert.deepEqual(r.fired[0]!.tick, at(1_000));
  assert.equal(r.fired[0]!.lagMs, 250);
  assert.equal(r.fired[0]!.catchUp, false);
  assert.equal(r.nextInMs, 750);
  assert.deepEqual(await queue.schedules.fireDue(), { fired: [], nextInMs: 750 }, 'a tick fires once');
  const [job] = await jobs('tick');
  assert.deepEqual({ ...job, created_at: undefined }, { key: `schedule:tick:${at(1_000).toISOString()}`, kind: 'noop', payload: { sleep_ms: 1 }, queue: 'q1', priority: 3, max_attempts: 3, created_at: undefined });
  assert.equal(fired.length, 1);
  const s = (await queue.schedules.get('tick'))!;
  assert.deepEqual(s.lastFireAt, at(1_000));
  assert.deepEqual(s.nextFireAt, at(2_000));
  assert.equal(s.fires, 1);
  assert.deepEqual(s.lastJob, { id: r.fired[0]!.jobId, status: 'queued' });
});

test('a scheduler that fell behind (less than a minute) fires every tick it missed', async () => {
  const { queue, clock, jobs } = await setup();
  await queue.schedules.set({ name: 'behind', every: '1s', job: noop });
  clock.now = at(45_000);
  const r = await queue.schedules.fireDue();
  assert.equal(r.fired.length, 45);
  assert.ok(r.fired.every((f) => !f.catchUp));
  assert.deepEqual((await jobs('behind')).map((j) => j.key), Array.from({ length: 45 }, (_v, i) => `schedule:behind:${at((i + 1) * 1000).toISOString()}`).sort());
});

test('after a 10-minute outage each catch-up policy fires what it says, then the schedule goes on', async () => {
  const { queue, clock, jobs } = await setup();
  for (const [name, catchUp, catchUpLimit] of [['skip', 'skip', undefined], ['latest', 'latest', undefined], ['all', 'all', undefined], ['all3', 'all', 3]] as const) {
    await queue.schedules.set({ name, cron: '* * * * *', job: noop, catchUp, catchUpLimit });
  }
  // The first tick is T0+1m; nothing ran until T0+10m30s.
  clock.now = at(10 * 60_000 + 30_000);
  const r = await queue.schedules.fireDue();
  const ticksOf = async (name: string) => (await jobs(name)).map((j) => j.key.slice(`schedule:${name}:`.length));
  const minutes = (...m: number[]) => m.map((x) => at(x * 60_000).toISOString());
  assert.deepEqual(await ticksOf('skip'), []);
  assert.deepEqual(await ticksOf('latest'), minutes(10));
  assert.deepEqual(await ticksOf('all'), minutes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
  assert.deepEqual(await ticksOf('all3'), minutes(8, 9, 10));
  assert.ok(r.fired.every((f) => f.catchUp));
  for (const name of ['skip', 'latest', 'all', 'all3']) assert.deepEqual((await queue.schedules.get(name))!.nextFireAt, at(11 * 60_000), name);
  clock.now = at(11 * 60_000);
  const next = await queue.schedules.fireDue();
  assert.deepEqual(next.fired.map((f) => f.schedule).sort(), ['all', 'all3', 'latest', 'skip']);
  assert.ok(next.fired.every((f) => !f.catchUp && f.tick.getTime() === at(11 * 60_000).getTime()));
});

test('daylight saving time: a time in the skipped hour fires at the end of the gap, one in the repeated hour once', async () => {
  const { queue, clock, jobs } = await setup();
  clock.now = new Date('2026-03-07T12:00:00Z');
  await queue.schedules.set({ name: 'spring', cron: '30 2 * * *', timezone: 'America/New_York', job: noop });
  // 2026-03-08 02:30 does not exist in New York: croner fires at 03:00 EDT, the first instant after the gap.
  assert.deepEqual((await queue.schedules.get('spring'))!.nextFireAt, new Date('2026-03-08T07:00:00Z'));
  clock.now = new Date('2026-03-08T07:00:00Z');
  assert.equal((await queue.schedules.fireDue()).fired.length, 1);
  assert.deepEqual((await queue.schedules.get('spring'))!.nextFireAt, new Date('2026-03-09T06:30:00Z'), 'then 02:30 EDT again');

  clock.now = new Date('2026-10-31T12:00:00Z');
  await queue.schedules.set({ name: 'fall', cron: '30 1 * * *', timezone: 'America/New_York', job: noop });
  assert.deepEqual((await queue.schedules.get('fall'))!.nextFireAt, new Date('2026-11-01T05:30:00Z'), '01:30 EDT, the first of the two');
  await queue.schedules.delete('spring');
  clock.now = new Date('2026-11-01T05:30:00Z');
  assert.equal((await queue.schedules.fireDue()).fired.length, 1);
  clock.now = new Date('2026-11-01T06:30:00Z'); // 01:30 again, now EST
  assert.deepEqual((await queue.schedules.fireDue()).fired, []);
  assert.deepEqual((await jobs('fall')).map((j) => j.key), ['schedule:fall:2026-11-01T05:30:00.000Z']);
  assert.deepEqual((await queue.schedules.get('fall'))!.nextFireAt, new Date('2026-11-02T06:30:00Z'));
});

test('several firers at once: every tick fires exactly once', async () => {
  const { db, clock, queue, jobs } = await setup();
  const pools = Array.from({ length: 4 }, () => new pg.Pool({ connectionString: db.url, max: 1 }).on('error', () => {}));
  const firers = pools.map((pool) => new Queue({ pool, kinds: testKinds(), clock: () => clock.now }));
  try {
    await queue.schedules.set({ name: 'race', every: '1s', job: noop });
    let total = 0;
    for (let s = 1; s <= 20; s++) {
      clock.now = at(s * 1000 + (s % 3) * 200);
      const results = await Promise.all(firers.map((f) => f.schedules.fireDue()));
      total += results.reduce((n, r) => n + r.fired.length, 0);
    }
    const keys = (await jobs('race')).map((j) => j.key);
    assert.equal(total, 20);
    assert.equal(new Set(keys).size, 20);
    assert.deepEqual(keys, Array.from({ length: 20 }, (_v, i) => `schedule:race:${at((i + 1) * 1000).toISOString()}`).sort());
  } finally {
    await Promise.all(pools.map((p) => p.end()));
  }
});

test('an edit of the job takes effect at the next tick; a new timing plans anew; disabling stops it', async () => {
  const { queue, clock, jobs } = await setup();
  await queue.schedules.set({ name: 'e', every: '10s', job: noop });
  clock.now = at(5_000);
  const edited = await queue.schedules.set({ name: 'e', every: '10s', job: { kind: 'noop', payload: { sleep_ms: 2 } } });
  assert.equal(edited.changed, true);
  assert.deepEqual(edited.schedule.nextFireAt, at(10_000), 'the planned tick stays');
  clock.now = at(10_000);
  await queue.schedules.fireDue();
  assert.deepEqual((await jobs('e')).map((j) => j.payload), [{ sleep_ms: 2 }]);
  const retimed = await queue.schedules.set({ name: 'e', every: '1m', job: { kind: 'noop', payload: { sleep_ms: 2 } } });
  assert.deepEqual(retimed.schedule.nextFireAt, at(60_000));
  const off = await queue.schedules.set({ name: 'e', every: '1m', enabled: false, job: { kind: 'noop', payload: { sleep_ms: 2 } } });
  assert.equal(off.schedule.nextFireAt, null);
  clock.now = at(10 * 60_000);
  assert.deepEqual(await queue.schedules.fireDue(), { fired: [], nextInMs: null });
  const on = await queue.schedules.set({ name: 'e', every: '1m', enabled: true, job: { kind: 'noop', payload: { sleep_ms: 2 } } });
  assert.deepEqual(on.schedule.nextFireAt, at(11 * 60_000), 'enabling again does not catch up the time it was off');
  assert.equal((await jobs('e')).length, 1);
});

test('trigger runs the job now and leaves the ticks alone; delete removes the schedule, not its jobs', async () => {
  const { queue } = await setup();
  await queue.schedules.set({ name: 't', cron: '@daily', job: noop });
  const { job, isNew } = await queue.schedules.trigger('t');
  assert.equal(isNew, true);
  assert.equal(job.kind, 'noop');
  assert.equal(job.idempotencyKey, null);
  const s = (await queue.schedules.get('t'))!;
  assert.deepEqual(s.lastJob, { id: job.id, status: 'queued' });
  assert.equal(s.lastFireAt, null);
  assert.deepEqual(s.nextFireAt, new Date('2026-06-02T00:00:00Z'));
  await assert.rejects(queue.schedules.trigger('none'), (err: unknown) => isJobqError(err, 'not_found'));
  assert.equal(await queue.schedules.delete('t'), true);
  assert.equal(await queue.schedules.delete('t'), false);
  assert.ok(await queue.get(job.id));
});

test('a schedules file is the truth for its own schedules: added, changed, removed; API ones stay', async () => {
  const { queue } = await setup();
  await queue.schedules.set({ name: 'api-only', every: '1m', job: noop });
  await queue.schedules.set({ name: 'adopted', every: '1m', job: noop });
  const first = await queue.schedules.reconcile([
    { name: 'a', every: '1m', job: noop },
    { name: 'b', cron: '@hourly', job: noop },
    { name: 'adopted', every: '1m', job: noop },
  ]);
  assert.deepEqual(first, { added: ['a', 'b'], changed: ['adopted'], removed: [], unchanged: [] });
  assert.equal((await queue.schedules.get('adopted'))!.source, 'file');
  // Disabled through the API, it stays the file's: removed when the file no longer lists it.
  assert.equal((await queue.schedules.set({ name: 'adopted', every: '1m', enabled: false, job: noop })).schedule.source, 'file');
  const second = await queue.schedules.reconcile([
    { name: 'a', every: '1m', job: noop },
    { name: 'b', cron: '@daily', job: noop },
  ]);
  assert.deepEqual(second, { added: [], changed: ['b'], removed: ['adopted'], unchanged: ['a'] });
  await assert.rejects(queue.schedules.reconcile([{ name: 'a', every: '1m', job: noop }, { name: 'c', cron: 'nope', job: noop }]), (err: unknown) => {
    assert.ok(isJobqError(err, 'validation_failed'));
    assert.match(err.message, /schedule 1 \(c\)/);
    return true;
  });
  await assert.rejects(queue.schedules.reconcile([{ name: 'a', every: '1m', job: noop }, { name: 'a', every: '2m', job: noop }]), /listed twice/);
  const page = await queue.schedules.list({ limit: 2 });
  assert.deepEqual(page.schedules.map((s) => s.name), ['a', 'api-only']);
  assert.equal(page.nextAfter, 'api-only');
  assert.deepEqual((await queue.schedules.list({ after: page.nextAfter! })).schedules.map((s) => s.name), ['b']);
});
