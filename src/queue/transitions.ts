/**
 * The transitions of a job after its claim: completion, failure (retry or not), cancellation, and the
 * operator's retry. Each statement is a guarded compare-and-set (statements/transitions.ts); when one
 * changes nothing, `transition` says why.
 */
import { nextDelay } from './backoff.ts';
import { emitCancelled, notFound, type QueueContext } from './context.ts';
import { committed, eventTime, type EventSubject, jobEvent, publishAll, publishOutcomes } from './events/publish.ts';
import { isJobqError, JobqError } from '../errors.ts';
import { claimResultsParam, type Completion, resultJson, writeCompletions } from './results.ts';
import { type JobRow, toJob } from './rows.ts';
import * as Events from './statements/events.ts';
import * as Keyed from './statements/keyed.ts';
import * as Reads from './statements/reads.ts';
import type { Statement } from './statements/statement.ts';
import * as SQL from './statements/transitions.ts';
import type { ClaimRef } from './leases.ts';
import * as Log from './log/store.ts';
import * as LogSQL from './log/statements.ts';
import { type CancelOutcome, isTerminal, type Job, type Queryable, type WorkerWriteOptions, type WriteOptions } from './types.ts';
import { errorText, isUuid } from './validate.ts';

/** One completion: the claim it completes (`ClaimedJob.claimSeq`) and what the handler returned. */
export interface CompleteItem {
  id: string;
  claimSeq: number;
  result?: unknown;
  /**
   * The claimed job (`ClaimedJob`), for its `succeeded` event. Without it, the events of the batch's
   * items that have none need one read of their jobs (only while events are published).
   */
  job?: EventSubject;
  /** When the worker started it (epoch ms), for a job claimed ahead of a free slot (`ClaimedJob.launchedAtMs`): stored as its started_at. */
  launchedAtMs?: number;
}

/** See Queue.complete. */
export async function complete(ctx: QueueContext, workerId: string, items: CompleteItem[], opts: WriteOptions = {}): Promise<number[]> {
  if (items.length === 0) return [];
  const rows: Completion[] = [];
  const logged: Completion[] = [];
  let started = '';
  for (const { id, claimSeq, result, launchedAtMs } of items) {
    if (!isUuid(id)) continue;
    if (ctx.log !== null && Log.isLogClaim(claimSeq)) {
      logged.push({ id, claimSeq, json: resultJson(result), ...(isInstant(launchedAtMs) ? { launchedAtMs } : {}) });
      continue;
    }
    rows.push({ id, claimSeq, json: resultJson(result) });
    if (isInstant(launchedAtMs)) started += `${started === '' ? '' : ','}"${claimSeq}":${launchedAtMs}`;
  }
  const write = async (batch: Completion[]) => {
    const ids = [...new Set(batch.map((r) => r.id))];
    const params = { workerId, ids, claims: claimResultsParam(batch), started: started === '' ? null : `{${started}}`, now: ctx.now() };
    const done = await SQL.complete(opts.db ?? ctx.pool, params);
    return done.map((r) => r.claim_seq);
  };
  const done = rows.length > 0 ? await writeCompletions(rows, write, opts.db === undefined) : [];
  // In statements of bounded result size, a result the database refuses replaced, as the rows' (results.ts).
  if (logged.length > 0) done.push(...(await writeCompletions(logged, (batch) => Log.complete(ctx, ctx.log!, workerId, batch, opts.db ?? ctx.pool), opts.db === undefined)));
  if (done.length > 0 && ctx.publisher.active && committed(opts.db)) await publishSucceeded(ctx, items, done);
  return done;
}

/** The `succeeded` events of the claims `done`, in the items' order; jobs given without `job` are read (one statement). */
async function publishSucceeded(ctx: QueueContext, items: CompleteItem[], done: number[]): Promise<void> {
  const held = new Set(done);
  const finished = items.filter((i) => held.has(i.claimSeq));
  const unknown = finished.filter((i) => i.job === undefined).map((i) => i.id);
  const read = new Map<string, EventSubject>();
  if (unknown.length > 0) {
    const rows = await Events.watchedStates(ctx.pool, { ids: unknown }).catch(() => []);
    for (const r of rows) read.set(r.id, { id: r.id, queue: r.queue, kind: r.kind, group: r.group_key, attempts: r.attempts });
  }
  const at = eventTime(ctx.now());
  for (const i of finished) {
    const job = i.job ?? read.get(i.id);
    if (job) ctx.publisher.publish(jobEvent('succeeded', job, 'succeeded', at));
  }
}

export interface FailOptions extends WorkerWriteOptions {
  /** Fail for good (a PermanentError), whatever the attempts left. */
  permanent?: boolean;
  /** The delay before this attempt (`ClaimedJob.backoffMs`); read from the job when not given. */
  previousDelayMs?: number | null;
  /** When the worker started it (epoch ms), for a job claimed ahead of a free slot (as `CompleteItem.launchedAtMs`). */
  launchedAtMs?: number;
}

