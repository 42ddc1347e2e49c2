/**
 * The `held` scenario (issue #22): a transaction holds the xmin horizon for `--hold-s` seconds (10
 * minutes in a full run) while the system takes a steady load of half its capacity, for systems whose
 * driver names its hot tables (jobq in either store, graphile-worker). One repetition:
 *
 * 1. capacity: N pre-enqueued jobs through 1 worker process × 10 at full speed, after VACUUM (ANALYZE)
 *    (as `c10`, but timed until the worker, told to stop once every handler ran, has written every
 *    outcome: runs.ts `end: 'stop'`): `held.before`, the "normal" throughput;
 * 2. the hold: another session of the same database in REPEATABLE READ with an xid (`BEGIN ISOLATION
 *    LEVEL REPEATABLE READ; SELECT txid_current()`), so vacuum can remove no row version the load leaves
 *    dead; meanwhile the harness enqueues HELD_LOAD × `held.before` jobs a second (a tenth every 100 ms,
 *    in calls of up to 1,000) and one worker process × 10 runs them as they come. Every `sampleEvery`
 *    the hot tables' size and dead tuples are read (bench/storage/measure.ts tableState), and the jobs
 *    waiting (enqueued − handlers started);
 * 3. still held, the queue emptied, N more jobs at full speed, timed the same way (ANALYZE first: a
 *    vacuum could remove nothing; a count of unfinished jobs over the dead rows would take seconds):
 *    `held.drain`. Throughput under the hold is this drain ÷ `held.before` (the paced load's own
 *    throughput is the rate offered whenever the system keeps up, so it says only whether it did:
 *    `held.rate` beside `held.offered`);
 * 4. the hold is released.
 *
 * "The hot tables' size bounded" is read from what the hold adds to them, the row versions it keeps:
 * `held.deadPerJob`, their dead tuples at the end of the hold per job run under it. A design that
 * updates or deletes a row per job keeps every dead version until the horizon moves (about one or two
 * per job), so its tables grow with the hold's length; an append-only one keeps only the dead versions
 * of its bookkeeping rows (jobq's log store: the worker's row, updated about once a claim, and the
 * sweep's; 0.01 per job in a 15 s hold at 2,000 jobs/s). `held.growth`
 * is the tables' growth over the hold, whatever it is made of (the jobs' own rows included).
 */
import pg from 'pg';
import { tableState } from '../storage/measure.ts';
import type { Driver } from '../systems/types.ts';
import type { ChildMessage } from '../worker-child.ts';
import { sleep } from './infra.ts';
import type { Options } from './options.ts';
import type { Figure, Sample } from './report.ts';
import { BATCH, prefill, processRun, reap, startChild, type System, tell } from './runs.ts';
import type { Add } from './streams.ts';

/** The load during the hold, as a share of the full-speed throughput measured just before it. */
export const HELD_LOAD = 0.5;

/** How often the hot tables are sampled: 30 samples a hold, between 1 and 20 s apart. */
export function sampleEvery(holdS: number): number {
  return Math.min(20_000, Math.max(1_000, Math.round((holdS * 1000) / 30)));
}

export interface HeldResult {
  before: number;
  drain: number;
  offered: number;
  rate: number;
  /** Jobs waiting at the end of the hold. */
  waiting: number;
  /** Dead tuples in the hot tables at the end of the hold, and per job run under it. */
  dead: number;
  deadPerJob: number;
  /** Bytes the hot tables grew by over the hold. */
  growthBytes: number;
  samples: Sample[];
}

/** Enqueues `rate` jobs a second, a tenth every 100 ms (behind, it catches up), until stopped. */
function startFeed(driver: Driver, rate: number): { enqueued(): number; failure(): unknown; stop(): Promise<void> } {
  let stopped = false;
  let enqueued = 0;
  let failure: unknown;
  const t0 = performance.now();
  const running = (async () => {
    for (let tick = 1; !stopped; tick++) {
      for (let due = Math.round((rate * tick) / 10) - enqueued; due > 0; due -= BATCH) {
        const n = Math.min(BATCH, due);
        await driver.enqueueBatch(Array.from({ length: n }, () => ({})));
        enqueued += n;
      }
      const wait = t0 + tick * 100 - performance.now();
      if (wait > 0) await sleep(wait);
    }
  })().catch((err: unknown) => void (failure = err));
  return {
    enqueued: () => enqueued,
    failure: () => failure,
    stop: async () => {
      stopped = true;
      await running;
    },
  };
}

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client(url);
  c.on('error', () => {}); // a connection cut when the database is dropped after the scenario
  await c.connect();
  return c;
}

async function until(done: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await done())) {
    if (performance.now() > deadline) throw new Error(what);
    await sleep(20);
  }
}

