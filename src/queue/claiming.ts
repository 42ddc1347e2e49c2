/** Claiming: the worker takes runnable jobs, and records when the buffered ones start. */
import { JobqError } from '../errors.ts';
import type { QueueContext } from './context.ts';
import { committed, eventTime, jobEvent, publishAll } from './events/publish.ts';
import { type ClaimedRow, toClaimedJob } from './rows.ts';
import type { BusyQueues } from './log/busy.ts';
import * as LogSQL from './log/statements.ts';
import * as Log from './log/store.ts';
import * as SQL from './statements/claim.ts';
import type { ClaimedJob, ClaimedJobs, Job, WriteOptions } from './types.ts';

export interface ClaimOptions extends WriteOptions {
  /** How many jobs at most. Default 1. */
  limit?: number;
  /** Only these queues; default all. */
  queues?: string[];
  /** Only these kinds (a worker claims only what it has handlers for); default all. */
  kinds?: string[];
  /** Not these queues: a worker leaves out those with a policy, which it claims with `claimLimited`. */
  exclude?: string[];
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

/** Claims of the log store (negative numbers) before the row store's, each store's in claim order. */
function logFirst(x: ClaimedJob, y: ClaimedJob): number {
  if (x.claimSeq < 0) return y.claimSeq < 0 ? y.claimSeq - x.claimSeq : -1;
  return y.claimSeq < 0 ? 1 : 0;
}

/** Claim numbers leave 20 bits for the position within a claim (migrations/0006). */
const MAX_CLAIM = 1_048_575;

/** One claim statement: the row store's, or both stores' with the log on (its last row all nulls when it moved due entries). */
function claimRows(ctx: QueueContext, workerId: string, limit: number, opts: ClaimOptions): Promise<ClaimedRow[]> {
  // The cursor continues the row store's claims: a job of the log (a negative claim) is no place in it.
  const a = ctx.log !== null && Log.isLogClaim((opts.after as { claimSeq?: number } | undefined)?.claimSeq ?? 0) ? undefined : opts.after;
  return (ctx.log ? LogSQL.claimAll : SQL.claim)(opts.db ?? ctx.pool, {
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
    exclude: opts.exclude && opts.exclude.length > 0 ? opts.exclude : null,
  });
}

/**
 * The queues whose rows this process claims fast move to the log (log/busy.ts): their next plain jobs
 * go there. Only a hint of where jobs should go next: a failure to record it leaves the queue counted
 * again, and the claim stands.
 */
async function promoteBusy(ctx: QueueContext, busy: BusyQueues, jobs: ClaimedJob[]): Promise<void> {
  const queues = busy.claimed(jobs.filter((j) => j.claimSeq >= 0).map((j) => j.queue));
  if (queues.length === 0) return;
  try {
    await LogSQL.promote(ctx.pool, { queues });
  } catch {
    busy.forget(queues);
  }
}

/** See Queue.claim. */
export async function claim(ctx: QueueContext, workerId: string, opts: ClaimOptions = {}): Promise<ClaimedJobs> {
  const limit = opts.limit ?? 1;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CLAIM) {
    throw new JobqError('validation_failed', `claim limit must be an integer from 1 to ${MAX_CLAIM}`);
  }
  let more = false;
  let rows = await claimRows(ctx, workerId, limit, opts);
  if (ctx.log !== null && rows.at(-1)?.id === null) {
    // Due log entries this claim moved, which only a later claim can take: a claim of its own (committed
    // now) takes them at once; one inside the caller's transaction cannot, and says more may be there.
    rows = rows.slice(0, -1);
    if (opts.db === undefined && rows.length < limit) {
      const started = opts.started === undefined ? undefined : Math.max(0, opts.started - rows.length);
      rows = [...rows, ...(await claimRows(ctx, workerId, limit - rows.length, { ...opts, started })).filter((r) => r.id !== null)];
    } else if (rows.length < limit) more = true;
  }
  const jobs = rows.map(toClaimedJob);
  if (ctx.log) for (const r of rows as LogSQL.ClaimedAllRow[]) if (r.pos !== null) ctx.log.set(r.claim_seq, r.id, r.pos);
  if (ctx.log?.busy && jobs.length > 0) await promoteBusy(ctx, ctx.log.busy, jobs);
  // In claim order (RETURNING promises none): the last one is where the next claim's cursor starts.
  // The log's jobs (negative claims, priority 0) before the rows of their priority, in their batches' order.
  jobs.sort((x, y) => y.priority - x.priority || logFirst(x, y) || +x.runAt - +y.runAt || (x.id < y.id ? -1 : 1));
  // A short claim that took jobs of the log may have left more (a lane another claim held, or a
  // lane's batch full): its caller should look again at once, not wait for a notification.
  if (ctx.log !== null && jobs.length > 0 && jobs.length < limit && jobs.some((j) => j.claimSeq < 0)) more = true;
  if (more) (jobs as ClaimedJobs).more = true;
  if (jobs.length > 0) ctx.events.emit('claimed', { jobs, workerId });
  // Those started now; the buffered ones' `started` is published when the worker starts them (Queue.jobStarted).
  if (jobs.length > 0 && ctx.publisher.active && committed(opts.db)) {
    const at = eventTime(ctx.now());
    for (const job of jobs) if (job.startedAt !== null) ctx.publisher.publish(jobEvent('started', job, 'running', at));
  }
  return jobs;
}

