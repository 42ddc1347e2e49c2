/**
 * The log store's operations (docs/design/storage.md, "Stage 2"): what the Queue's modules call for a
 * job the log holds. A claim of the log has a negative claim_seq (statements.ts); each operation on
 * claims takes those, and the caller (transitions.ts, leases.ts, housekeeping.ts, reads.ts) the rest.
 * Every write is an INSERT but a renewal's (one batch row per claim batch) and the scheduled entries'.
 */
import { JobqError } from '../../errors.ts';
import type { QueueContext } from '../context.ts';
import { inTransaction } from '../db.ts';
import type { ClaimsHeartbeat, ClaimRef } from '../leases.ts';
import type { Job, JobPage, JobStatus, Queryable, StoredProgress } from '../types.ts';
import { toJob as rowJob } from '../rows.ts';
import { isUuid } from '../validate.ts';
import * as RowReads from '../statements/reads.ts';
import * as Reads from './reads.ts';
import * as SQL from './statements.ts';
import * as Sweep from './sweep.ts';
import { BusyQueues } from './busy.ts';

export { SEQ_SPAN } from './statements.ts';

/** Whether claim number `claimSeq` is a claim of the log (statements.ts). */
export const isLogClaim = (claimSeq: number): boolean => claimSeq < 0;

/** The log batch a log claim belongs to. */
export const batchOf = (claimSeq: number): number => Math.floor(-claimSeq / SQL.SEQ_SPAN);

/** What a Queue keeps of the log store: the log position of each claim this process holds, so that outcomes need not look it up. */
export class LogClaims {
  readonly #pos = new Map<number, { pos: string; id: string }>();
  /** Every plain job goes to the log (QueueOptions.logStore true), or only those of busy queues ('busy': `busy`). */
  readonly all: boolean;
  readonly busy: BusyQueues | null;

  constructor(mode: true | 'busy' = true) {
    this.all = mode === true;
    this.busy = mode === 'busy' ? new BusyQueues() : null;
  }

  set(claimSeq: number, id: string, pos: string): void {
    this.#pos.set(claimSeq, { pos, id });
  }

  /** The claims' items for a statement (statements.ts ClaimItems); `forget`: the claims end with it. */
  items(workerId: string, claims: readonly ClaimRef[], now: Date | null, forget: boolean): SQL.ClaimItems {
    const out: SQL.ClaimItems = { workerId, batches: [], pos: [], ids: [], claims: [], now };
    for (const c of claims) {
      out.batches.push(batchOf(c.claimSeq));
      const known = this.#pos.get(c.claimSeq);
      out.pos.push(known?.id === c.id ? known.pos : null); // a claim named with another job's id: checked in SQL
      out.ids.push(c.id);
      out.claims.push(c.claimSeq);
      if (forget) this.#pos.delete(c.claimSeq);
    }
    return out;
  }

  /** Whether this process holds claim `claimSeq` of job `id` (it claimed it and has not ended it). */
  knows(claimSeq: number, id: string): boolean {
    return this.#pos.get(claimSeq)?.id === id;
  }

  forget(claimSeqs: Iterable<number>): void {
    for (const s of claimSeqs) this.#pos.delete(s);
  }
}

export function toJob(r: Reads.DerivedRow & { status: JobStatus }): Job {
  const last = r.errors.at(-1);
  return {
    id: r.id, queue: r.queue, kind: r.kind, payload: r.payload, status: r.status, priority: 0, attempts: r.attempts,
    maxAttempts: r.max_attempts, runAt: r.run_at, timeoutMs: r.timeout_ms, lockedBy: r.locked_by, lockedAt: r.locked_at,
    startedAt: r.started_at, claimSeq: r.claim_seq, cancelRequested: r.cancel_requested && r.status === 'running', idempotencyKey: null, group: null,
    singletonKey: null, debounceKey: null, dependsOn: null, onParentFailure: null, lastError: last?.error ?? null, errors: r.errors.map((e) => ({ ...e })),
    backoffMs: r.backoff_ms, result: r.result ?? null, createdAt: r.created_at, updatedAt: r.finished_at ?? r.locked_at ?? (last ? new Date(last.at) : r.created_at),
    finishedAt: r.finished_at, progress: (r.status === 'running' || r.status === 'succeeded' ? r.progress : null) as StoredProgress | null,
  } as Job;
}

