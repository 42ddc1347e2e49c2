/** Reads: one job, a page of jobs, and the counts behind `stats`. */
import type { QueueContext } from './context.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import * as LogReads from './log/reads.ts';
import * as Log from './log/store.ts';
import { keyedPage, listParams, pageOf } from './list.ts';
import { toJob } from './rows.ts';
import * as SQL from './statements/reads.ts';
import { type Job, JOB_STATUSES, type JobPage, type ListFilter, type QueueStats, type StatusCounts, type WriteOptions } from './types.ts';
import { isUuid } from './validate.ts';

/** See Queue.get. */
export async function get(ctx: QueueContext, id: string, opts: WriteOptions = {}): Promise<Job | null> {
  if (!isUuid(id)) return null;
  const [row] = await SQL.get(opts.db ?? ctx.readPool, { id });
  if (row) return toJob(row);
  return ctx.log ? Log.getLogged(id, opts.db ?? ctx.readPool) : null;
}

/** See Queue.list. */
export async function list(ctx: QueueContext, filter: ListFilter = {}, opts: WriteOptions = {}): Promise<JobPage> {
  const params = listParams(filter, ctx.listBounds);
  const db = opts.db ?? ctx.readPool;
  if (filter.idempotencyKey !== undefined) {
    const [row] = await SQL.byIdempotencyKey(db, { key: filter.idempotencyKey });
    return keyedPage(row ? toJob(row) : null, params);
  }
  const page = pageOf(await SQL.list(db, params), params.limit - 1);
  // The log holds no job with a group (nor a key: above).
  if (!ctx.log || params.group !== null) return page;
  return Log.mergeList(page, { ...params, limit: params.limit - 1 }, db, encodeCursor, decodeCursor);
}

/** See Queue.stats. */
export async function stats(ctx: QueueContext, opts: WriteOptions = {}): Promise<QueueStats> {
  const db = opts.db ?? ctx.pool;
  const [counts, oldest, logged] = await Promise.all([
    SQL.counts(db, {}), SQL.oldestRunnable(db, { now: ctx.now() }), ctx.log ? LogReads.counts(db, { now: ctx.now() }) : [],
  ]);
  for (const r of logged) {
    if (r.status === 'moved') continue; // a row now: counted there
    counts.push({ ...r, status: r.status });
    if (r.age !== null) oldest.push({ queue: r.queue, age: r.age });
  }
  const out: QueueStats = { byStatus: zeroCounts(), byKind: {}, byQueue: {}, oldestRunnableAgeSeconds: 0, oldestRunnableAgeSecondsByQueue: {} };
  for (const { queue, kind, status, n } of counts) {
    out.byStatus[status] += n;
    (out.byKind[kind] ??= zeroCounts())[status] += n;
    (out.byQueue[queue] ??= zeroCounts())[status] += n;
    out.oldestRunnableAgeSecondsByQueue[queue] = 0;
  }
  for (const { queue, age } of oldest) {
    out.oldestRunnableAgeSecondsByQueue[queue] = Math.max(0, age, out.oldestRunnableAgeSecondsByQueue[queue] ?? 0);
    out.oldestRunnableAgeSeconds = Math.max(out.oldestRunnableAgeSeconds, age);
  }
  return out;
}

function zeroCounts(): StatusCounts {
  return Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as StatusCounts;
}
