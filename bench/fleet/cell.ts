/**
 * One cell of the fleet matrix: N workers and M APIs (each in its own namespace) on a fresh database,
 * directly or through PgBouncer, measured in two phases:
 *
 * 1. latency: the load generator offers a fixed rate (open loop) well below what the smallest cell
 *    processes; when every job of the phase has finished, pickup latency is read from the jobs
 *    themselves: started_at − created_at (created_at: now() of the API's enqueue transaction, the
 *    database's clock; started_at: when the worker's handler began, the worker's clock, the same
 *    machine's; a log store job's is its completion's, its claim's time), over the jobs created after
 *    the first second. CPU per job: the CPU of every jobq process, PostgreSQL and PgBouncer over the
 *    phase, divided by its jobs (each enqueued and run once).
 * 2. throughput: the load generator enqueues as fast as the APIs take jobs (closed loop) while the
 *    workers process; after a warm-up, jobs created and jobs finished per second in a window, and
 *    the CPU of each part over that window (in cores: which part of the machine is used up).
 */
import pg from 'pg';
import { cpuOf, cpuOfTree, machineBusy, type ConnectionPeaks, sampleConnections } from './observe.ts';
import { type FleetProcess, runLoad, startJobq } from './processes.ts';
import type { Host } from './network.ts';
import type { LoadResult } from './loadgen.ts';

export interface CellSetup {
  workers: number;
  apis: number;
  pgbouncer: boolean;
}

export interface CellEnv {
  database: string;
  /** The cell database's URL, direct and (with PgBouncer) pooled. */
  directUrl: string;
  pooledUrl?: string;
  pgbAdminUrl?: string;
  pgPid: number;
  pgbPid?: number;
  workerHosts: Host[];
  apiHosts: Host[];
  loadHost: Host;
  rate: number;
  rateSeconds: number;
  maxSeconds: number;
  batch: number;
  concurrency: number;
  /** After the throughput phase, wait until every job finished and check each ran once (the test). */
  verify: boolean;
  log: (m: string) => void;
}

