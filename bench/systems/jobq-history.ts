/**
 * jobq's history for the `finished` scenario (issue #22: 10,000,000 finished jobs kept for the default
 * retention, and the retention of a day of them), made through jobq's own API in whichever store its
 * `Queue` uses, so that the tables hold exactly what the product writes:
 *
 * - the jobs are enqueued (`enqueueMany`, 1,000 a call), claimed (`claim`, 1,000 at a time, as a worker
 *   with a full buffer does) and completed (`complete`, the whole claim), by four such loops side by
 *   side, under `Queue`s whose clock
 *   (QueueOptions.clock) walks through the retention period ROTATE_MS (an hour) at a time: each period's jobs
 *   are created and finished at its time;
 * - with the log store, each period is one generation, as the sweep makes them (ROTATE_MS): after its
 *   jobs finished, a new generation is made current (the sweep's rotateIfDue) and the finished one is
 *   archived at the period's end (archiveGenerations, the sweep's own call). The harness dates each
 *   generation's creation to its period (jobq.log_gen.created_at), as rotation at that time would have;
 * - with the row store, each job is a row that went queued → running → succeeded, finished at its time.
 *
 * The history spans the default retention of succeeded jobs minus MARGIN_MS, ending a minute before it is
 * made, so that none of it passes its retention while the scenario runs (the worker's sweep prunes by
 * the real clock). Retention is then `Queue.prune` with the retention the worker uses, on a `Queue` whose
 * clock is a day later than the oldest history's expiry: it removes the oldest day of the history, and
 * the calls it takes are timed (the sweep calls prune every few seconds; a row store's prune stops
 * starting statements after its 1 s budget, so it is called until that day is gone).
 */
import type pg from 'pg';
import { type ClaimedJobs, KindRegistry, Queue } from '../../src/index.ts';
import { archiveGenerations, ROTATE_MS, rotateIfDue } from '../../src/queue/log/retention.ts';
import type { Retention } from '../../src/queue/retention.ts';
import type { RetentionTiming } from './types.ts';

const DAY_MS = 86_400_000;
/** The history ends this long before the retention would reach its oldest jobs (the scenario's time). */
export const MARGIN_MS = 6 * 3_600_000;
/** Jobs per enqueue call (Queue.enqueueMany's limit) and per claim. */
const CALL = 1_000;

export interface HistoryPlan {
  /** Finished jobs in all. */
  count: number;
  /** When the first period starts (epoch ms); each period lasts ROTATE_MS. */
  start: number;
  periods: number;
}

/** `count` jobs over the periods of ROTATE_MS that fit in the retention of succeeded jobs less MARGIN_MS, ending a minute before `now`. */
export function planHistory(count: number, retention: Retention, now = Date.now()): HistoryPlan {
  const keep = retention.succeeded ?? 7 * DAY_MS; // kept for ever: a week of history
  const periods = Math.max(1, Math.floor((keep - MARGIN_MS) / ROTATE_MS));
  return { count, start: now - 60_000 - periods * ROTATE_MS, periods };
}

/** Jobs of period `p` (the count spread evenly, the first periods taking the remainder). */
export function jobsIn(plan: HistoryPlan, p: number): number {
  return Math.floor(plan.count / plan.periods) + (p < plan.count % plan.periods ? 1 : 0);
}

/** Jobs of the periods of the history's first day: what the retention of a day removes. */
export function firstDay(plan: HistoryPlan): number {
  let n = 0;
  for (let p = 0; p < Math.min(plan.periods, DAY_MS / ROTATE_MS); p++) n += jobsIn(plan, p);
  return n;
}

/** A `Queue` like the system's, on the same pool and store, whose clock reads `at()`. */
function clockedQueue(pool: pg.Pool, kinds: KindRegistry, logStore: boolean, at: () => number): Queue {
  return new Queue({ pool, kinds, clock: () => new Date(at()), logStore });
}

/** Loops run side by side in each period, to keep the server's cores busy (2 cores, loaded: 10,400 jobs/s against 8,700 with one). */
const STREAMS = 4;

