/**
 * What docs/schedules.md says about daylight saving time and `every`, held to the code that plans
 * ticks (src/queue/cron.ts, over croner): if croner changes its rules, this fails before the docs lie.
 * New York, 2026: clocks spring forward at 02:00 EST on 8 March (02:00-02:59 never happens) and fall
 * back at 02:00 EDT on 1 November (01:00-01:59 happens twice).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { latestTicks, nextTick, type Timing } from '../../src/queue/cron.ts';

const NY = 'America/New_York';
const cron = (expr: string, timezone = NY): Timing => ({ cron: expr, everyMs: null, timezone });

/** The ticks after `from` up to `until` (included), walking forward as the scheduler does. */
function ticks(t: Timing, from: string, until: string): string[] {
  const out: string[] = [];
  for (let at = new Date(from); ; ) {
    const next = nextTick(t, at);
    if (!next || next.getTime() > Date.parse(until)) return out;
    out.push(next.toISOString());
    at = next;
  }
}

/** New York wall-clock time of an instant, with its offset's name (EST or EDT). */
const local = (iso: string) =>
  new Date(iso).toLocaleString('en-US', { timeZone: NY, month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' });

test('a fixed time in the spring-forward gap fires at the first instant after it (02:30 -> 03:00 EDT), once', () => {
  const got = ticks(cron('30 2 * * *'), '2026-03-07T12:00:00Z', '2026-03-09T12:00:00Z');
  assert.deepEqual(got, ['2026-03-08T07:00:00.000Z', '2026-03-09T06:30:00.000Z']);
  assert.deepEqual(got.map(local), ['3/8, 03:00 EDT', '3/9, 02:30 EDT']);
});

test('a fixed time in the repeated fall-back hour fires once, at its first occurrence (01:30 EDT, not 01:30 EST)', () => {
  const got = ticks(cron('30 1 * * *'), '2026-10-31T12:00:00Z', '2026-11-02T12:00:00Z');
  assert.deepEqual(got.map(local), ['11/1, 01:30 EDT', '11/2, 01:30 EST']);
});

test('an interval expression fires at every instant matching either offset in the repeated hour, and skips the gap', () => {
  // Every 15 minutes through the night of the fall-back: 01:00-01:45 twice, an hour apart in absolute time.
  const fall = ticks(cron('*/15 * * * *'), '2026-11-01T04:50:00Z', '2026-11-01T07:00:00Z').map(local);
  assert.deepEqual(fall, ['11/1, 01:00 EDT', '11/1, 01:15 EDT', '11/1, 01:30 EDT', '11/1, 01:45 EDT',
    '11/1, 01:00 EST', '11/1, 01:15 EST', '11/1, 01:30 EST', '11/1, 01:45 EST', '11/1, 02:00 EST']);
  // Spring: every 20 minutes goes from 01:40 EST straight to 03:00 EDT (20 minutes later in absolute time).
  assert.deepEqual(ticks(cron('*/20 * * * *'), '2026-03-08T06:30:00Z', '2026-03-08T07:20:00Z').map(local), ['3/8, 01:40 EST', '3/8, 03:00 EDT', '3/8, 03:20 EDT']);
  // A list, range or step in the hour or minute makes an interval expression: its times in the gap are skipped, not moved.
  assert.deepEqual(ticks(cron('30 2,3 * * *'), '2026-03-07T12:00:00Z', '2026-03-08T12:00:00Z').map(local), ['3/8, 03:30 EDT']);
  assert.deepEqual(ticks(cron('*/20 2 * * *'), '2026-03-07T12:00:00Z', '2026-03-08T23:00:00Z'), [], 'no 2 o\'clock on 8 March');
  // ...and its times in the repeated hour fire on both occurrences.
  assert.equal(ticks(cron('*/20 1 * * *'), '2026-10-31T12:00:00Z', '2026-11-01T12:00:00Z').length, 6);
});

test('catch-up ticks (computed backwards from now) are the ticks the scheduler walks forward, across both changes', () => {
  for (const [expr, from, until] of [
    ['30 2 * * *', '2026-03-05T00:00:00Z', '2026-03-12T00:00:00Z'],
    ['30 1 * * *', '2026-10-29T00:00:00Z', '2026-11-05T00:00:00Z'],
    ['*/15 * * * *', '2026-11-01T03:00:00Z', '2026-11-01T09:00:00Z'],
    ['*/15 * * * *', '2026-03-08T05:00:00Z', '2026-03-08T09:00:00Z'],
    ['0 * * * *', '2026-03-07T20:00:00Z', '2026-03-09T04:00:00Z'],
  ] as const) {
    const forward = ticks(cron(expr), new Date(Date.parse(from) - 1).toISOString(), until);
    const back = latestTicks(cron(expr), new Date(from), new Date(until), 1000);
    assert.deepEqual(back.ticks.map((d) => d.toISOString()), forward, expr);
    assert.equal(back.more, false);
  }
});

test('`every` is aligned to the Unix epoch, whatever the time zone or when the schedule was made', () => {
  const every7m: Timing = { cron: null, everyMs: 7 * 60_000, timezone: 'UTC' };
  for (const after of ['2026-12-04T19:00:00.000Z', '2026-12-04T19:03:21.123Z', '2026-12-04T19:06:59.999Z']) {
    const next = nextTick(every7m, new Date(after))!.getTime();
    assert.equal(next % (7 * 60_000), 0, after);
    assert.ok(next > Date.parse(after) && next - Date.parse(after) <= 7 * 60_000, after);
  }
  // Every hour ticks on the hour (UTC), every day at 00:00 UTC: not at the creation's minute.
  assert.equal(nextTick({ cron: null, everyMs: 3_600_000, timezone: NY }, new Date('2026-12-04T19:42:00Z'))!.toISOString(), '2026-12-04T20:00:00.000Z');
  assert.equal(nextTick({ cron: null, everyMs: 86_400_000, timezone: NY }, new Date('2026-12-04T19:42:00Z'))!.toISOString(), '2026-12-05T00:00:00.000Z');
});

test('latestTicks gives the latest `max` ticks of the span and says whether it left some out, for spans of every size', () => {
  const secondly = cron('* * * * * *', 'UTC');
  const first = new Date('2026-12-04T12:00:00.000Z');
  for (const span of [1, 3, 4, 5, 33, 300, 1200]) {
    const until = new Date(first.getTime() + (span - 1) * 1000 + 500); // half a second past the last tick
    const all = ticks(secondly, new Date(first.getTime() - 1).toISOString(), until.toISOString());
    assert.equal(all.length, span);
    for (const max of [1, 3, 4, 100, 1000]) {
      const got = latestTicks(secondly, first, until, max);
      assert.deepEqual(got.ticks.map((d) => d.toISOString()), all.slice(-max), `span ${span}, max ${max}`);
      assert.equal(got.more, span > max, `span ${span}, max ${max}`);
    }
  }
});
