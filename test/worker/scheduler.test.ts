/**
 * The worker's scheduler (src/worker/scheduler.ts) on real time: it fires ticks as they come due, a
 * schedule saved while it sleeps wakes it (SCHEDULES_CHANNEL), and `scheduler: false` fires nothing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { eventually } from '../helpers/poll.ts';
import { setup } from '../helpers/worker.ts';

const keysOf = async (s: Awaited<ReturnType<typeof setup>>, name: string) =>
  (await s.db.pool.query<{ key: string; status: string }>(
    `SELECT idempotency_key AS key, status FROM jobq.jobs WHERE idempotency_key LIKE $1 ORDER BY idempotency_key`, [`schedule:${name}:%`])).rows;

test('a schedule saved while the scheduler sleeps wakes it; its ticks fire one after another and run', async () => {
  const s = await setup();
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  // With nothing to fire the scheduler sleeps a minute: only the notification can make it fire in time.
  await s.worker({ logger, scheduler: true });
  await s.queue.schedules.set({ name: 'beat', every: '1s', job: { kind: 'noop', payload: {} } });
  const rows = await eventually(async () => {
    const r = await keysOf(s, 'beat');
    return r.length >= 3 && r.slice(0, 3).every((x) => x.status === 'succeeded') ? r : undefined;
  }, 30_000, 'three ticks fired and run', 50);
  const ticks = rows.map((r) => Date.parse(r.key.slice('schedule:beat:'.length)));
  for (let i = 1; i < ticks.length; i++) assert.equal(ticks[i]! - ticks[i - 1]!, 1000, 'consecutive seconds');
  const fired = lines.filter((l) => l.msg === 'schedule fired');
  assert.ok(fired.length >= 3);
  assert.equal(fired[0]!.schedule, 'beat');
  assert.equal(typeof fired[0]!.lag_ms, 'number');
  assert.equal(fired[0]!.catch_up, false);
});

test('a worker with scheduler: false fires nothing', async () => {
  const s = await setup();
  await s.worker({ scheduler: false });
  await s.queue.schedules.set({ name: 'quiet', every: '1s', job: { kind: 'noop', payload: {} } });
  // Its ticks come due and stay due: the schedule's next tick falls behind the database's clock.
  await eventually(async () => {
    const { rows } = await s.db.pool.query<{ late: boolean }>(`SELECT next_fire_at < now() - interval '1.5 s' AS late FROM jobq.schedules`);
    return rows[0]!.late || undefined;
  }, 30_000, 'the tick to be well past', 100);
  assert.deepEqual(await keysOf(s, 'quiet'), []);
});