/** One repetition of the scenario (see the top of this file). */
export async function heldRun(sys: System, o: { jobs: number; holdS: number; timeoutMs: number }, log: (m: string) => void): Promise<HeldResult> {
  const { driver, target } = sys;
  const tables = driver.hotTables!;
  await driver.reset();
  await prefill(driver, o.jobs);
  // Both full-speed runs end when the workers have written every outcome (`end: 'stop'`), not when a count
  // reads 0: under the hold a count of unfinished jobs steps over every dead row and takes seconds.
  const before = (await processRun(sys, { concurrency: 10, processes: 1, jobs: o.jobs, timeoutMs: o.timeoutMs, end: 'stop' })).jobsPerSec;
  const rate = Math.max(10, Math.round(before * HELD_LOAD));
  log(`${sys.def.id} held: full speed ${Math.round(before).toLocaleString('en-US')} jobs/s; holding the xmin for ${o.holdS} s at ${rate.toLocaleString('en-US')} jobs/s`);
  const holder = await connect(target.pgUrl);
  const watcher = await connect(target.pgUrl);
  const child = startChild(sys, { concurrency: 10, mode: 'throughput' });
  let handled = 0;
  let ready = false;
  let failure: string | undefined;
  child.on('message', (m: ChildMessage) => {
    if (m.type === 'ready') ready = true;
    else if (m.type === 'count' || m.type === 'stopped') handled = m.n;
    else if (m.type === 'error') failure ??= m.message;
  });
  child.on('exit', (code) => {
    if (code !== 0) failure ??= `worker process exited with ${code}`;
  });
  const check = () => {
    if (failure) throw new Error(failure);
  };
  try {
    await until(() => ready || failure !== undefined, 60_000, 'worker process not ready after 60 s');
    check();
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await holder.query('SELECT txid_current()');
    tell(child, { type: 'start' });
    const base = await tableState(watcher, tables);
    const samples: Sample[] = [{ s: 0, bytes: 0, dead: base.dead, waiting: 0 }];
    const feed = startFeed(driver, rate);
    const t0 = performance.now();
    const end = t0 + o.holdS * 1000;
    for (let next = t0 + sampleEvery(o.holdS); ; next += sampleEvery(o.holdS)) {
      const wait = Math.min(next, end) - performance.now();
      if (wait > 0) await sleep(wait);
      check();
      if (feed.failure()) throw feed.failure();
      const st = await tableState(watcher, tables);
      samples.push({ s: Math.round((performance.now() - t0) / 1000), bytes: st.bytes - base.bytes, dead: st.dead, waiting: Math.max(0, feed.enqueued() - handled) });
      if (performance.now() >= end) break;
    }
    const ran = handled;
    const seconds = (performance.now() - t0) / 1000;
    await feed.stop();
    const last = samples.at(-1)!;
    // The worker takes what still waits, so that the drain starts from an empty queue.
    const enqueued = feed.enqueued();
    await until(() => handled >= enqueued || failure !== undefined, Math.max(60_000, o.holdS * 1000), `the load was not caught up with ${Math.max(60, o.holdS)} s after the hold (${enqueued - handled} jobs waiting)`);
    check();
    tell(child, { type: 'stop' });
    await reap(child);
    await until(async () => (await driver.remaining()) === 0, 60_000, 'jobs of the load still unfinished 60 s after it stopped');
    await prefill(driver, o.jobs);
    const drain = (await processRun(sys, { concurrency: 10, processes: 1, jobs: o.jobs, timeoutMs: o.timeoutMs, prepare: 'analyze', end: 'stop' })).jobsPerSec;
    return {
      before, drain, offered: rate, rate: ran / seconds, waiting: last.waiting,
      dead: last.dead, deadPerJob: Math.max(0, last.dead - base.dead) / Math.max(1, ran), growthBytes: last.bytes, samples,
    };
  } finally {
    tell(child, { type: 'stop' });
    await reap(child);
    await holder.query('ROLLBACK').catch(() => {});
    await holder.end().catch(() => {});
    await watcher.end().catch(() => {});
  }
}

/** The scenario for one system: `--reps` repetitions, or a note where it does not apply. */
export async function heldScenario(sys: System, o: Options, jobs: number, figures: Record<string, Figure>, add: Add, log: (m: string) => void): Promise<void> {
  if (sys.def.backend !== 'postgres' || !sys.driver.hotTables) {
    const note = sys.def.backend !== 'postgres' ? 'n/a on Redis' : 'not measured for this system (its driver names no hot tables)';
    figures['held.drain'] = { unit: 'jobs/s', values: [], median: null, note };
    return;
  }
  for (let rep = 1; rep <= o.reps; rep++) {
    const r = await heldRun(sys, { jobs, holdS: o.holdS, timeoutMs: o.timeoutMs }, log);
    add('held.before', r.before);
    add('held.drain', r.drain);
    add('held.offered', r.offered);
    add('held.rate', r.rate);
    add('held.waiting', r.waiting);
    add('held.dead', r.dead);
    add('held.deadPerJob', r.deadPerJob);
    add('held.growth', r.growthBytes / 1_048_576);
    figures['held.dead']!.samples = r.samples; // the last repetition's, for the report's table over time
    log(`${sys.def.id} held rep ${rep}/${o.reps}: full speed held ${Math.round(r.drain).toLocaleString('en-US')} jobs/s (${((r.drain / r.before) * 100).toFixed(0)}% of before); ` +
      `${r.dead.toLocaleString('en-US')} dead tuples (${r.deadPerJob.toFixed(3)} per job), +${(r.growthBytes / 1_048_576).toFixed(1)} MB; load ${Math.round(r.rate).toLocaleString('en-US')} of ${r.offered.toLocaleString('en-US')} jobs/s`);
  }
}