/** See Queue.markFailedOrRetry. */
export async function markFailedOrRetry(ctx: QueueContext, id: string, error: unknown, opts: FailOptions = {}): Promise<Job> {
  const log = logClaim(ctx, id, opts) ?? (await logClaimOf(ctx, id, opts));
  if (log) {
    const delayMs = nextDelay(opts.previousDelayMs !== undefined ? opts.previousDelayMs : log.backoffMs ?? null, ctx.backoff, ctx.random);
    const launchedAtMs = isInstant(opts.launchedAtMs) ? opts.launchedAtMs : null;
    const job = await Log.fail(ctx, ctx.log!, log, log.workerId, { error: errorText(error), permanent: opts.permanent ?? false, delayMs, launchedAtMs }, opts.db);
    return finished(ctx, job ?? (await notHeld(ctx, id, 'fail', opts)), opts);
  }
  let previous = opts.previousDelayMs;
  if (previous === undefined && isUuid(id)) {
    const [row] = await SQL.backoffOf(opts.db ?? ctx.pool, { id });
    previous = row?.backoff_ms ?? null;
  }
  const delayMs = nextDelay(previous, ctx.backoff, ctx.random);
  const params = { ...held(ctx, id, opts), error: errorText(error), permanent: opts.permanent ?? false, delayMs, launchedAtMs: isInstant(opts.launchedAtMs) ? opts.launchedAtMs : null };
  return finished(ctx, toJob(await transition(ctx, id, SQL.fail, params, opts)), opts);
}

/** See Queue.finalizeCancelled. */
export async function finalizeCancelled(ctx: QueueContext, id: string, opts: WorkerWriteOptions = {}): Promise<Job> {
  const log = logClaim(ctx, id, opts) ?? (await logClaimOf(ctx, id, opts));
  if (log) {
    const job = await Log.finalizeCancelled(ctx, ctx.log!, log, log.workerId, opts.db);
    return finished(ctx, job ?? (await notHeld(ctx, id, 'finalize_cancelled', opts)), opts);
  }
  return finished(ctx, toJob(await transition(ctx, id, SQL.finalizeCancelled, held(ctx, id, opts), opts)), opts);
}

/** See Queue.requestCancel. */
export async function requestCancel(ctx: QueueContext, id: string, opts: WriteOptions = {}): Promise<CancelOutcome> {
  if (!isUuid(id)) throw notFound(id);
  const db = opts.db ?? ctx.pool;
  const [row] = await SQL.cancel(db, { id, now: ctx.now() });
  if (row) {
    const job = toJob(row);
    if (row.prev_status !== 'running') return { outcome: 'cancelled', job: finished(ctx, job, opts) };
    await SQL.notifyCancel(db, { id });
    return { outcome: 'cancel_requested', job };
  }
  const [current] = await Reads.get(opts.db ?? ctx.readPool, { id });
  if (!current) {
    const logged = ctx.log ? await Log.requestCancel(ctx, id, db) : null;
    if (!logged) throw notFound(id);
    if (logged.outcome === 'cancelled') return { outcome: 'cancelled', job: finished(ctx, logged.job, opts) };
    if (logged.outcome === 'requested') return { outcome: 'cancel_requested', job: logged.job };
    return { outcome: 'already_terminal', status: logged.job.status as 'succeeded' | 'failed_permanent' | 'cancelled', job: logged.job };
  }
  const job = toJob(current);
  if (!isTerminal(job.status)) return requestCancel(ctx, id, opts); // changed under us: decide again
  return { outcome: 'already_terminal', status: job.status, job };
}

/** See Queue.retry. */
export async function retry(ctx: QueueContext, id: string, opts: WriteOptions = {}): Promise<Job> {
  if (ctx.log && isUuid(id) && (await Reads.statusOf(opts.db ?? ctx.pool, { id })).length === 0) {
    const job = await Log.retry(ctx, id, opts.db ?? ctx.pool);
    if (!job) throw notFound(id);
    publishAll(ctx.publisher, ctx.now(), 'enqueued', [job], null, opts.db);
    return job;
  }
  try {
    const job = toJob(await transition(ctx, id, SQL.retry, { id, now: ctx.now() }, opts));
    publishAll(ctx.publisher, ctx.now(), 'enqueued', [job], null, opts.db);
    return job;
  } catch (err) {
    throw (await keyTaken(opts.db ?? ctx.pool, id, err)) ?? err;
  }
}

/**
 * A retry that would make a job hold its singleton key while another unfinished job holds it, or its
 * debounce key while another job with it waits unclaimed, breaks that key's unique index (migration
 * 0012): it is an invalid_transition naming the other job. Null for any other error.
 */
