/**
 * What the dashboard (issue #20) reads besides jobs and queues: the fleet of workers, jobs finished
 * per minute, and a job's children. Reads only; each bounded by what it reports, not by the table.
 */
import { JobqError } from '../errors.ts';
import { CHILDREN_PAGE_SIZE, THROUGHPUT_MINUTES } from '../limits.ts';
import type { QueueContext } from './context.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import * as LogReads from './log/reads.ts';
import * as FLEET from './statements/fleet.ts';
import * as SQL from './statements/reads.ts';
import type { JobStatus } from './types.ts';
import { isUuid } from './validate.ts';

export interface WorkerInfo {
  /** Its worker id (locked_by of the jobs it runs). */
  id: string;
  /** Holds its id now (renewed with its heartbeat); false: stopped, or died and its lease passed. */
  alive: boolean;
  /** Jobs it runs at once; null when it did not say (registered before migration 0016). */
  concurrency: number | null;
  /** The queues it works; null: all. */
  queues: string[] | null;
  /** Jobs running under it now. */
  running: number;
  startedAt: Date | null;
  /** Its last heartbeat (or other write). */
  lastSeenAt: Date;
}

/** Workers that stopped longer ago than this are no longer listed (housekeeping forgets them later). */
export const RECENT_WORKERS_MS = 60 * 60 * 1000;

/** Queue.insights: the dashboard's reads (issue #20). */
export class QueueInsights {
  readonly #ctx: QueueContext;
  constructor(ctx: QueueContext) {
    this.#ctx = ctx;
  }

  /** Workers alive now and those seen within RECENT_WORKERS_MS, by id, with the jobs each runs. */
  workers(): Promise<WorkerInfo[]> {
    return workers(this.#ctx);
  }

  /**
   * Jobs finished per queue in each of the last `minutes` minutes (1..60, default 30), the current one
   * included. Costs one index walk over the jobs finished in that window.
   */
  throughput(minutes?: number): Promise<Throughput> {
    return throughput(this.#ctx, minutes);
  }

  /** The jobs whose depends_on names `id`, by id, `limit` per page (1..500, default 100). */
  children(id: string, opts: { limit?: number; cursor?: string } = {}): Promise<ChildPage> {
    return children(this.#ctx, id, opts);
  }
}

async function workers(ctx: QueueContext): Promise<WorkerInfo[]> {
  const rows = await FLEET.workers(ctx.readPool, { recentMs: RECENT_WORKERS_MS, now: ctx.now() });
  return rows.map((r) => ({
    id: r.id, alive: r.alive, concurrency: r.concurrency, queues: r.queues, running: r.running, startedAt: r.started_at, lastSeenAt: r.last_seen_at,
  }));
}

export interface FinishedCounts {
  succeeded: number[];
  /** failed_permanent. */
  failed: number[];
  cancelled: number[];
}

export interface Throughput {
  minutes: number;
  /** The end of the last bucket: the start of the current minute plus one minute. */
  until: Date;
  /** Per queue with any job finished in the window: one count per minute, oldest first; the last is the current minute so far. */
  queues: Record<string, FinishedCounts>;
}

const MINUTE = 60_000;
const BUCKET: Partial<Record<JobStatus, keyof FinishedCounts>> = { succeeded: 'succeeded', failed_permanent: 'failed', cancelled: 'cancelled' };

async function throughput(ctx: QueueContext, minutes: number = THROUGHPUT_MINUTES.default): Promise<Throughput> {
  if (!Number.isInteger(minutes) || minutes < THROUGHPUT_MINUTES.min || minutes > THROUGHPUT_MINUTES.max) {
    throw new JobqError('validation_failed', `minutes must be an integer from ${THROUGHPUT_MINUTES.min} to ${THROUGHPUT_MINUTES.max}`, [
      { path: '/minutes', message: `must be ${THROUGHPUT_MINUTES.min}..${THROUGHPUT_MINUTES.max}` },
    ]);
  }
  const now = (ctx.now() ?? new Date()).getTime();
  const until = Math.floor(now / MINUTE) * MINUTE + MINUTE;
  const since = until - minutes * MINUTE;
  const queues: Record<string, FinishedCounts> = {};
  const [rows, logged] = await Promise.all([
    SQL.finishedPerMinute(ctx.readPool, { since: new Date(since) }),
    ctx.log ? LogReads.finishedPerMinute(ctx.readPool, { since: new Date(since) }) : [],
  ]);
  for (const r of [...rows, ...logged]) {
    const bucket = BUCKET[r.status];
    const i = Math.floor((r.minute.getTime() - since) / MINUTE);
    // A job finished by a clock ahead of this one's lands past the window: it is not shown.
    if (bucket === undefined || i < 0 || i >= minutes) continue;
    const counts = (queues[r.queue] ??= { succeeded: Array(minutes).fill(0), failed: Array(minutes).fill(0), cancelled: Array(minutes).fill(0) });
    counts[bucket][i]! += r.n;
  }
  return { minutes, until: new Date(until), queues };
}

export interface ChildJob {
  id: string;
  queue: string;
  kind: string;
  status: JobStatus;
  createdAt: Date;
  finishedAt: Date | null;
}

export interface ChildPage {
  jobs: ChildJob[];
  nextCursor: string | null;
}

async function children(ctx: QueueContext, id: string, opts: { limit?: number; cursor?: string } = {}): Promise<ChildPage> {
  const limit = opts.limit ?? CHILDREN_PAGE_SIZE.default;
  if (!Number.isInteger(limit) || limit < 1 || limit > CHILDREN_PAGE_SIZE.max) {
    throw new JobqError('validation_failed', `limit must be an integer from 1 to ${CHILDREN_PAGE_SIZE.max}`, [{ path: '/limit', message: `must be 1..${CHILDREN_PAGE_SIZE.max}` }]);
  }
  if (!isUuid(id)) return { jobs: [], nextCursor: null };
  const after = opts.cursor === undefined ? null : decodeCursor(opts.cursor);
  const rows = await SQL.children(ctx.readPool, { parent: id, after, limit: limit + 1 });
  const jobs = rows.slice(0, limit).map((r) => ({ id: r.id, queue: r.queue, kind: r.kind, status: r.status, createdAt: r.created_at, finishedAt: r.finished_at }));
  return { jobs, nextCursor: rows.length > limit ? encodeCursor(jobs[jobs.length - 1]!.id) : null };
}
