/** Claiming: the worker takes runnable jobs, and records when the buffered ones start. */
import { JobqError } from '../errors.ts';
import type { QueueContext } from './context.ts';
import { toClaimedJob } from './rows.ts';
import * as SQL from './statements/claim.ts';
import type { ClaimedJob, Job, WriteOptions } from './types.ts';

export interface ClaimOptions extends WriteOptions {
  /** How many jobs at most. Default 1. */
  limit?: number;
  /** Only these queues; default all. */
  queues?: string[];
  /** Only these kinds (a worker claims only what it has handlers for); default all. */
  kinds?: string[];
  /**
   * Continue after this job (the last of the previous claim), within its priority: the scan starts
   * there instead of stepping over dead index entries from the front. See jobq.claim in functions.sql.
   */
  after?: Pick<Job, 'priority' | 'runAt' | 'id'>;
  /**
   * How many of the claimed jobs start now (default all). The rest wait in the worker's buffer; record
   * their starts with `markStartedThrough`, so that losing the worker gives back only unstarted ones' attempts.
   */
  started?: number;
}

/** Claim numbers leave 20 bits for the position within a claim (migrations/0006). */
const MAX_CLAIM = 1_048_575;

/** See Queue.claim. */
export async function claim(ctx: QueueContext, workerId: string, opts: ClaimOptions = {}): Promise<ClaimedJob[]> {
  const limit = opts.limit ?? 1;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CLAIM) {
    throw new JobqError('validation_failed', `claim limit must be an integer from 1 to ${MAX_CLAIM}`);
  }
  const a = opts.after;
  const rows = await SQL.claim(opts.db ?? ctx.pool, {
    workerId,
    limit,
    queues: opts.queues && opts.queues.length > 0 ? opts.queues : null,
    kinds: opts.kinds && opts.kinds.length > 0 ? opts.kinds : null,
    afterPriority: a?.priority ?? null,
    afterRunAt: a?.runAt ?? null,
    afterId: a?.id ?? null,
    started: opts.started ?? null,
    // A claim of its own (not inside the caller's transaction) need not wait for its WAL flush (0008).
    async: opts.db === undefined,
    now: ctx.now(),
  });
  const jobs = rows.map(toClaimedJob);
  // In claim order (RETURNING promises none): the last one is where the next claim's cursor starts.
  jobs.sort((x, y) => y.priority - x.priority || +x.runAt - +y.runAt || (x.id < y.id ? -1 : 1));
  if (jobs.length > 0) ctx.events.emit('claimed', { jobs, workerId });
  return jobs;
}

/** See Queue.markStartedThrough. */
export async function markStartedThrough(ctx: QueueContext, workerId: string, claimSeq: number, opts: WriteOptions = {}): Promise<void> {
  await SQL.markStartedThrough(opts.db ?? ctx.pool, { workerId, claimSeq, now: ctx.now() });
}
