/** Starting `jobq api` / `jobq worker` for a scenario, reading the jobs table, and reading /metrics. */
import type { TestContext } from 'node:test';
import type pg from 'pg';
import { EVERY_JOB } from '../../helpers/db.ts';
import { startPgBouncer } from '../../helpers/pgbouncer.ts';
import { parseExposition, type Sample } from '../../metrics/exposition.ts';
import { request } from './http.ts';
import type { JobqProcess, ProcessGroup } from './procs.ts';

/** Settings every scenario shares: loopback only, port 0, recovery within seconds, small backoff. */
export function baseEnv(databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    HOST: '127.0.0.1',
    PORT: '0',
    JOBQ_HTTP_ALLOW_HOSTS: '127.0.0.1',
    JOBQ_LEASE_MS: '3000',
    JOBQ_HEARTBEAT_MS: '500',
    JOBQ_POLL_INTERVAL_MS: '500',
    JOBQ_BACKOFF_BASE_MS: '100',
    JOBQ_BACKOFF_CAP_MS: '2000',
    JOBQ_SHUTDOWN_GRACE_MS: '2000',
    ...extra,
  };
}

export async function startApi(group: ProcessGroup, env: Record<string, string>, name = 'api', opts: { keepBytes?: number } = {}): Promise<{ proc: JobqProcess; url: string }> {
  const proc = group.start(name, ['api'], env, opts);
  return { proc, url: await proc.url('api') };
}

/** A worker with its own /metrics on a free port; resolves once it logged `worker started`. */
export async function startWorker(
  group: ProcessGroup,
  env: Record<string, string>,
  id: string,
  opts: { keepBytes?: number; metrics?: boolean; wait?: boolean } = {},
): Promise<{ proc: JobqProcess; metricsUrl: string | undefined }> {
  const args = ['worker', '--worker-id', id];
  if (opts.metrics !== false) args.push('--metrics-port', '0');
  const proc = group.start(id, args, env, opts);
  if (opts.wait === false) return { proc, metricsUrl: undefined };
  const metricsUrl = opts.metrics !== false ? await proc.url('metrics') : undefined;
  await proc.waitForLine((l) => l.msg === 'worker started', 60_000, '"worker started"');
  return { proc, metricsUrl };
}

export type StatusCounts = Record<'queued' | 'running' | 'retrying' | 'succeeded' | 'failed_permanent' | 'cancelled', number>;

export async function statusCounts(pool: pg.Pool): Promise<StatusCounts> {
  const { rows } = await pool.query<{ status: keyof StatusCounts; n: number }>(`SELECT status, count(*)::int AS n FROM ${EVERY_JOB} j GROUP BY status`);
  const out: StatusCounts = { queued: 0, running: 0, retrying: 0, succeeded: 0, failed_permanent: 0, cancelled: 0 };
  for (const r of rows) out[r.status] = r.n;
  return out;
}

/** Jobs waiting to run now (queued or retrying, run_at passed). */
export async function runnableCount(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${EVERY_JOB} j WHERE status IN ('queued','retrying') AND run_at <= now()`);
  return rows[0]!.n;
}

export async function scrape(url: string): Promise<Sample[]> {
  const res = await request(url, 'GET', '/metrics', { timeoutMs: 10_000 });
  if (res.status !== 200) throw new Error(`GET ${url}/metrics: ${res.status} ${res.error ?? res.body.slice(0, 200)}`);
  return parseExposition(res.body);
}

/** Cumulative bucket counts of a histogram, summed over every label set and every scrape given. */
export function histogram(scrapes: Sample[][], name: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const samples of scrapes) {
    for (const s of samples) {
      if (s.name !== `${name}_bucket`) continue;
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      out.set(le, (out.get(le) ?? 0) + s.value);
    }
  }
  return out;
}

/** The upper bound of the bucket holding quantile q (0..1); null without observations. */
export function histogramQuantile(buckets: Map<number, number>, q: number): number | null {
  const les = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? 0;
  if (total === 0) return null;
  for (const le of les) if (buckets.get(le)! >= q * total) return le;
  return Infinity;
}

/** Subtracts an earlier histogram (same process) from a later one: the observations in between. */
export function histogramDelta(later: Map<number, number>, earlier: Map<number, number>): Map<number, number> {
  const out = new Map<number, number>();
  for (const [le, n] of later) out.set(le, n - (earlier.get(le) ?? 0));
  return out;
}

/** A real PgBouncer in transaction mode in front of `url`'s server, stopped after the test: `url` through it. */
export async function viaPgBouncer(t: TestContext, url: string): Promise<string> {
  const bouncer = await startPgBouncer({ serverUrl: url });
  t.after(() => bouncer.stop());
  return bouncer.pooled(url);
}

/** Which way the scenario's processes reach PostgreSQL: straight, or through PgBouncer (issue #21). */
export const VIAS = ['direct', 'pgbouncer'] as const;