/** The job the log holds with this id, or null. */
export async function getLogged(id: string, db: Queryable): Promise<Job | null> {
  const [row] = await Reads.get(db, { id });
  return row && isJobStatus(row) ? toJob(row) : null;
}

/** A job after a log transition: as the log holds it, or the row it became (a parent given another attempt: log/parents.sql). */
async function afterTransition(id: string, db: Queryable): Promise<Job | null> {
  const logged = await getLogged(id, db);
  if (logged) return logged;
  const [row] = await RowReads.get(db, { id });
  return row ? rowJob(row) : null;
}

/** A derived job that the log still holds (not moved to the rows). */
function isJobStatus<R extends Reads.DerivedRow>(r: R): r is R & { status: JobStatus } {
  return r.status !== 'moved';
}

/** Completes log claims; returns the claims completed. `results`: each item's result JSON (undefined: none). */
export async function complete(
  ctx: QueueContext, claims: LogClaims, workerId: string, items: readonly (ClaimRef & { json: string | undefined; launchedAtMs?: number })[], db: Queryable,
): Promise<number[]> {
  const params = claims.items(workerId, items, ctx.now(), false);
  const rows = await SQL.complete(db, { ...params, results: items.map((i) => i.json ?? null), launched: items.map((i) => i.launchedAtMs ?? null) });
  claims.forget(items.map((i) => i.claimSeq)); // after the write: one that failed is tried again with them
  return rows.map((r) => r.claim_seq);
}

/**
 * `work` in the caller's transaction (`db` given), else in one of its own: a transition and the read of
 * the job it left, so that the job read is the one it made (not a later attempt another worker claimed).
 */
function atomically<T>(ctx: QueueContext, db: Queryable | undefined, work: (db: Queryable) => Promise<T>): Promise<T> {
  return db ? work(db) : inTransaction(ctx.pool, work);
}

/** A failed attempt of a log claim; the job as it is after, or null when the claim no longer holds it. */
export async function fail(
  ctx: QueueContext, claims: LogClaims, ref: ClaimRef, workerId: string, p: { error: string; permanent: boolean; delayMs: number; launchedAtMs: number | null },
  db: Queryable | undefined,
): Promise<Job | null> {
  return atomically(ctx, db, async (c) => {
    const rows = await SQL.fail(c, { ...claims.items(workerId, [ref], ctx.now(), true), ...p });
    return rows.length === 0 ? null : afterTransition(ref.id, c);
  });
}

/** A running log job that saw its cancel request: cancelled. The job, or null when the claim no longer holds it (or no cancel was requested). */
export async function finalizeCancelled(ctx: QueueContext, claims: LogClaims, ref: ClaimRef, workerId: string, db: Queryable | undefined): Promise<Job | null> {
  return atomically(ctx, db, async (c) => {
    const rows = await SQL.finalizeCancelled(c, claims.items(workerId, [ref], ctx.now(), false));
    if (rows.length > 0) claims.forget([ref.claimSeq]);
    return rows.length === 0 ? null : afterTransition(ref.id, c);
  });
}

/**
 * Renews log claims: which it lost, and which have a cancel request. A batch is renewed as a whole (one
 * row); a claim this process did not make (or has ended) is held only if its entry is still open in
 * its batch under that job's id (checked in SQL, as completions check one).
 */
