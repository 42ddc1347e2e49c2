/**
 * The `streams` scenario (issue #19, jobq only): what open SSE streams cost job processing. A jobq API
 * process (its defaults: the event hub in it) runs on the system's database; the harness opens
 * `--streams` streams against it over node:http: 1% filtered by the jobs' queue (they receive every
 * event), the rest by one job id each (as that many waitFor callers would). Each repetition measures,
 * without and with the streams open:
 * - full speed: N pre-enqueued jobs through 1 worker process × 10 (as c10); the id streams watch N
 *   jobs spread over those N, so each gets its job's events during the run;
 * - paced: `--stream-rate` jobs a second for `--stream-seconds`, enqueued by the worker process
 *   itself, latency = handler start − just before the enqueue call; the id streams watch jobs that
 *   do not run during it (their cost there: memory, and the reconciliation's reads).
 * Without streams, no process is registered as a listener, so workers publish no events: the
 * difference is the whole cost of watching (publishing included), not only the hub's.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { ChildMessage } from '../worker-child.ts';
import { startApi } from './http.ts';
import { sleep } from './infra.ts';
import type { Options } from './options.ts';
import { prefill, processRun, quantile, reap, startChild, type System } from './runs.ts';

export interface StreamSet {
  /** Frames (events, states, heartbeats) received by all streams so far. */
  frames(): number;
  close(): void;
}

/** Opens one stream per filter (`id=...` or `queue=...`), 50 at a time; resolves when every one answered 200. */
export async function openStreams(base: string, queries: string[]): Promise<StreamSet> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const requests: http.ClientRequest[] = [];
  let frames = 0;
  const open = (query: string) =>
    new Promise<void>((resolve, reject) => {
      const req = http.get(`${base}/v1/events?${query}`, { agent, headers: { accept: 'text/event-stream' } });
      requests.push(req);
      req.once('error', reject);
      req.once('response', (res) => {
        if (res.statusCode !== 200) return reject(new Error(`GET /v1/events?${query} answered ${res.statusCode}`));
        res.on('data', (chunk: Buffer) => {
          for (const byte of chunk) if (byte === 10) frames++;
        });
        res.on('error', () => {});
        req.removeListener('error', reject);
        req.on('error', () => {});
        resolve();
      });
    });
  try {
    for (let i = 0; i < queries.length; i += 50) await Promise.all(queries.slice(i, i + 50).map(open));
  } catch (err) {
    for (const r of requests) r.destroy();
    throw err;
  }
  return {
    // Lines, halved: a frame is at least two (an event's event: and data:, or a comment and the blank line).
    frames: () => Math.floor(frames / 2),
    close: () => {
      for (const r of requests) r.destroy();
      agent.destroy();
    },
  };
}

/** The filters of `n` streams: 1% (at least one) by queue, the others by one id each. */
export function streamQueries(n: number, ids: string[], queue: string): string[] {
  const byQueue = Math.max(1, Math.round(n / 100));
  return [...Array.from({ length: byQueue }, () => `queue=${encodeURIComponent(queue)}`), ...ids.slice(0, n - byQueue).map((id) => `id=${id}`)];
}

export interface PacedResult {
  p50: number;
  p95: number;
  p99: number;
  lost: number;
  jobsPerSec: number;
}

/** One paced run in a worker process (worker-child.ts mode "paced"). */
export async function pacedRun(sys: System, rate: number, seconds: number): Promise<PacedResult> {
  const child = startChild(sys, { concurrency: 10, mode: 'paced', rate, seconds });
  try {
    const r = await new Promise<{ ms: (number | null)[]; seconds: number }>((resolve, reject) => {
      child.on('message', (m: ChildMessage) => {
        if (m.type === 'paced') resolve(m);
        else if (m.type === 'error') reject(new Error(m.message));
      });
      child.on('exit', (code) => reject(new Error(`paced process exited with ${code}`)));
    });
    const got = r.ms.filter((x): x is number => x !== null);
    if (got.length === 0) throw new Error('no job was picked up');
    const all = r.ms.map((x) => x ?? 15_000).sort((a, b) => a - b);
    return { p50: quantile(all, 0.5), p95: quantile(all, 0.95), p99: quantile(all, 0.99), lost: r.ms.length - got.length, jobsPerSec: got.length / r.seconds };
  } finally {
    await reap(child);
  }
}

/** Waits until no process is registered as a listener: workers started then publish nothing. */
async function noListeners(url: string): Promise<void> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    const deadline = performance.now() + 60_000;
    for (;;) {
      const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM jobq.event_listeners WHERE expires_at > now()');
      if (rows[0]!.n === 0) return;
      if (performance.now() > deadline) throw new Error('a listener is still registered after 60 s');
      await sleep(200);
    }
  } finally {
    await c.end();
  }
}

export type Add = (key: string, value: number, extra?: Record<string, number>) => void;

/** One repetition of the scenario: full speed and paced, each without and with the streams. */
export async function streamsRep(sys: System, o: Options, jobs: number, add: Add, log: (m: string) => void): Promise<void> {
  const streams = sys.driver.streams!;
  const api = await startApi(sys.target.pgUrl);
  try {
    const n = o.streams;
    const perSec = (v: number) => `${Math.round(v).toLocaleString('en-US')} jobs/s`;
    // Full speed.
    for (const open of [false, true]) {
      await sys.driver.reset();
      await prefill(sys.driver, jobs);
      let set: StreamSet | undefined;
      if (open) set = await openStreams(api.base, streamQueries(n, await streams.unfinishedIds(n), streams.queue));
      else await noListeners(sys.target.pgUrl);
      try {
        const r = await processRun(sys, { concurrency: 10, processes: 1, jobs, timeoutMs: o.timeoutMs });
        add(open ? 'streams.full.n' : 'streams.full.0', r.jobsPerSec, set ? { frames: set.frames() } : undefined);
        log(`jobq streams full speed, ${open ? n : 0} streams: ${perSec(r.jobsPerSec)}${set ? `, ${set.frames().toLocaleString('en-US')} frames received` : ''}`);
      } finally {
        set?.close();
      }
    }
    // Paced.
    for (const open of [false, true]) {
      await sys.driver.reset();
      let set: StreamSet | undefined;
      if (open) set = await openStreams(api.base, streamQueries(n, await streams.addLater(n), streams.queue));
      else await noListeners(sys.target.pgUrl);
      try {
        const r = await pacedRun(sys, o.streamRate, o.streamSeconds);
        const key = open ? 'streams.paced.n' : 'streams.paced.0';
        add(`${key}.p50`, r.p50, { unpicked: r.lost });
        add(`${key}.p99`, r.p99);
        add(`${key}.rate`, r.jobsPerSec);
        log(`jobq streams paced ${o.streamRate}/s, ${open ? n : 0} streams: p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${perSec(r.jobsPerSec)}`);
      } finally {
        set?.close();
      }
    }
  } finally {
    await api.close();
  }
}