export interface CellResult extends CellSetup {
  latency: { offeredPerSec: number; jobs: number; p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number; cpuUsPerJob: number };
  throughput: {
    windowSec: number;
    enqueuedPerSec: number;
    processedPerSec: number;
    /** Cores used over the window, by part. */
    /** `machine`: every process of the machine, the fleet's and others' (it is shared). */
    cores: { postgres: number; pgbouncer: number; workers: number; apis: number; loadgen: number; machine: number };
    /** CPU of jobq + PostgreSQL + PgBouncer over the window per job processed in it. */
    cpuUsPerProcessedJob: number;
  };
  connections: ConnectionPeaks;
  errors: { http: number; httpKinds: Record<string, number>; processErrors: number; processWarnings: number; exited: number; notSucceeded: number; samples: string[] };
  verified?: { ids: number; distinct: number; rows: number; succeededOnce: number; listenerAddrs: string[]; hostAddrs: string[] };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The jobs as this bench reads them, of either store (the processes run with jobq's default store): the
 * rows, and the log store's entries (one per attempt, `first` the job's first), each with its outcome, a
 * done position or a fail row (neither: it waits or runs, status 'queued', `open`). An entry replaced
 * by a newer one without an outcome of its own (released unrun, moved to the rows) is left out.
 */
const JOBS = `(
  SELECT id, true AS first, status::text AS status, attempts, created_at, started_at, finished_at, status IN ('queued', 'running', 'retrying') AS open
    FROM jobq.jobs
  UNION ALL
  SELECT l.id, l.first, coalesce(f.status, CASE WHEN d.pos IS NULL THEN 'queued' ELSE 'succeeded' END), l.attempt, l.created_at,
         coalesce(d.started_at, f.started_at), CASE WHEN f.status IN ('failed_permanent', 'cancelled') THEN f.at ELSE d.finished_at END,
         f.pos IS NULL AND d.pos IS NULL
    FROM jobq.log_all l
    LEFT JOIN jobq.log_fail_all f ON f.pos = l.pos
    LEFT JOIN (SELECT unnest(dn.pos) AS pos, dn.started_at, dn.finished_at FROM jobq.log_done_all dn) d ON d.pos = l.pos
   WHERE f.status IS NULL OR f.status NOT IN ('released', 'moved')
  UNION ALL
  SELECT id, first, CASE WHEN attempt > 1 THEN 'retrying' ELSE 'queued' END, attempt, created_at, NULL, NULL, true FROM jobq.log_scheduled
) j`;

export async function runCell(setup: CellSetup, env: CellEnv): Promise<CellResult> {
  const dbUrl = setup.pgbouncer ? env.pooledUrl! : env.directUrl;
  const jobqEnv = { DATABASE_URL: dbUrl, ...(setup.pgbouncer ? { JOBQ_LISTEN_URL: env.directUrl } : {}) };
  const procs: FleetProcess[] = [];
  const db = new pg.Pool({ connectionString: env.directUrl, application_name: 'jobqf-sampler', max: 4 });
  db.on('error', () => {});
  try {
    const apiReady = async (p: FleetProcess) => (await fetch(`${p.url}/readyz`)).ok;
    // Registered (migrations/0009) and listening from its own address.
    const workerReady = async (p: FleetProcess) =>
      (
        await db.query<{ ok: boolean }>(
          `SELECT EXISTS (SELECT FROM jobq.workers WHERE id = $1 AND alive_until > now())
              AND EXISTS (SELECT FROM pg_stat_activity WHERE application_name = 'jobq-listener' AND host(client_addr) = $2 AND datname = $3) AS ok`,
          [`fleet-${p.host.ns}`, p.host.address, env.database],
        )
      ).rows[0]!.ok;
    const started = await Promise.allSettled([
      ...env.apiHosts.slice(0, setup.apis).map((h) => startJobq('api', h, jobqEnv, apiReady)),
      ...env.workerHosts.slice(0, setup.workers).map((h) => startJobq('worker', h, { ...jobqEnv, JOBQ_CONCURRENCY: '10', JOBQ_WORKER_ID: `fleet-${h.ns}` }, workerReady)),
    ]);
    for (const s of started) if (s.status === 'fulfilled') procs.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const apis = procs.filter((p) => p.role === 'api');
    const workers = procs.filter((p) => p.role === 'worker');
    const targets = apis.map((p) => p.url!);
    const cpu = (loadPid?: number) => ({
      postgres: cpuOfTree(env.pgPid),
      pgbouncer: env.pgbPid ? cpuOf(env.pgbPid) : 0,
      workers: workers.reduce((s, p) => s + cpuOf(p.pid), 0),
      apis: apis.reduce((s, p) => s + cpuOf(p.pid), 0),
      loadgen: loadPid ? cpuOf(loadPid) : 0,
      machine: machineBusy(),
    });
    const sum = (c: ReturnType<typeof cpu>) => c.postgres + c.pgbouncer + c.workers + c.apis;
    const sampler = () => sampleConnections({ directUrl: env.directUrl, database: env.database, pgbAdminUrl: setup.pgbouncer ? env.pgbAdminUrl : undefined });

    // -- phase 1: pickup latency at a fixed offered rate
    env.log(`  latency: ${env.rate} jobs/s for ${env.rateSeconds} s`);
    const s1 = sampler();
    const c0 = cpu();
    const rateLoad = await runLoad(env.loadHost, { targets, mode: 'rate', rate: env.rate, seconds: env.rateSeconds, collectIds: env.verify }).done;
    await drain(db, 60_000);
    const c1 = cpu();
    const conn1 = await s1.stop();
    const lat = await db.query<{ p: number[]; max: number; n: number }>(
      `SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY ms) AS p, max(ms) AS max, count(*)::int AS n
         FROM (SELECT extract(epoch FROM started_at - created_at) * 1000 AS ms FROM ${JOBS}
                WHERE first AND created_at >= to_timestamp($1 / 1000.0) AND created_at < to_timestamp($2 / 1000.0) AND started_at IS NOT NULL) t`,
      [rateLoad.startedAtMs + 1_000, rateLoad.endedAtMs],
    );
    const l = lat.rows[0]!;

    // -- phase 2: throughput, as fast as the APIs take jobs
    env.log(`  throughput: as fast as possible for ${env.maxSeconds} s`);
    const s2 = sampler();
    const warmMs = Math.min(2_000, env.maxSeconds * 250);
    const before = await made(db);
    const load = runLoad(env.loadHost, { targets, mode: 'max', seconds: env.maxSeconds, batch: env.batch, concurrency: env.concurrency, collectIds: env.verify });
    let loadEnded = false;
    void load.done.catch(() => {}).finally(() => (loadEnded = true)); // a failed load is awaited below
    // Timed from its first job, not from the spawn: on a busy machine the generator takes a while to start.
    const loadStart = await firstJob(db, before, () => loadEnded, 60_000);
    await sleep(warmMs);
    const w0 = Date.now();
    const c2 = cpu(load.pid);
    await sleep(Math.max(0, loadStart + env.maxSeconds * 1_000 - 200 - Date.now()));
    const w1 = Date.now();
    const c3 = cpu(load.pid);
    const maxLoad = await load.done;
    const conn2 = await s2.stop();
    const counted = await db.query<{ enq: number; done: number }>(
      `SELECT count(*) FILTER (WHERE first AND created_at >= to_timestamp($1 / 1000.0) AND created_at < to_timestamp($2 / 1000.0))::int AS enq,
              count(*) FILTER (WHERE finished_at >= to_timestamp($1 / 1000.0) AND finished_at < to_timestamp($2 / 1000.0))::int AS done
         FROM ${JOBS}`,
      [w0, w1],
    );
    const windowSec = (w1 - w0) / 1_000;
    const cores = (k: keyof ReturnType<typeof cpu>) => round((c3[k] - c2[k]) / 1e6 / windowSec, 2);
    const processed = counted.rows[0]!.done;

    let verified: CellResult['verified'];
    if (env.verify) {
      await drain(db, 60_000);
      verified = await verify(db, [...(rateLoad.ids ?? []), ...(maxLoad.ids ?? [])], conn1, conn2);
    }
    const bad = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${JOBS} WHERE status NOT IN ('succeeded', 'queued', 'running') OR attempts > 1`);
    const exited = procs.filter((p) => p.exitCode() !== null).length;
    return {
      ...setup,
      latency: {
        offeredPerSec: env.rate,
        jobs: l.n,
        p50Ms: round(l.p?.[0] ?? NaN, 1),
        p90Ms: round(l.p?.[1] ?? NaN, 1),
        p99Ms: round(l.p?.[2] ?? NaN, 1),
        maxMs: round(l.max, 1),
        cpuUsPerJob: Math.round((sum(c1) - sum(c0)) / Math.max(1, rateLoad.enqueued)),
      },
      throughput: {
        windowSec: round(windowSec, 2),
        enqueuedPerSec: Math.round(counted.rows[0]!.enq / windowSec),
        processedPerSec: Math.round(processed / windowSec),
        cores: { postgres: cores('postgres'), pgbouncer: cores('pgbouncer'), workers: cores('workers'), apis: cores('apis'), loadgen: cores('loadgen'), machine: cores('machine') },
        cpuUsPerProcessedJob: Math.round((sum(c3) - sum(c2)) / Math.max(1, processed)),
      },
      connections: mergePeaks(conn1, conn2),
      errors: {
        http: rateLoad.errors + maxLoad.errors,
        httpKinds: mergeCounts(rateLoad.errorKinds, maxLoad.errorKinds),
        processErrors: procs.reduce((s, p) => s + p.errors, 0),
        processWarnings: procs.reduce((s, p) => s + p.warnings, 0),
        exited,
        notSucceeded: bad.rows[0]!.n,
        samples: procs.flatMap((p) => p.samples).slice(0, 5),
      },
      ...(verified ? { verified } : {}),
    };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
    await db.end().catch(() => {});
  }
}

/** Waits until no job is queued or running (a poll with a deadline). */
async function drain(db: pg.Pool, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${JOBS} WHERE open`);
    if (rows[0]!.n === 0) return;
    if (Date.now() > deadline) throw new Error(`${rows[0]!.n} jobs still unfinished after ${withinMs} ms`);
    await sleep(200);
  }
}