export async function renew(ctx: QueueContext, claims: readonly ClaimRef[], workerId: string, logClaims: LogClaims, db: Queryable): Promise<ClaimsHeartbeat> {
  const valid = claims.filter((c) => isUuid(c.id));
  const batches = [...new Set(valid.map((c) => batchOf(c.claimSeq)))];
  const rows = await SQL.renew(db, { workerId, batches, ids: [...new Set(valid.map((c) => c.id))], now: ctx.now() });
  const held = new Set<number>();
  const cancel = new Set<string>();
  for (const r of rows) {
    if (r.batch_id !== null) held.add(r.batch_id);
    else if (r.cancel_id !== null) cancel.add(r.cancel_id);
  }
  let holding = valid.filter((c) => held.has(batchOf(c.claimSeq)));
  const unknown = holding.filter((c) => !logClaims.knows(c.claimSeq, c.id));
  if (unknown.length > 0) {
    const open = new Set((await SQL.openClaims(db, { batches: unknown.map((c) => batchOf(c.claimSeq)), ids: unknown.map((c) => c.id), claims: unknown.map((c) => c.claimSeq) })).map((r) => r.claim_seq));
    holding = holding.filter((c) => logClaims.knows(c.claimSeq, c.id) || open.has(c.claimSeq));
  }
  const kept = new Set(holding.map((c) => c.claimSeq));
  const lost = claims.filter((c) => !kept.has(c.claimSeq)).map((c) => c.claimSeq);
  logClaims.forget(lost);
  return { cancelRequested: holding.filter((c) => cancel.has(c.id)).map((c) => c.claimSeq), lost };
}

/** Gives log claims back (or cancels those with a cancel request); returns the jobs as they are after. */
export async function release(ctx: QueueContext, logClaims: LogClaims, workerId: string, claims: readonly ClaimRef[], db: Queryable | undefined): Promise<Job[]> {
  return atomically(ctx, db, async (c) => {
    const rows = await SQL.release(c, logClaims.items(workerId, claims.filter((r) => isUuid(r.id)), ctx.now(), true));
    const jobs = [];
    for (const r of rows) jobs.push(await afterTransition(r.id, c));
    return jobs.filter((j): j is Job => j !== null);
  });
}

/** A running log job's progress, when the claim still holds it; null when it does not. */
export async function setProgress(
  ctx: QueueContext, logClaims: LogClaims, ref: ClaimRef, workerId: string, progress: string, db: Queryable,
): Promise<{ queue: string; kind: string; attempt: number } | null> {
  const [row] = await SQL.setProgress(db, { ...logClaims.items(workerId, [ref], ctx.now(), false), progress });
  return row ?? null;
}

/**
 * Batches whose lease lapsed: each unfinished entry is retried at once as a new entry (or failed for
 * good when out of attempts, or cancelled when a cancel was requested), and the batch is marked lost.
 * A sweep resumes after the last batch all of whose predecessors were examined (jobq.log_sweep), so
 * that it reads only the batches since. Returns the jobs recovered, as they are after.
 */
export async function recoverStale(ctx: QueueContext, staleAfterMs: number, db: Queryable | undefined): Promise<Job[]> {
  const ids: string[] = [];
  const work = async (c: Queryable) => {
    const [sweep] = await Sweep.sweepThrough(c, {});
    if (!sweep) return; // another process is recovering
    let through = sweep.through;
    let contiguous = true;
    for (const b of await Sweep.sweepBatches(c, { through, staleAfterMs, now: ctx.now() })) {
      if (b.stale && b.open) for (const r of await Sweep.recoverBatch(c, { batchId: b.batch_id, now: ctx.now() })) ids.push(r.id);
      contiguous &&= b.stale || !b.open;
      if (contiguous) through = b.batch_id;
    }
    await Sweep.setSweepThrough(c, { through });
  };
  if (db) await work(db);
  else await inTransaction(ctx.pool, work);
  const jobs = await Promise.all(ids.map((id) => afterTransition(id, db ?? ctx.pool)));
  return jobs.filter((j): j is Job => j !== null);
}

