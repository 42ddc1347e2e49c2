/**
 * Recurring-job metrics read back in the exposition format: the fires counter moves by exactly the
 * ticks fired, the lag histogram holds one observation per fire, schedule labels are bounded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OTHER_LABEL } from '../../src/metrics/labels.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import type { ScheduleFire } from '../../src/queue/types.ts';
import { eventually, setup } from '../helpers/fixtures.ts';
import { parseExposition, sum, value } from './exposition.ts';

const everySecond = (name: string) => ({ name, every: '1s', job: { kind: 'noop', payload: {} } });

/** Calls queue.schedules.fireDue until `done` holds for what it fired so far; returns every fire. */
async function fireUntil(s: Awaited<ReturnType<typeof setup>>, done: (fires: ScheduleFire[]) => boolean): Promise<ScheduleFire[]> {
  const fires: ScheduleFire[] = [];
  return eventually(async () => {
    fires.push(...(await s.queue.schedules.fireDue()).fired);
    return done(fires) ? fires : undefined;
  }, 30_000, 'the schedules to fire', 50);
}

test('jobq_schedule_fires_total and jobq_schedule_lag_seconds move once per fired tick', async () => {
  const s = await setup();
  const metrics = createMetrics({ queue: s.queue, processMetrics: false, statsCacheMs: 0 });
  await s.queue.schedules.set(everySecond('a'));
  await s.queue.schedules.set(everySecond('b'));
  const fires = await fireUntil(s, (f) => f.filter((x) => x.schedule === 'a').length >= 3 && f.some((x) => x.schedule === 'b'));
  const samples = parseExposition(await metrics.render());
  for (const name of ['a', 'b']) {
    const mine = fires.filter((f) => f.schedule === name).length;
    assert.equal(value(samples, 'jobq_schedule_fires_total', { schedule: name }), mine, name);
    assert.equal((await s.queue.schedules.get(name))!.fires, mine, `${name}: the table agrees`);
  }
  assert.equal(value(samples, 'jobq_schedule_lag_seconds_count'), fires.length, 'one observation per fire');
  const lagSum = fires.reduce((a, f) => a + f.lagMs / 1000, 0);
  assert.ok(Math.abs(value(samples, 'jobq_schedule_lag_seconds_sum') - lagSum) < 1e-6, 'the observations are the fires\' lags');
  // Buckets are cumulative: each fire is in the bucket of its lag and every one above.
  const within = (le: number) => fires.filter((f) => f.lagMs / 1000 <= le).length;
  for (const le of [0.001, 0.1, 1, 600]) assert.equal(sum(samples, 'jobq_schedule_lag_seconds_bucket', { le: String(le) }), within(le), `le=${le}`);
  assert.equal(sum(samples, 'jobq_schedule_lag_seconds_bucket', { le: '+Inf' }), fires.length);

  // A trigger is not a tick: it runs the template now and leaves the counters alone.
  await s.queue.schedules.trigger('a');
  const after = parseExposition(await metrics.render());
  assert.equal(value(after, 'jobq_schedule_fires_total', { schedule: 'a' }), fires.filter((f) => f.schedule === 'a').length);
});

test('schedule labels are bounded: the first maxScheduleLabels names keep theirs, later ones count as (other)', async () => {
  const s = await setup();
  const metrics = createMetrics({ queue: s.queue, processMetrics: false, statsCacheMs: 0, maxScheduleLabels: 2 });
  const names = ['s1', 's2', 's3', 's4'];
  for (const name of names) await s.queue.schedules.set(everySecond(name));
  const fires = await fireUntil(s, (f) => names.every((n) => f.some((x) => x.schedule === n)));
  const samples = parseExposition(await metrics.render());
  const labelled = samples.filter((x) => x.name === 'jobq_schedule_fires_total');
  const labels = new Set(labelled.map((x) => x.labels.schedule));
  assert.equal(labels.size, 3, [...labels].join(', '));
  assert.ok(labels.has(OTHER_LABEL));
  // The two that kept their label are the first two fired; nothing is lost under (other).
  const firstTwo = [...new Set(fires.map((f) => f.schedule))].slice(0, 2);
  for (const name of firstTwo) assert.equal(value(samples, 'jobq_schedule_fires_total', { schedule: name }), fires.filter((f) => f.schedule === name).length);
  assert.equal(labelled.reduce((a, x) => a + x.value, 0), fires.length);
});

test('jobq_schedules is the number of enabled schedules, read at scrape time', async () => {
  const s = await setup();
  const metrics = createMetrics({ queue: s.queue, processMetrics: false, statsCacheMs: 0 });
  const enabled = async () => value(parseExposition(await metrics.render()), 'jobq_schedules');
  assert.equal(await enabled(), 0);
  for (const name of ['a', 'b', 'c']) await s.queue.schedules.set(everySecond(name));
  assert.equal(await enabled(), 3);
  await s.queue.schedules.set({ ...everySecond('b'), enabled: false });
  await s.queue.schedules.delete('c');
  assert.equal(await enabled(), 1, 'a disabled one and a deleted one are not counted');
  assert.deepEqual(await s.queue.schedules.count(), { total: 2, enabled: 1 });
});