/** Jobs made so far, of either store (rows, log entries): a cheap count that grows as the load enqueues. */
async function made(db: pg.Pool): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT ((SELECT count(*) FROM jobq.jobs) + (SELECT count(*) FROM jobq.log_all) + (SELECT count(*) FROM jobq.log_scheduled))::int AS n',
  );
  return rows[0]!.n;
}

/** Waits until more than `before` jobs were made, or the load ended (a poll with a deadline); returns when. */
async function firstJob(db: pg.Pool, before: number, ended: () => boolean, withinMs: number): Promise<number> {
  const deadline = Date.now() + withinMs;
  while (!ended() && (await made(db)) <= before) {
    if (Date.now() > deadline) throw new Error(`the load generator made no job within ${withinMs} ms`);
    await sleep(20);
  }
  return Date.now();
}

/** Each id the APIs answered is one job, succeeded at its first attempt; and who connected from where. */
async function verify(db: pg.Pool, ids: string[], ...peaks: ConnectionPeaks[]): Promise<NonNullable<CellResult['verified']>> {
  const { rows } = await db.query<{ rows: number; once: number }>(
    `SELECT count(DISTINCT id)::int AS rows, count(DISTINCT id) FILTER (WHERE id = ANY($1::uuid[]) AND status = 'succeeded' AND attempts = 1)::int AS once
       FROM ${JOBS}`,
    [ids],
  );
  const addrs = new Set<string>();
  for (const p of peaks) for (const a of p.pgbClientAddrs ?? []) addrs.add(a);
  const listeners = new Set<string>();
  for (const p of peaks) for (const a of Object.keys(p.byAddr)) listeners.add(a);
  return { ids: ids.length, distinct: new Set(ids).size, rows: rows[0]!.rows, succeededOnce: rows[0]!.once, listenerAddrs: [...listeners].sort(), hostAddrs: [...addrs].sort() };
}

function mergePeaks(a: ConnectionPeaks, b: ConnectionPeaks): ConnectionPeaks {
  const max = (x: Record<string, number>, y: Record<string, number>) => {
    const out = { ...x };
    for (const [k, v] of Object.entries(y)) out[k] = Math.max(out[k] ?? 0, v);
    return out;
  };
  return {
    total: Math.max(a.total, b.total),
    byApp: max(a.byApp, b.byApp),
    byAddr: max(a.byAddr, b.byAddr),
    ...(a.pgbClients === undefined
      ? {}
      : {
          pgbClients: Math.max(a.pgbClients, b.pgbClients ?? 0),
          pgbServers: Math.max(a.pgbServers ?? 0, b.pgbServers ?? 0),
          pgbMaxWaitMs: Math.max(a.pgbMaxWaitMs ?? 0, b.pgbMaxWaitMs ?? 0),
          pgbClientAddrs: [...new Set([...(a.pgbClientAddrs ?? []), ...(b.pgbClientAddrs ?? [])])].sort(),
        }),
    // What backends waited on is of the throughput phase (the latency phase's load is light by design).
    activeWaits: b.activeWaits,
    samples: b.samples,
  };
}

function mergeCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

export type { LoadResult };