export interface ClaimLimitedOptions extends WriteOptions {
  /** The queues, in the order they are offered room (each takes what its policy allows, then the next). */
  queues: string[];
  /** Jobs in all, at most. */
  limit: number;
  /** Only these kinds; default all. */
  kinds?: string[];
}

/** Why a queue gave fewer jobs than it was offered. */
export type FlowState = 'empty' | 'paused' | 'concurrency' | 'rate' | 'group';

export interface QueueThrottle {
  queue: string;
  /** `empty`: nothing more to claim now; otherwise the policy that held jobs back. */
  state: FlowState;
  /** How many runnable jobs it held back (at most the room it was offered); 0 when empty. */
  held: number;
  /** For `rate`: in how many milliseconds the window next has room. */
  waitMs: number | null;
}

/** See Queue.claimLimited. */
export async function claimLimited(ctx: QueueContext, workerId: string, opts: ClaimLimitedOptions): Promise<{ jobs: ClaimedJob[]; throttles: QueueThrottle[] }> {
  const limit = opts.limit;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CLAIM) {
    throw new JobqError('validation_failed', `claim limit must be an integer from 1 to ${MAX_CLAIM}`);
  }
  const rows = await SQL.claimLimited(opts.db ?? ctx.pool, {
    workerId,
    queues: [...new Set(opts.queues)],
    limit,
    kinds: opts.kinds && opts.kinds.length > 0 ? opts.kinds : null,
    async: opts.db === undefined,
    now: ctx.now(),
  });
  const jobs: ClaimedJob[] = [];
  const throttles: QueueThrottle[] = [];
  for (const r of rows) {
    if (r.id !== null) jobs.push(toClaimedJob(r as ClaimedRow));
    else throttles.push({ queue: r.flow_queue!, state: r.flow_state!, held: r.flow_held ?? 0, waitMs: r.flow_wait_ms });
  }
  jobs.sort((x, y) => x.claimSeq - y.claimSeq);
  if (jobs.length > 0) ctx.events.emit('claimed', { jobs, workerId });
  publishAll(ctx.publisher, ctx.now(), 'started', jobs, 'running', opts.db); // all started now
  return { jobs, throttles };
}

/** See Queue.markStartedThrough. */
export async function markStartedThrough(ctx: QueueContext, workerId: string, claimSeq: number, opts: WriteOptions = {}): Promise<void> {
  await (Log.isLogClaim(claimSeq) ? LogSQL.markStartedThrough : SQL.markStartedThrough)(opts.db ?? ctx.pool, { workerId, claimSeq, now: ctx.now() });
}