/** Creates the plan's history through the API (see the top of this file). `onPeriod` hears of each period done. */
export async function buildHistory(
  pool: pg.Pool,
  kinds: KindRegistry,
  kind: string,
  logStore: boolean,
  plan: HistoryPlan,
  onPeriod?: (p: number, jobs: number) => void,
): Promise<void> {
  let t = plan.start;
  // Enqueued at the period's time, claimed and finished a second later.
  const enqueuer = clockedQueue(pool, kinds, logStore, () => t);
  const worker = clockedQueue(pool, kinds, logStore, () => t + 1_000);
  if (logStore) await datedGeneration(pool, plan.start);
  for (let p = 0, made = 0; p < plan.periods; p++) {
    t = plan.start + p * ROTATE_MS;
    const n = jobsIn(plan, p);
    await runPeriod(enqueuer, worker, kind, n, p);
    if (logStore) {
      // The sweep's rotation, then its archiving of the generation that finished, at the period's end.
      await rotateIfDue(pool, 0);
      await datedGeneration(pool, t + ROTATE_MS);
      if ((await archiveGenerations(pool, new Date(t + ROTATE_MS))) === 0) throw new Error(`history: period ${p}'s generation could not be archived`);
    }
    made += n;
    onPeriod?.(p, made);
  }
  // The run's own jobs go to a generation made now, as after any rotation.
  if (logStore) await rotateIfDue(pool, 0);
}

/** `n` jobs enqueued, claimed and completed by STREAMS loops, then whatever they left by one (a claim held elsewhere comes back short). */
async function runPeriod(enqueuer: Queue, worker: Queue, kind: string, n: number, p: number): Promise<void> {
  let toEnqueue = n;
  let finished = 0;
  const claimAndComplete = async (id: string): Promise<ClaimedJobs> => {
    const jobs = await worker.claim(id, { limit: CALL });
    if (jobs.length === 0) return jobs;
    const done = await worker.complete(id, jobs.map((j) => ({ id: j.id, claimSeq: j.claimSeq })));
    finished += done.length; // after the await: the loops share the count
    return jobs;
  };
  await Promise.all(
    Array.from({ length: STREAMS }, async (_, i) => {
      for (;;) {
        const k = Math.min(CALL, toEnqueue);
        toEnqueue -= k;
        if (k > 0) await enqueuer.enqueueMany(Array.from({ length: k }, () => ({ kind, payload: {} })));
        const jobs = await claimAndComplete(`bench-history-${i}`);
        if (k === 0 && jobs.length === 0) return;
      }
    }),
  );
  for (let empty = 0; finished < n;) {
    const jobs = await claimAndComplete('bench-history-0');
    // A short claim of the log may say `more` (a lane another claim held): claim again. Nothing at all, twice: stuck.
    empty = jobs.length === 0 && !jobs.more ? empty + 1 : 0;
    if (empty >= 2) throw new Error(`history: period ${p} finished ${finished} of its ${n} jobs, and a claim finds no more`);
  }
}

/** Dates the current generation's creation to `at` (the time rotation would have made it in the simulated history). */
async function datedGeneration(pool: pg.Pool, at: number): Promise<void> {
  await pool.query('UPDATE jobq.log_gen SET created_at = $1 WHERE gen = (SELECT max(gen) FROM jobq.log_gen)', [new Date(at)]);
}

/** The product's retention of the plan's first day (see the top of this file). */
export async function timeRetention(pool: pg.Pool, kinds: KindRegistry, logStore: boolean, retention: Retention, plan: HistoryPlan): Promise<RetentionTiming> {
  const keep = retention.succeeded ?? 7 * DAY_MS;
  // The prune's "now": the first day's jobs (finished up to a second into each period) and its
  // generations (archived at each period's end) are past their retention; the next period's are not.
  const at = plan.start + DAY_MS + 500 + keep;
  const queue = clockedQueue(pool, kinds, logStore, () => at);
  const expected = firstDay(plan);
  let removed = 0;
  let ms = 0;
  let calls = 0;
  while (removed < expected) {
    const t0 = performance.now();
    const n = await queue.prune(retention);
    ms += performance.now() - t0;
    calls++;
    removed += n;
    if (n === 0) break;
  }
  return { removed, expected, ms, calls };
}
