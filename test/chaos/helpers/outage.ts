/**
 * Shared by the database-restart and connection-loss scenarios: a steady stream of enqueues through the
 * API while the database goes away, and the checks both make of it afterwards.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import type pg from 'pg';
import { EVERY_JOB } from '../../helpers/db.ts';
import { errorKind, keepAlive, request } from './http.ts';
import { histogram, histogramQuantile, scrape, statusCounts } from './jobq.ts';
import { eventually, type JobqProcess } from './procs.ts';

export interface Enqueue {
  at: number;
  status: number;
  kind: string | undefined;
  ms: number;
  id: string | undefined;
  error: string | undefined;
}

/** Waits (up to 30 s) until `n` jobs have succeeded: the load flows before the scenario's fault. */
export async function jobsFlowing(pool: pg.Pool, n: number): Promise<void> {
  const succeeded = async () => (await pool.query(`SELECT count(*)::int AS n FROM ${EVERY_JOB} j WHERE status = 'succeeded'`)).rows[0].n as number;
  await eventually(async () => ((await succeeded()) >= n ? true : undefined), 30_000, 'jobs flowing');
}

/** Enqueues `noop {sleep_ms}` jobs at `perSecond` until stop(); each request may take up to `timeoutMs`. */
export function enqueueStream(apiUrl: string, perSecond: number, sleepMs = 50, timeoutMs = 15_000): { stop(): Promise<Enqueue[]>; results: Enqueue[] } {
  const agent = keepAlive(64);
  const results: Enqueue[] = [];
  const pending = new Set<Promise<void>>();
  let stopped = false;
  const period = 1000 / perSecond;
  const started = Date.now();
  let k = 0;
  const loop = (async () => {
    while (!stopped) {
      const wait = started + k++ * period - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (stopped) break;
      const at = Date.now();
      const p = request(apiUrl, 'POST', '/v1/jobs', { agent, timeoutMs, body: { kind: 'noop', payload: { sleep_ms: sleepMs } } }).then((res) => {
        let id: string | undefined;
        if (res.status === 201) id = (JSON.parse(res.body) as { id: string }).id;
        results.push({ at, status: res.status, kind: errorKind(res), ms: res.ms, id, error: res.error });
      });
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
  })();
  return {
    results,
    async stop() {
      stopped = true;
      await loop;
      await Promise.all(pending);
      agent.destroy();
      return results;
    },
  };
}

/** Polls /readyz every 100 ms until it answers `status`; returns when (ms since the call). */
export async function readyzBecomes(apiUrl: string, status: number, ms: number): Promise<number> {
  const t0 = Date.now();
  await eventually(async () => ((await request(apiUrl, 'GET', '/readyz', { timeoutMs: 5_000 })).status === status ? true : undefined), ms, `/readyz ${status}`, 100);
  return Date.now() - t0;
}

export interface OutageOutcome {
  enqueued: number;
  succeeded: number;
  lost: string[];
  stuck: number;
  refused503: number;
  slowest503Ms: number;
  p99WaitS: number | null;
}

/** Waits for every accepted job to finish, then gathers what the scenario asserts and reports. */
export async function outcome(pool: pg.Pool, results: Enqueue[], metricsUrls: string[], finishMs: number): Promise<OutageOutcome> {
  const accepted = results.filter((r) => r.status === 201).map((r) => r.id!);
  await eventually(async () => {
    const c = await statusCounts(pool);
    return c.queued + c.running + c.retrying === 0 ? true : undefined;
  }, finishMs, 'every job to finish', 200).catch(() => undefined);
  const { rows } = await pool.query<{ id: string; status: string }>(`SELECT id::text, status FROM ${EVERY_JOB} j`);
  const status = new Map(rows.map((r) => [r.id, r.status]));
  const scrapes = await Promise.all(metricsUrls.map(scrape));
  const refused = results.filter((r) => r.status === 503);
  return {
    enqueued: accepted.length,
    succeeded: rows.filter((r) => r.status === 'succeeded').length,
    lost: accepted.filter((id) => status.get(id) !== 'succeeded'),
    stuck: rows.filter((r) => !['succeeded', 'failed_permanent', 'cancelled'].includes(r.status)).length,
    refused503: refused.length,
    slowest503Ms: Math.round(Math.max(0, ...refused.map((r) => r.ms))),
    p99WaitS: histogramQuantile(histogram(scrapes, 'jobq_job_wait_seconds'), 0.99),
  };
}

/** Every enqueue got 201, or 503 database_unavailable within `limitMs`: never a hang, never another error. */
export function assertEnqueuesAnswered(results: Enqueue[], limitMs: number): void {
  const bad = results.filter((r) => !(r.status === 201 || (r.status === 503 && r.kind === 'database_unavailable')));
  assert.deepEqual(bad.slice(0, 10), [], `${bad.length} enqueues got something else than 201 or 503 database_unavailable`);
  const slow = results.filter((r) => r.status === 503 && r.ms > limitMs);
  assert.deepEqual(slow.slice(0, 10), [], `${slow.length} refusals took longer than ${limitMs} ms`);
}

/** The process logged a warn-or-worse line matching `msg` (a regexp over the message). */
export function loggedProblem(p: JobqProcess, msg: RegExp): boolean {
  return p.problems().some((l) => msg.test(String(l.msg ?? '')));
}

/**
 * Freezes a PostgreSQL this test started (its postmaster and every process under it) with SIGSTOP: the
 * server is there but answers nothing, as in a network partition or a paused VM. thaw() sends SIGCONT.
 */
export function freeze(postmasterPid: number): { pids: number[]; thaw(): void } {
  // The postmaster first: stopped, it starts no new children; one that exits meanwhile (a backend,
  // an autovacuum worker) is simply not there to freeze.
  process.kill(postmasterPid, 'SIGSTOP');
  const pids = [postmasterPid];
  for (const pid of childrenOf(postmasterPid)) {
    try {
      process.kill(pid, 'SIGSTOP');
      pids.push(pid);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  let thawed = false;
  return {
    pids,
    thaw() {
      if (thawed) return;
      thawed = true;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // gone
        }
      }
    },
  };
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}
