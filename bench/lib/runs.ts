/**
 * The measurements themselves, each for one system and one repetition: processing throughput (worker
 * processes against N pre-enqueued jobs), pickup latency (in a worker process), enqueue throughput.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { Driver, SystemDef, Target } from '../systems/types.ts';
import type { ChildConfig, ChildMessage } from '../worker-child.ts';
import { cpuMsOf, serverPids, sleep } from './infra.ts';

export const BENCH_DIR = path.dirname(path.dirname(new URL(import.meta.url).pathname));
export const BATCH = 1_000;

export interface System {
  def: SystemDef;
  target: Target;
  driver: Driver;
}

export async function prefill(driver: Driver, jobs: number): Promise<void> {
  for (let done = 0; done < jobs; done += BATCH) {
    await driver.enqueueBatch(Array.from({ length: Math.min(BATCH, jobs - done) }, () => ({})));
  }
}

export function startChild(sys: System, cfg: Omit<ChildConfig, 'module' | 'target' | 'variant'>): ChildProcess {
  const config: ChildConfig = { ...cfg, module: sys.def.module, target: sys.target, variant: sys.def.variant };
  // BENCH_WORKER_NODE_ARGS: extra Node flags for worker processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const extra = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...extra, '--import', 'tsx', path.join(BENCH_DIR, 'worker-child.ts'), JSON.stringify(config)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  child.on('error', () => {}); // IPC write errors after exit; the exit code tells the story
  return child;
}

/** Sends to a worker process unless it has gone (a late `stop` must not crash the harness). */
export function tell(child: ChildProcess, message: { type: 'start' | 'stop' }): void {
  if (!child.connected) return;
  try {
    child.send(message, () => {});
  } catch {
    // exited meanwhile
  }
}

/** Waits for a child to exit, killing it (by its PID) if it has not after `ms`. */
export async function reap(child: ChildProcess, ms = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  if (await Promise.race([exited.then(() => true), sleep(ms).then(() => false)])) return;
  child.kill('SIGKILL');
  await exited;
}

export interface ThroughputOptions {
  jobs: number;
  concurrency: number;
  processes: number;
  /** Keep a transaction with an xid open on another connection of the same database for the whole run. */
  holdXmin?: boolean;
  /**
   * What the database gets before the run: `vacuum` (default): VACUUM (ANALYZE), statistics up to date;
   * `analyze`: ANALYZE only (under a held xmin, where a vacuum can remove nothing); `none`: the state the
   * enqueue left (right after a bulk enqueue, before PostgreSQL has statistics of the new rows).
   */
  prepare?: 'vacuum' | 'analyze' | 'none';
  /**
   * When the run ends: `count` (default): when the system's count of unfinished jobs reads 0, polled
   * once every handler ran; `stop`: then, when the workers, told to stop, have written every outcome
   * (the count is checked after, untimed). For tables a held xmin filled with dead rows, where one
   * count takes seconds and would be timed with the run.
   */
  end?: 'count' | 'stop';
  timeoutMs: number;
}

export interface ThroughputResult {
  jobsPerSec: number;
  seconds: number;
  /** Handler invocations beyond one per job (re-runs). */
  extraRuns: number;
  /** PostgreSQL only: committed transactions in the system's database, and WAL written (whole server), per job. */
  commitsPerJob?: number;
  walBytesPerJob?: number;
  /** CPU time per job (ms) of the worker processes and of the database server processes (Linux). */
  workerCpuMsPerJob?: number;
  serverCpuMsPerJob?: number;
}

interface DbCounters {
  commits: number;
  walBytes: number;
}

/** Read after the workers' backends have exited, so that their statistics are flushed. */
async function dbCounters(url: string): Promise<DbCounters> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    await c.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await c.query<{ commits: string; wal: string }>(
      `SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()) AS commits,
              (SELECT wal_bytes FROM pg_stat_wal) AS wal`,
    );
    return { commits: Number(rows[0]!.commits), walBytes: Number(rows[0]!.wal) };
  } finally {
    await c.end();
  }
}

