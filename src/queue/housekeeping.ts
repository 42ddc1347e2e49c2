/**
 * The fleet's housekeeping: recovering the jobs of lost workers, and pruning finished jobs and idle
 * workers' rows, under one lock so that a single process sweeps at a time.
 */
import { checkout } from './checkout.ts';
import { emitCancelled, type QueueContext } from './context.ts';
import { publishOutcomes } from './events/publish.ts';
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
    if (rows.length < RECOVER_BATCH) return total;
  }
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
  if (total > 0) ctx.events.emit('pruned', { count: total });
  return total;
}

/** See Queue.sweep. */
export async function sweep(ctx: QueueContext, staleAfterMs: number, retention?: Retention): Promise<{ recovered: number; pruned: number } | null> {
  const client = await checkout(ctx.pool);
  let holding = false;
  try {
    const [lock] = await SQL.sweepLock(client, { idleTimeoutMs: String(Math.max(1_000, staleAfterMs)) });
    if (!lock?.locked) return null;
    holding = true;
    try {
      const recovered = await recoverStale(ctx, staleAfterMs, { db: client });
      await SQL.pruneWorkers(client, { idleMs: Math.max(staleAfterMs, WORKER_ROW_RETENTION_MS), now: ctx.now() });
      await pruneQueues(client, {});
      const pruned = retention ? await prune(ctx, retention, { db: client }) : 0;
      return { recovered, pruned };
    } finally {
      const [unlock] = await SQL.sweepUnlock(client, {}).catch(() => []);
      if (unlock?.unlocked) holding = false;
    }
  } finally {
    // A session whose unlock failed (timed out, refused) still holds the lock: put back into the pool,
    // it would keep every other process from sweeping for as long as it lives. Destroying the client
    // ends the session, and with it the lock.
    client.release(holding ? new Error('the sweep lock could not be released') : undefined);
  }
}
