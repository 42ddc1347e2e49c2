/**
 * Recurring jobs on real processes (issue #18): three `jobq worker` children fire one schedule every
 * second. Each tick must fire exactly once however the three race for it, and go on firing, with no
 * gap and no duplicate, when the worker that fired last is SIGKILLed.
 *
 * What is counted is defined by tick times, not by wall-clock sleeps: the test waits for the first
 * tick T0 to fire, then for tick T0 + N - 1, then disables the schedule and looks at ticks T0 .. T0 + N - 1.
 * Which process fired a tick is read from its log line ('schedule fired', one per fire); what was made
 * is read from the jobs table (the key `schedule:<name>:<tick ISO>`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Queue } from '../../src/queue/queue.ts';
import type { ScheduleDefinition } from '../../src/queue/types.ts';
import { type JobqProcess, ProcessGroup } from '../chaos/helpers/procs.ts';
import { eventually, freshDatabase, type TestDatabase, testKinds } from '../helpers/fixtures.ts';

const SECOND = 1_000;

interface Fired {
  tick: number;
  jobId: string;
  /** When the job row was made, epoch ms. */
  createdAt: number;
}

interface FireLine {
  worker: string;
  tick: number;
  jobId: string;
  lagMs: number;
}

async function fixture(t: { after: (fn: () => Promise<void>) => void }) {
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const db = await freshDatabase();
  const queue = new Queue({ pool: db.pool, kinds: testKinds() });
  const procs = Array.from({ length: 3 }, (_, i) =>
    group.start(`w${i + 1}`, ['worker'], { DATABASE_URL: db.url, LOG_LEVEL: 'info', JOBQ_WORKER_ID: `w${i + 1}`, JOBQ_CONCURRENCY: '5' }),
  );
  await Promise.all(procs.map((p) => p.waitForLine((l) => l.msg === 'worker started', 60_000, '"worker started"')));
  return { db, queue, procs };
}

/** The jobs the schedule made, by tick (read back from their idempotency keys), oldest first. */
async function fired(db: TestDatabase, name: string): Promise<Fired[]> {
  const prefix = `schedule:${name}:`;
  const { rows } = await db.pool.query<{ key: string; id: string; created: number }>(
    `SELECT idempotency_key AS key, id, (extract(epoch FROM created_at) * 1000)::float8 AS created
       FROM jobq.jobs WHERE starts_with(idempotency_key, $1)`,
    [prefix],
  );
  return rows.map((r) => ({ tick: Date.parse(r.key.slice(prefix.length)), jobId: r.id, createdAt: r.created })).sort((a, b) => a.tick - b.tick);
}

/** Every 'schedule fired' line of the schedule that the processes wrote so far. */
function fireLines(procs: JobqProcess[], name: string): FireLine[] {
  const out: FireLine[] = [];
  for (const p of procs) {
    for (const raw of p.output().split('\n')) {
      if (!raw.includes('"schedule fired"')) continue;
      const l = JSON.parse(raw) as { msg: string; schedule: string; tick: string; job_id: string; lag_ms: number };
      if (l.msg === 'schedule fired' && l.schedule === name) out.push({ worker: p.name, tick: Date.parse(l.tick), jobId: l.job_id, lagMs: l.lag_ms });
    }
  }
  return out;
}

/**
 * Every 'schedule fired' line so far, once each of `ticks` has one: a worker writes its line after it
 * reads its fire's reply, so the job of a tick can be seen before the line is.
 */
async function linesOnce(procs: JobqProcess[], name: string, ticks: number[]): Promise<FireLine[]> {
  return eventually(() => {
    const lines = fireLines(procs, name);
    return ticks.every((t) => lines.some((l) => l.tick === t)) ? lines : undefined;
  }, 30_000, `a "schedule fired" line for each of ${ticks.length} ticks`, 100);
}

/** Waits until tick `tick` has fired (its job exists), then returns every fire so far. */
async function untilFired(db: TestDatabase, name: string, tick: number, what: string): Promise<Fired[]> {
  return eventually(async () => {
    const all = await fired(db, name);
    return all.some((f) => f.tick >= tick) ? all : undefined;
  }, 120_000, what, 100);
}

const seconds = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i * SECOND);
const iso = (ms: number[]) => ms.map((x) => new Date(x).toISOString());

/**
 * Disables the schedule, then checks that nothing fires after: a fire needs the compare-and-swap of a
 * next_fire_at that disabling set to null. Returns the fires as they stand once disabled.
 */
async function disable(queue: Queue, db: TestDatabase, def: ScheduleDefinition): Promise<Fired[]> {
  const saved = await queue.schedules.set({ ...def, enabled: false });
  assert.equal(saved.schedule.nextFireAt, null);
  const at = await fired(db, def.name);
  // Two more ticks' time: long enough for a fire that disabling failed to stop to show.
  await new Promise((r) => setTimeout(r, 2.5 * SECOND));
  assert.deepEqual(iso((await fired(db, def.name)).map((f) => f.tick)), iso(at.map((f) => f.tick)), 'nothing fired once disabled');
  const schedule = await queue.schedules.get(def.name);
  assert.equal(schedule!.fires, at.length, 'the schedule counted one fire per job');
  return at;
}