/** Cancels a log job (see jobq.log_request_cancel); null when the log does not hold it. */
export async function requestCancel(ctx: QueueContext, id: string, db: Queryable): Promise<{ outcome: 'cancelled' | 'requested' | 'already_terminal'; job: Job } | null> {
  const [row] = await SQL.cancel(db, { id, now: ctx.now() });
  if (!row || !isJobStatus(row)) return null;
  if (row.outcome === 'requested') await SQL.notifyCancel(db, { id });
  return { outcome: row.outcome, job: toJob(row) };
}

/** The operator's retry of a log job; null when the log does not hold it; invalid_transition when it is not failed or cancelled. */
export async function retry(ctx: QueueContext, id: string, db: Queryable): Promise<Job | null> {
  const [row] = await SQL.retry(db, { id, now: ctx.now() });
  if (!row || !isJobStatus(row)) return null;
  if (row.outcome !== 'retried') {
    throw new JobqError('invalid_transition', `cannot retry job ${id}: it is ${row.outcome}`, [{ path: '/status', message: `is ${row.outcome}`, status: row.outcome }]);
  }
  return toJob(row);
}

/**
 * A listing's page from the log, merged with the row store's `rows` page (both newest first by id,
 * below the same cursor). Each page says up to where it is complete: the rows page to its nextCursor
 * (or all the way), the log's to its edge (Reads.list: its last candidate when it filled its limit, or
 * higher, where a scan stopped for its budget). The merged page holds the
 * jobs above both bounds, newest first, at most `limit` and within `pageBytes` together (the first
 * always); its cursor is where it stops.
 */
export async function mergeList(
  rows: JobPage, filter: { status: string | null } & Reads.LogListParams, db: Queryable, encode: (id: string) => string, decode: (cursor: string) => string,
): Promise<JobPage> {
  const listed = await Reads.list(db, filter);
  const logged = listed.filter(Reads.isCandidate);
  const bounds: string[] = [];
  if (rows.nextCursor !== null) bounds.push(decode(rows.nextCursor));
  // Where the log's candidates are complete down to: their last when they fill the limit, but no
  // lower than where a scan of the log or of its scheduled entries stopped for its budget (a filter
  // may leave one short while the other fills the page with older ids; so may a budget below the limit).
  const edge = listed[0]?.edge ?? null;
  if (edge !== null) bounds.push(edge);
  const bound = bounds.length === 0 ? null : bounds.reduce((a, b) => (a > b ? a : b));
  // A moved job is a row now: the rows' page has it (or will, past its bound).
  const all = [
    ...rows.jobs.map((job) => ({ job, fits: true })),
    ...logged.filter(isJobStatus).filter((r) => filter.status === null || r.status === filter.status).map((r) => ({ job: toJob(r), fits: r.fits })),
  ]
    .filter((j) => bound === null || j.job.id >= bound)
    .sort((a, b) => (a.job.id < b.job.id ? 1 : a.job.id > b.job.id ? -1 : 0));
  // Both stores' jobs within the byte cap together (the first always): the page ends before the one past it.
  const page: Job[] = [];
  let bytes = 0;
  for (const { job, fits } of all) {
    const size = 512 + jsonBytes(job.payload) + jsonBytes(job.result) + jsonBytes(job.errors);
    if (page.length === filter.limit || (page.length > 0 && (!fits || bytes + size > filter.pageBytes))) {
      return { jobs: page, nextCursor: encode(page.at(-1)!.id) };
    }
    page.push(job);
    bytes += size;
  }
  return { jobs: page, nextCursor: bound === null ? null : encode(bound) };
}

/** The bytes of `value` as JSON text (as the listings' byte cap counts them). */
function jsonBytes(value: unknown): number {
  return value === null || value === undefined ? 0 : Buffer.byteLength(JSON.stringify(value));
}
