/**
 * The fleet's housekeeping: recovering the jobs of lost workers, and pruning finished jobs and idle
 * workers' rows, one process at a time (its turn is a row: statements/housekeeping.ts).
 */
import { randomUUID } from 'node:crypto';
import { emitCancelled, type QueueContext } from './context.ts';
import { publishOutcomes } from './events/publish.ts';
import * as Log from './log/store.ts';
import { archiveGenerations, demoteQuiet, dropGenerations, rotateEvery, rotateIfDue } from './log/retention.ts';
import * as LogSweep from './log/sweep.ts';
import type { Retention } from './retention.ts';
import { toJob } from './rows.ts';
import * as SQL from './statements/housekeeping.ts';
import { pruneQueues } from './statements/policies.ts';
import { TERMINAL_STATUSES, type WriteOptions } from './types.ts';

const RECOVER_BATCH = 1000;
/** A worker's row in jobq.workers (its start watermark) outlives its last write by this much. */
const WORKER_ROW_RETENTION_MS = 3_600_000;

export interface PruneOptions extends WriteOptions {
  /** Jobs per statement. Default 1,000. */
  batch?: number;
  /** Stop starting statements after this long. Default 1 s. */
  budgetMs?: number;
}

/** See Queue.recoverStale. */
export async function recoverStale(ctx: QueueContext, staleAfterMs: number, opts: WriteOptions = {}): Promise<number> {
  let total = 0;
  for (;;) {
    const rows = await SQL.recover(opts.db ?? ctx.pool, { staleAfterMs, batch: RECOVER_BATCH, now: ctx.now() });
    total += rows.length;
    if (rows.length > 0) {
      const jobs = rows.map(toJob);
      ctx.events.emit('recovered', { jobs });
      emitCancelled(ctx, jobs);
      // retrying, failed_permanent, cancelled; a job that never started goes back to queued, with no event
      publishOutcomes(ctx.publisher, ctx.now(), jobs, opts.db);
    }
    if (rows.length < RECOVER_BATCH) break;
  }
  if (ctx.log) {
    const jobs = await Log.recoverStale(ctx, staleAfterMs, opts.db);
    total += jobs.length;
    if (jobs.length > 0) {
      ctx.events.emit('recovered', { jobs });
      emitCancelled(ctx, jobs);
      publishOutcomes(ctx.publisher, ctx.now(), jobs, opts.db);
    }
  }
  return total;
}

/** See Queue.prune. */
export async function prune(ctx: QueueContext, retention: Retention, opts: PruneOptions = {}): Promise<number> {
  const batch = opts.batch ?? 1000;
  const until = Date.now() + (opts.budgetMs ?? 1_000);
  let total = 0;
  for (const status of TERMINAL_STATUSES) {
    const keepMs = retention[status];
    if (keepMs === null) continue;
    for (;;) {
      const res = await SQL.prune(opts.db ?? ctx.pool, { status, keepMs, batch, now: ctx.now() });
      total += res;
      if (res < batch || Date.now() > until) break;
    }
  }
  if (ctx.log) {
    const db = opts.db ?? ctx.pool;
    await archiveGenerations(db, ctx.now());
    total += await dropGenerations(db, retention, ctx.now());
  }
  if (total > 0) ctx.events.emit('pruned', { count: total });
  return total;
}

/** See Queue.sweep. */
export async function sweep(ctx: QueueContext, staleAfterMs: number, retention?: Retention): Promise<{ recovered: number; pruned: number } | null> {
  const holder = randomUUID();
  const [turn] = await SQL.sweepTake(ctx.pool, { holder, leaseMs: Math.max(1_000, staleAfterMs) });
  if (!turn?.taken) return null;
  try {
    const recovered = await recoverStale(ctx, staleAfterMs);
    if (ctx.log) {
      await LogSweep.moveDue(ctx.pool, { now: ctx.now() });
      await LogSweep.strayToRows(ctx.pool, { now: ctx.now() });
      await rotateIfDue(ctx.pool, rotateEvery(retention));
      // Busy queues that went quiet are rows again (log/busy.ts), once their generations are history.
      if ((await archiveGenerations(ctx.pool, ctx.now())) > 0 && ctx.log.busy) await demoteQuiet(ctx.pool);
    }
    await SQL.pruneWorkers(ctx.pool, { idleMs: Math.max(staleAfterMs, WORKER_ROW_RETENTION_MS), now: ctx.now() });
    await pruneQueues(ctx.pool, {});
    const pruned = retention ? await prune(ctx, retention) : 0;
    return { recovered, pruned };
  } finally {
    // A turn that could not be given back (the database away) ends by itself when its lease does.
    await SQL.sweepGive(ctx.pool, { holder }).catch(() => {});
  }
}