/** Ticks T0 .. T0 + n - 1 each made exactly one job, no earlier than its tick; returns the window's fires. */
function assertWindow(all: Fired[], t0: number, n: number): Fired[] {
  const window = all.filter((f) => f.tick >= t0 && f.tick < t0 + n * SECOND);
  assert.deepEqual(iso(window.map((f) => f.tick)), iso(seconds(t0, n)), `one job for each of the ${n} ticks, no gap, no duplicate`);
  assert.equal(new Set(window.map((f) => f.jobId)).size, n);
  for (const f of window) assert.ok(f.createdAt >= f.tick, `the job of ${new Date(f.tick).toISOString()} was made ${f.tick - f.createdAt} ms before its tick`);
  assert.equal(all[0]!.tick, t0, 'no tick before T0 fired');
  return window;
}

test('three workers and a schedule every second: 30 ticks make 30 jobs, each tick fired once by one worker', { timeout: 240_000 }, async (t) => {
  const { db, queue, procs } = await fixture(t);
  const N = 30;
  const def: ScheduleDefinition = { name: 'every-second', cron: '* * * * * *', job: { kind: 'noop', payload: {} } };
  await queue.schedules.set(def);
  const t0 = (await untilFired(db, def.name, 0, 'the first tick to fire'))[0]!.tick;
  await untilFired(db, def.name, t0 + (N - 1) * SECOND, `tick T0 + ${N - 1} s to fire`);
  const all = await disable(queue, db, def);
  const window = assertWindow(all, t0, N);

  // Each fire was logged once, by the worker that made the job.
  const lines = await linesOnce(procs, def.name, seconds(t0, N));
  const inWindow = lines.filter((l) => l.tick >= t0 && l.tick < t0 + N * SECOND).sort((a, b) => a.tick - b.tick);
  assert.deepEqual(iso(inWindow.map((l) => l.tick)), iso(seconds(t0, N)), 'one "schedule fired" line per tick, over the three workers');
  assert.deepEqual(inWindow.map((l) => l.jobId), window.map((f) => f.jobId), 'each line names the job of its tick');
  const by = new Map<string, number>();
  for (const l of inWindow) by.set(l.worker, (by.get(l.worker) ?? 0) + 1);
  const lags = inWindow.map((l) => l.lagMs).sort((a, b) => a - b);
  t.diagnostic(`fires per worker: ${[...by].map(([w, n]) => `${w} ${n}`).join(', ')}; lag median ${lags[lags.length >> 1]} ms, max ${lags.at(-1)} ms`);
});

test('the worker that fired last is SIGKILLed: the next tick fires exactly once, on one of the other two', { timeout: 240_000 }, async (t) => {
  const { db, queue, procs } = await fixture(t);
  const def: ScheduleDefinition = { name: 'every-1s', every: '1s', job: { kind: 'noop', payload: {} } };
  await queue.schedules.set(def);
  const t0 = (await untilFired(db, def.name, 0, 'the first tick to fire'))[0]!.tick;
  // A few ticks in, the worker whose log shows the latest fire is killed at once.
  await untilFired(db, def.name, t0 + 4 * SECOND, 'five ticks to fire');
  const last = fireLines(procs, def.name).sort((a, b) => a.tick - b.tick).at(-1)!;
  const victim = procs.find((p) => p.name === last.worker)!;
  victim.child.kill('SIGKILL');
  await victim.exited;
  const survivors = procs.filter((p) => p !== victim);
  // Whatever the victim fired before it died is committed by now (or was rolled back and is not).
  const before = (await fired(db, def.name)).at(-1)!.tick;
  const AFTER = 10;
  await untilFired(db, def.name, before + AFTER * SECOND, `${AFTER} ticks to fire after the kill`);
  const all = await disable(queue, db, def);
  const n = (before - t0) / SECOND + 1 + AFTER;
  assertWindow(all, t0, n);

  // Every tick after the kill was fired by a survivor, once; the very next one included.
  const lines = await linesOnce(procs, def.name, seconds(before + SECOND, AFTER));
  const next = lines.filter((l) => l.tick === before + SECOND);
  assert.equal(next.length, 1, 'the next tick was fired once');
  assert.ok(survivors.some((p) => p.name === next[0]!.worker), `by a survivor (${next[0]!.worker})`);
  const afterKill = lines.filter((l) => l.tick > before && l.tick <= before + AFTER * SECOND).sort((a, b) => a.tick - b.tick);
  assert.deepEqual(iso(afterKill.map((l) => l.tick)), iso(seconds(before + SECOND, AFTER)), 'one line per tick after the kill');
  assert.ok(afterKill.every((l) => l.worker !== victim.name));
  // Before the kill, each tick was logged at most once (the victim may have died between its commit and its line).
  const counts = new Map<number, number>();
  for (const l of lines) counts.set(l.tick, (counts.get(l.tick) ?? 0) + 1);
  assert.deepEqual([...counts].filter(([, c]) => c > 1), [], 'no tick fired twice');
  t.diagnostic(`killed ${victim.name}, which fired ${new Date(last.tick).toISOString()}; ${n} ticks in the window`);
});
