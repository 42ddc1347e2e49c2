/**
 * The storage study's scenarios, each on a candidate's own database (measure.ts): claim-and-finish
 * throughput with its server CPU and WAL per job, the same right after the bulk enqueue (no
 * statistics), the same with a large history kept and the retention of a day of it, a held xmin under a
 * steady load, and the cost of the API's reads and writes on one job.
 */
import pg from 'pg';
import type { StorageCandidate } from './candidate.ts';
import { BATCH, type CandidateDb, pgbench, sampleIds, serverCpuMs, tableState, walBytes } from './measure.ts';

export interface Throughput {
  jobsPerS: number;
  serverCpuUsPerJob: number;
  walBytesPerJob: number;
  /** Jobs the run finished (should be all it was given). */
  finished: number;
}

/**
 * Claims and finishes the `jobs` just seeded with `clients` pgbench clients, each a share of the claims
 * the jobs need; then, while jobs are left and the last round finished some, another short round (a
 * design whose claims can come back short, as log's lanes when another claim holds one, needs more).
 * Returns the seconds spent in pgbench and the jobs finished.
 */
export async function drain(db: CandidateDb, cand: StorageCandidate, jobs: number, clients: number): Promise<{ seconds: number; finished: number }> {
  const before = await cand.succeeded(db.c);
  let seconds = (await pgbench(db.url, cand.pgbench.claimFinish, { clients, transactions: Math.ceil(jobs / BATCH / clients) + 2 })).seconds;
  let finished = (await cand.succeeded(db.c)) - before;
  for (let last = -1; finished < jobs && finished > last;) {
    last = finished;
    seconds += (await pgbench(db.url, cand.pgbench.claimFinish, { clients, transactions: Math.ceil((jobs - finished) / BATCH / clients) + 2 })).seconds;
    finished = (await cand.succeeded(db.c)) - before;
  }
  return { seconds, finished };
}

/**
 * `jobs` runnable jobs claimed and finished by `clients` pgbench clients; `analyzed`: after VACUUM
 * (ANALYZE), else right after the bulk enqueue, before PostgreSQL has statistics of the new rows.
 */
export async function throughput(db: CandidateDb, cand: StorageCandidate, jobs: number, clients: number, analyzed: boolean): Promise<Throughput> {
  const { c } = db;
  await cand.reset(c);
  await c.query('VACUUM (ANALYZE)'); // a clean start: what earlier runs left dead is gone
  await cand.seed(c, jobs);
  if (analyzed) await c.query('VACUUM (ANALYZE)');
  await c.query('CHECKPOINT');
  const cpu0 = serverCpuMs();
  const wal0 = await walBytes(c);
  const r = await drain(db, cand, jobs, clients);
  const wal = (await walBytes(c)) - wal0;
  const cpu = serverCpuMs() - cpu0;
  const finished = r.finished;
  return { jobsPerS: finished / r.seconds, serverCpuUsPerJob: (cpu * 1000) / finished, walBytesPerJob: wal / finished, finished };
}

export interface History {
  /** Finished jobs kept while the throughput was measured. */
  kept: number;
  withHistory: Throughput;
  /** Jobs removed by the retention of the history older than a day, and how long it took. */
  retentionRemoved: number;
  retentionMs: number;
}

/**
 * How old the history that retention removes is. Not just over a day: designs that keep days as
 * partitions drop a day once it ended a day ago, so a job of 30 hours ago stays until tomorrow whenever
 * it is past 06:00; 48 hours is always in a droppable day.
 */
const OLD_HOURS = 48;

/** `kept` finished jobs (all older than a day but a tenth) in the tables while `jobs` are processed; then retention. */
export async function history(db: CandidateDb, cand: StorageCandidate, jobs: number, kept: number): Promise<History> {
  const { c } = db;
  await cand.reset(c);
  const old = kept - Math.floor(kept / 10);
  for (let done = 0; done < old; done += 1_000_000) await cand.addFinished(c, Math.min(1_000_000, old - done), OLD_HOURS);
  await cand.addFinished(c, kept - old, 1);
  await c.query('VACUUM (ANALYZE)');
  await cand.seed(c, jobs);
  await c.query('VACUUM (ANALYZE)');
  await c.query('CHECKPOINT');
  const cpu0 = serverCpuMs();
  const wal0 = await walBytes(c);
  const r = await drain(db, cand, jobs, 10);
  const wal = (await walBytes(c)) - wal0;
  const cpu = serverCpuMs() - cpu0;
  const finished = r.finished;
  const withHistory = { jobsPerS: finished / r.seconds, serverCpuUsPerJob: (cpu * 1000) / finished, walBytesPerJob: wal / finished, finished };
  const t0 = performance.now();
  const retentionRemoved = await cand.retention(c, new Date(Date.now() - 24 * 3_600_000));
  return { kept, withHistory, retentionRemoved, retentionMs: performance.now() - t0 };
}

export interface HeldXmin {
  minutes: number;
  /** Jobs per second offered (enqueued, and claimed as they come). */
  rate: number;
  /** Every 10 s (or `sampleMs`): seconds since the hold began, the hot tables' bytes and dead tuples, jobs waiting. */
  samples: { s: number; bytes: number; dead: number; waiting: number }[];
  /** A full-speed drain of `drainJobs` at concurrency 10 before the hold, and at its end (still held). */
  drainBefore: Throughput;
  drainHeld: Throughput;
}