async function keyTaken(db: Queryable, id: string, err: unknown): Promise<JobqError | null> {
  const cause = isJobqError(err, 'internal') ? (err.cause as { code?: unknown; constraint?: unknown } | undefined) : undefined;
  if (cause?.code !== UNIQUE_VIOLATION || !KEY_INDEXES.has(String(cause.constraint))) return null;
  // Inside a caller's transaction the violation aborted it: the look-up then fails, and the error says less.
  const [holder] = await Keyed.keyHolder(db, { id }).catch(() => []);
  const which = holder ? `${holder.key} "${holder.value}" is held by job ${holder.id}` : 'its singleton or debounce key is held by another job';
  return new JobqError('invalid_transition', `cannot retry job ${id}: ${which}`, [
    { path: `/${holder?.key ?? 'singleton_key'}`, message: holder ? `held by job ${holder.id}` : 'held by another job', ...(holder && { job_id: holder.id }) },
  ]);
}

const UNIQUE_VIOLATION = '23505';
const KEY_INDEXES = new Set(['jobs_singleton_key_idx', 'jobs_debounce_key_idx']);

/** A log job's claim as a transition names it, with the delay before this attempt when known. */
type LogClaimRef = ClaimRef & { workerId: string; backoffMs?: number | null };

/** The log claim a worker's transition names (`opts.claimSeq` negative, with the log store on), or null. */
function logClaim(ctx: QueueContext, id: string, opts: WorkerWriteOptions): LogClaimRef | null {
  if (ctx.log === null || opts.claimSeq === undefined || !Log.isLogClaim(opts.claimSeq)) return null;
  if (!isUuid(id)) throw notFound(id);
  if (opts.workerId === undefined) throw new JobqError('validation_failed', 'a claim of the log store is named by its worker and its claim');
  return { id, claimSeq: opts.claimSeq, workerId: opts.workerId };
}

/**
 * For a transition named by the job's id alone (no claimSeq), with the log store on: the claim that holds
 * the log job running, when `opts.workerId` (if given) is its worker; null for any other job (a row's
 * transition needs no claim). Its delay before this attempt comes along, for the next backoff.
 */
async function logClaimOf(ctx: QueueContext, id: string, opts: WorkerWriteOptions): Promise<LogClaimRef | null> {
  if (ctx.log === null || opts.claimSeq !== undefined || !isUuid(id)) return null;
  const [c] = await LogSQL.claimOf(opts.db ?? ctx.pool, { id });
  if (!c || (opts.workerId !== undefined && opts.workerId !== c.worker)) return null;
  return { id, claimSeq: c.claim_seq, workerId: c.worker, backoffMs: c.backoff_ms };
}

/** Why a log transition changed nothing: not_found, or invalid_transition with the job's status. */
async function notHeld(ctx: QueueContext, id: string, action: string, opts: WorkerWriteOptions): Promise<never> {
  const job = await Log.getLogged(id, opts.db ?? ctx.pool);
  if (!job) throw notFound(id);
  const other = opts.workerId && job.status === 'running' ? ` held by another claim than ${opts.claimSeq} of ${opts.workerId}` : '';
  throw new JobqError('invalid_transition', `cannot ${action} job ${id}: it is ${job.status}${other}`, [{ path: '/status', message: `is ${job.status}`, status: job.status }]);
}

/** The guard of a worker's single-job transition (statements/guards.ts HELD). */
function held(ctx: QueueContext, id: string, opts: WorkerWriteOptions): SQL.HeldParams {
  return { id, workerId: opts.workerId ?? null, claimSeq: opts.claimSeq ?? null, now: ctx.now() };
}

/** Runs a guarded transition; when it changed nothing, says why: not_found or invalid_transition. */
async function transition<P>(ctx: QueueContext, id: string, stmt: Statement<P, JobRow>, params: P, opts: WorkerWriteOptions): Promise<JobRow> {
  if (!isUuid(id)) throw notFound(id);
  const db = opts.db ?? ctx.pool;
  const [row] = await stmt(db, params);
  if (row) return row;
  const [current] = await Reads.statusOf(db, { id });
  const action = stmt.name.replace(/^jobq_/, '');
  if (!current) {
    if (ctx.log) await notHeld(ctx, id, action, opts); // a log job: says its status
    throw notFound(id);
  }
  const other = opts.workerId && current.status === 'running' ? ` held by another worker than ${opts.workerId}` : '';
  throw new JobqError('invalid_transition', `cannot ${action} job ${id}: it is ${current.status}${other}`, [
    { path: '/status', message: `is ${current.status}`, status: current.status },
  ]);
}

/** A transition's job: emits `cancelled` if it made it so, and publishes the event of its new status. */
function finished(ctx: QueueContext, job: Job, opts: WriteOptions): Job {
  emitCancelled(ctx, [job]);
  if (ctx.publisher.active) publishOutcomes(ctx.publisher, ctx.now(), [job], opts.db);
  return job;
}


/** Epoch ms PostgreSQL can store (1970..9999): a caller's NaN or out-of-range start is dropped, never fails the outcome it came with. */
function isInstant(ms: number | undefined): ms is number {
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 && ms < 253_402_300_800_000;
}
