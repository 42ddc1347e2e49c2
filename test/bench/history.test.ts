/** The bench's issue #22 scenarios: their flags, jobq's history plan and how it is built, the held scenario's sampling. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sampleEvery } from '../../bench/lib/held.ts';
import { parseOptions } from '../../bench/lib/options.ts';
import { buildHistory, firstDay, jobsIn, MARGIN_MS, planHistory } from '../../bench/systems/jobq-history.ts';
import { ROTATE_MS } from '../../src/queue/log/retention.ts';
import { DEFAULT_RETENTION } from '../../src/queue/retention.ts';
import { freshDatabase, jobCount, testKinds } from '../helpers/db.ts';

test('--finished and --hold-s: the issue sizes in a full run, small ones in --quick, given values, bad values refused', () => {
  const full = parseOptions([], '/out');
  assert.deepEqual([full.finished, full.holdS], [10_000_000, 600]);
  const quick = parseOptions(['--quick'], '/out');
  assert.deepEqual([quick.finished, quick.holdS], [10_000, 15]);
  const given = parseOptions(['--finished', '0', '--hold-s', '120', '--scenarios', 'fresh,held,finished'], '/out');
  assert.deepEqual([given.finished, given.holdS, given.scenarios], [0, 120, ['fresh', 'held', 'finished']]);
  assert.throws(() => parseOptions(['--hold-s', '0'], '/out'), /--hold-s must be an integer >= 1, got "0"/);
});

test("jobq's history: the default retention less the margin, in periods of the log's rotation, ending a minute before now", () => {
  const now = Date.UTC(2026, 11, 6, 12);
  const plan = planHistory(10_000_000, DEFAULT_RETENTION, now);
  const DAY = 86_400_000;
  assert.equal(plan.periods, (7 * DAY - MARGIN_MS) / ROTATE_MS); // 162 generations of an hour
  assert.equal(plan.start + plan.periods * ROTATE_MS, now - 60_000);
  // None of it is past its retention when made, nor for the margin after.
  assert.ok(plan.start > now - DEFAULT_RETENTION.succeeded! + MARGIN_MS - 120_000);
  // Every job in exactly one period; the remainder goes to the first periods.
  let all = 0;
  for (let p = 0; p < plan.periods; p++) all += jobsIn(plan, p);
  assert.equal(all, 10_000_000);
  assert.deepEqual([jobsIn(plan, 0), jobsIn(plan, plan.periods - 1)], [61_729, 61_728]);
  // The first day: 24 periods.
  let day = 0;
  for (let p = 0; p < DAY / ROTATE_MS; p++) day += jobsIn(plan, p);
  assert.equal(firstDay(plan), day);
  assert.equal(firstDay(planHistory(10, DEFAULT_RETENTION, now)), 10); // fewer jobs than periods: the first ones take them
  // Kept for ever: a week of history.
  assert.equal(planHistory(1, { ...DEFAULT_RETENTION, succeeded: null }, now).periods, plan.periods);
});

test('the held scenario samples the hot tables 30 times a hold, between 1 and 20 s apart', () => {
  assert.deepEqual([sampleEvery(600), sampleEvery(300), sampleEvery(15), sampleEvery(3_600)], [20_000, 10_000, 1_000, 20_000]);
});

test('the history is built in the store the system names: rows for the row store, the log for the log store', async () => {
  for (const logStore of [false, true]) {
    const db = await freshDatabase();
    const plan = { count: 300, start: Date.now() - 3 * ROTATE_MS, periods: 2 };
    await buildHistory(db.pool, testKinds(), 'noop', logStore, plan);
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobq.jobs WHERE status = 'succeeded'`);
    assert.equal(await jobCount(db.pool), 300, `${logStore ? 'log' : 'rows'}: every job made`);
    assert.equal(rows[0]!.n, logStore ? 0 : 300, logStore ? 'none of them a row' : 'each of them a finished row');
  }
});