/** N jobs must already be enqueued. Measures from the `start` sent to the workers until the database says none is left (or, `end: 'stop'`, until the workers have written every outcome). */
export async function processRun(sys: System, o: ThroughputOptions): Promise<ThroughputResult> {
  if (sys.def.backend === 'postgres' && o.prepare !== 'none') await vacuum(sys.target.pgUrl, o.prepare === 'analyze' ? 'ANALYZE' : 'VACUUM (ANALYZE)');
  const children = Array.from({ length: o.processes }, () => startChild(sys, { concurrency: o.concurrency, mode: 'throughput' }));
  const counts = new Array<number>(o.processes).fill(0);
  let failure: string | undefined;
  let readyCount = 0;
  const drained = children.map((child) => new Promise<void>((resolve) => child.on('message', (m: ChildMessage) => m.type === 'drained' && resolve()).on('exit', () => resolve())));
  const stopped: Promise<number>[] = children.map(
    (child, i) =>
      new Promise<number>((resolve) => {
        child.on('message', (m: ChildMessage) => {
          if (m.type === 'ready') readyCount++;
          else if (m.type === 'count') counts[i] = m.n;
          else if (m.type === 'stopped') resolve((counts[i] = m.n));
          else if (m.type === 'error') failure ??= m.message;
        });
        child.on('exit', (code) => {
          if (code !== 0) failure ??= `worker process exited with ${code}`;
          resolve(counts[i]!);
        });
      }),
  );
  let holder: pg.Client | undefined;
  try {
    const deadline = Date.now() + 60_000;
    while (readyCount < o.processes && !failure) {
      if (Date.now() > deadline) throw new Error('worker processes not ready after 60 s');
      await sleep(20);
    }
    if (failure) throw new Error(failure);
    if (o.holdXmin) {
      holder = new pg.Client(sys.target.pgUrl);
      holder.on('error', () => {});
      await holder.connect();
      await holder.query('BEGIN');
      await holder.query('SELECT txid_current()');
    }
    const before = sys.def.backend === 'postgres' ? await dbCounters(sys.target.pgUrl) : undefined;
    const childPids = children.map((c) => c.pid ?? 0);
    const cpuBefore = { workers: cpuMsOf(childPids), server: new Map(serverPids().map((p) => [p, cpuMsOf([p])])) };
    const t0 = performance.now();
    for (const c of children) tell(c, { type: 'start' });
    let t1 = 0;
    const sum = () => counts.reduce((a, b) => a + b, 0);
    for (;;) {
      if (failure) throw new Error(failure);
      if (performance.now() - t0 > o.timeoutMs) throw new Error(`not done after ${Math.round(o.timeoutMs / 1000)} s (${sum()} of ${o.jobs} handlers ran)`);
      const handled = sum();
      if (handled < o.jobs) {
        // Handler counts come from the workers (every 10 ms): no load on the database meanwhile.
        await sleep(handled < o.jobs * 0.9 ? 50 : 5);
        continue;
      }
      if (o.end === 'stop') {
        for (const c of children) tell(c, { type: 'stop' });
        await Promise.all(drained);
        t1 = performance.now();
        if (failure) throw new Error(failure);
        await noneLeft(sys.driver, o.jobs);
        break;
      }
      const at = performance.now();
      if ((await sys.driver.remaining()) === 0) {
        t1 = at;
        break;
      }
      await sleep(10);
    }
    const seconds = (t1 - t0) / 1000;
    // Server processes that started during the run (the workers' connections) count from zero.
    const serverCpu = serverPids().reduce((sum, p) => sum + cpuMsOf([p]) - (cpuBefore.server.get(p) ?? 0), 0);
    const workerCpu = cpuMsOf(childPids) - cpuBefore.workers;
    for (const c of children) tell(c, { type: 'stop' });
    const handled = (await Promise.all(stopped)).reduce((a, b) => a + b, 0);
    const result: ThroughputResult = { jobsPerSec: o.jobs / seconds, seconds, extraRuns: Math.max(0, handled - o.jobs) };
    if (workerCpu > 0) {
      result.workerCpuMsPerJob = workerCpu / o.jobs;
      result.serverCpuMsPerJob = serverCpu / o.jobs;
    }
    if (before) {
      await Promise.all(children.map((c) => reap(c)));
      await sleep(200);
      const after = await dbCounters(sys.target.pgUrl);
      result.commitsPerJob = (after.commits - before.commits) / o.jobs;
      result.walBytesPerJob = (after.walBytes - before.walBytes) / o.jobs;
    }
    return result;
  } finally {
    await holder?.end().catch(() => {});
    for (const c of children) tell(c, { type: 'stop' });
    await Promise.all(children.map((c) => reap(c)));
  }
}

/** After workers stopped with every handler run: the system's count must read 0 (within 10 s: a commit on its way). */
async function noneLeft(driver: Driver, jobs: number): Promise<void> {
  let left = 0;
  for (const until = performance.now() + 10_000; performance.now() < until; await sleep(100)) if ((left = await driver.remaining()) === 0) return;
  throw new Error(`${left} of ${jobs} jobs unfinished after every handler ran and the workers stopped`);
}

export async function vacuum(url: string, command: 'VACUUM (ANALYZE)' | 'ANALYZE' = 'VACUUM (ANALYZE)'): Promise<void> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    await c.query(command);
  } finally {
    await c.end();
  }
}

/** How long worker-child.ts waits for the last latency sample after enqueueing it. */
export const LATENCY_WAIT_MS = 15_000;

export interface LatencyResult {
  p50: number;
  p95: number;
  p99: number;
  lost: number;
}

export async function latencyRun(sys: System, samples: number, intervalMs: number): Promise<LatencyResult> {
  const child = startChild(sys, { concurrency: 10, mode: 'latency', samples, intervalMs });
  try {
    const ms = await new Promise<(number | null)[]>((resolve, reject) => {
      child.on('message', (m: ChildMessage) => {
        if (m.type === 'latency') resolve(m.ms);
        else if (m.type === 'error') reject(new Error(m.message));
      });
      child.on('exit', (code) => reject(new Error(`latency process exited with ${code}`)));
    });
    const got = ms.filter((x): x is number => x !== null);
    if (got.length === 0) throw new Error('no job was picked up');
    // A sample never picked up counts as the time waited for it (so the quantiles are lower bounds then).
    const all = ms.map((x) => x ?? LATENCY_WAIT_MS).sort((a, b) => a - b);
    return { p50: quantile(all, 0.5), p95: quantile(all, 0.95), p99: quantile(all, 0.99), lost: samples - got.length };
  } finally {
    await reap(child);
  }
}

/** Nearest-rank quantile of sorted values. */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** `jobs` single-job calls shared by `callers` concurrent callers; jobs/s. */
export async function enqueueSingles(driver: Driver, jobs: number, callers: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next++ < jobs) await driver.enqueueOne({});
    }),
  );
  return jobs / ((performance.now() - t0) / 1000);
}

/** `jobs` jobs in calls of 1,000 from one caller; jobs/s. */
export async function enqueueBatches(driver: Driver, jobs: number): Promise<number> {
  const t0 = performance.now();
  await prefill(driver, jobs);
  return jobs / ((performance.now() - t0) / 1000);
}