/**
 * A REPEATABLE READ transaction that took an xid holds the xmin horizon for `minutes` while jobs are
 * enqueued at `rate` per second (in batches every 100 ms) and claimed as they come (pgbench at a
 * claim rate that keeps up); then, still held, `drainJobs` are enqueued at once and drained at full speed.
 */
/** Enqueues `rate` jobs a second through `feeder`, a tenth every 100 ms, until stopped. */
export function startFeed(feeder: pg.ClientBase, cand: StorageCandidate, rate: number): { stop(): Promise<void> } {
  let stopped = false;
  const running = (async () => {
    let next = performance.now();
    while (!stopped) {
      await cand.seed(feeder, Math.max(1, Math.round(rate / 10)));
      next += 100;
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    stop: () => {
      stopped = true;
      return running;
    },
  };
}

export async function heldXmin(db: CandidateDb, cand: StorageCandidate, minutes: number, rate: number, drainJobs: number, sampleMs = 10_000): Promise<HeldXmin> {
  const { c } = db;
  const drainBefore = await throughput(db, cand, drainJobs, 10, true);
  const holder = new pg.Client(db.url);
  await holder.connect();
  const feeder = new pg.Client(db.url);
  await feeder.connect();
  // Samples on a connection of their own: a slow one (a design's `remaining` may be) delays nothing else.
  const watcher = new pg.Client(db.url);
  await watcher.connect();
  const samples: HeldXmin['samples'] = [];
  try {
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await holder.query('SELECT txid_current(), count(*) FROM jobq.queues');
    const t0 = performance.now();
    const end = t0 + minutes * 60_000;
    const feed = startFeed(feeder, cand, rate);
    let sampling = false; // a sample still under way (a design's `remaining` may be slow) skips the next tick
    const sampler = setInterval(() => {
      if (sampling) return;
      sampling = true;
      void (async () => {
        const st = await tableState(watcher, cand.hotTables);
        samples.push({ s: Math.round((performance.now() - t0) / 1000), bytes: st.bytes, dead: st.dead, waiting: await cand.remaining(watcher) });
      })().catch(() => {}).finally(() => (sampling = false));
    }, sampleMs);
    try {
      // Claims at 1.5 times what the feed needs in full batches: they keep up, as a worker woken by NOTIFY would.
      await pgbench(db.url, cand.pgbench.claimFinish, { clients: 10, seconds: Math.round((end - performance.now()) / 1000), rate: Math.ceil((rate / BATCH) * 1.5) });
    } finally {
      clearInterval(sampler);
      await feed.stop();
    }
    const drainHeld = await throughputHeld(db, cand, drainJobs);
    return { minutes, rate, samples, drainBefore, drainHeld };
  } finally {
    await holder.query('ROLLBACK').catch(() => {});
    await holder.end();
    await feeder.end();
    await watcher.end();
  }
}

/** A drain at full speed without the reset and VACUUM of `throughput` (they would wait for, or not undo, the hold). */
async function throughputHeld(db: CandidateDb, cand: StorageCandidate, jobs: number): Promise<Throughput> {
  const { c } = db;
  await pgbench(db.url, cand.pgbench.claimFinish, { clients: 10, transactions: 20 }); // what the feed left
  await cand.seed(c, jobs);
  await c.query('ANALYZE');
  const cpu0 = serverCpuMs();
  const wal0 = await walBytes(c);
  const r = await drain(db, cand, jobs, 10);
  const wal = (await walBytes(c)) - wal0;
  const cpu = serverCpuMs() - cpu0;
  const finished = r.finished;
  return { jobsPerS: finished / r.seconds, serverCpuUsPerJob: (cpu * 1000) / finished, walBytesPerJob: wal / finished, finished };
}

export interface Reads {
  /** Average latency (ms) of each script, at 4 clients. */
  getMs: number;
  listMs: number;
  cancelMs: number;
  retryMs: number;
  enqueueMs: number;
}

/** The API's operations on one job, over `finished` finished jobs, a tenth as many queued (100,000 at most) and a fiftieth failed (20,000 at most); reads for `seconds` each. */
export async function reads(db: CandidateDb, cand: StorageCandidate, finished: number, seconds = 10): Promise<Reads> {
  const { c } = db;
  await cand.reset(c);
  for (let done = 0; done < finished; done += 1_000_000) await cand.addFinished(c, Math.min(1_000_000, finished - done), 2);
  await cand.addFailed(c, Math.min(20_000, finished / 50));
  await cand.seed(c, Math.min(100_000, finished / 10));
  await c.query('VACUUM (ANALYZE)');
  const at = (script: string, nids: number, o: { seconds?: number; transactions?: number }) =>
    pgbench(db.url, script, { clients: 4, ...o, vars: { nids } }).then((r) => r.latencyMs);
  const getMs = await at(cand.pgbench.get, await sampleIds(c, cand.sampleIdsSql('finished'), 20_000), { seconds });
  const listMs = await at(cand.pgbench.list, 1, { seconds });
  const enqueueMs = await at(cand.pgbench.enqueue, 1, { transactions: 1_000 });
  const cancelMs = await at(cand.pgbench.cancel, await sampleIds(c, cand.sampleIdsSql('queued'), 50_000), { transactions: 250 });
  const retryMs = await at(cand.pgbench.retry, await sampleIds(c, cand.sampleIdsSql('failed'), 20_000), { transactions: 250 });
  return { getMs, listMs, cancelMs, retryMs, enqueueMs };
}
