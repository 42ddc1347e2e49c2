/**
 * The job lifecycle: the one module that changes jobs. API and workers call it and nothing else;
 * it is also the library face of the package. See docs/lifecycle.md for the state diagram.
 */
import { EventEmitter } from 'node:events';
import type pg from 'pg';
import type { KindRegistry } from '../kinds/registry.ts';
import { type BackoffPolicy, DEFAULT_BACKOFF, nextDelay, type RandomSource, validatePolicy } from './backoff.ts';
import { JobqError } from '../errors.ts';
import type { Retention } from './retention.ts';
import { checkout } from './checkout.ts';
import { type ClaimRef, claimSet, type ClaimsHeartbeat, renewClaims, renewWorker } from './leases.ts';
import { run } from './db.ts';
import { Enqueuer } from './enqueue.ts';
import { LIST_SCAN_ROWS, type ListBounds, type ListRow, listValues, PAGE_BYTES, pageOf } from './list.ts';
import { type ClaimedRow, errorText, isUuid, type JobRow, toClaimedJob, toJob } from './rows.ts';
import { claimResultsParam, type Completion, resultJson, resultsParam, writeCompletions } from './results.ts';
import * as SQL from './sql.ts';
import {
  type CancelOutcome,
  type ClaimedJob,
  type EnqueueResult,
  type HeartbeatResult,
  isTerminal,
  type Job,
  JOB_STATUSES,
  type JobPage,
  TERMINAL_STATUSES,
  type JobStatus,
  type ListFilter,
  type NewJob,
  type Queryable,
  type QueueStats,
  type StatusCounts,
  type WorkerWriteOptions,
  type WriteOptions,
} from './types.ts';

export interface QueueOptions {
  pool: pg.Pool;
  kinds: KindRegistry;
  backoff?: BackoffPolicy;
  /** Random source of the backoff jitter (tests pass a seeded one). */
  random?: RandomSource;
  /** The time the database should take as "now"; by default the database's own clock. */
  clock?: () => Date;
  /**
   * Where `get` and `list` run (the API's reads): a pool whose connections have a short
   * statement_timeout, so that a read nobody waits for any more is stopped by the database, and whose
   * connections reads cannot take from writes. Default `pool`.
   */
  readPool?: pg.Pool;
  /** Bounds of one `list` page (see list.ts). Default LIST_SCAN_ROWS rows examined, PAGE_BYTES bytes. */
  listBounds?: Partial<ListBounds>;
}

export interface QueueEvents {
  enqueued: [{ job: Job; isNew: boolean }];
  claimed: [{ jobs: Pick<Job, 'id' | 'kind' | 'queue'>[]; workerId: string }];
  recovered: [{ jobs: Job[] }];
  pruned: [{ count: number }];
  /**
   * Jobs that became cancelled, by whichever transition: an API cancel of a waiting job, a worker
   * finalizing a running or buffered one, a failed attempt or a release that found a cancel request,
   * recovery of a lost one with a cancel request. Each cancellation is emitted exactly once.
   */
  cancelled: [{ jobs: Pick<Job, 'id' | 'kind' | 'queue'>[] }];
}

export interface ClaimOptions extends WriteOptions {
  /** How many jobs at most. Default 1. */
  limit?: number;
  /** Only these queues; default all. */
  queues?: string[];
  /** Only these kinds (a worker claims only what it has handlers for); default all. */
  kinds?: string[];
  /**
   * Continue after this job (the last of the previous claim), within its priority: the scan starts
   * there instead of stepping over dead index entries from the front. See migrations/0004.
   */
  after?: Pick<Job, 'priority' | 'runAt' | 'id'>;
  /**
   * How many of the claimed jobs start now (default all). The rest wait in the worker's buffer; record
   * their starts with `markStartedThrough`, so that losing the worker gives back only unstarted ones' attempts.
   */
  started?: number;
}

export { MAX_BATCH } from './enqueue.ts';

const RECOVER_BATCH = 1000;
/** A worker's row in jobq.workers (its start watermark) outlives its last write by this much. */
const WORKER_ROW_RETENTION_MS = 3_600_000;
/** Claim numbers leave 20 bits for the position within a claim (migrations/0006). */
const MAX_CLAIM = 1_048_575;

export class Queue {
  readonly events = new EventEmitter<QueueEvents>();
  readonly kinds: KindRegistry;
  readonly #pool: pg.Pool;
  readonly #readPool: pg.Pool;
  readonly #listBounds: ListBounds;
  readonly #backoff: BackoffPolicy;
  readonly #random: RandomSource;
  readonly #clock: (() => Date) | undefined;
  readonly #enqueuer: Enqueuer;

  constructor(options: QueueOptions) {
    this.#pool = options.pool;
    this.#readPool = options.readPool ?? options.pool;
    this.#listBounds = { scanRows: LIST_SCAN_ROWS, pageBytes: PAGE_BYTES, ...options.listBounds };
    this.kinds = options.kinds;
    this.#backoff = validatePolicy(options.backoff ?? DEFAULT_BACKOFF);
    this.#random = options.random ?? Math.random;
    this.#clock = options.clock;
    this.#enqueuer = new Enqueuer({
      pool: this.#pool,
      kinds: this.kinds,
      now: () => this.#now(),
      onEnqueued: (r) => this.events.emit('enqueued', r),
    });
  }

  /**
   * Enqueues one job. Concurrent calls (without `opts.db`) share statements: while one insert is on
   * its way, the jobs enqueued meanwhile go together in the next, each caller still getting its own
   * result or error. At rest a call is a single statement, as before.
   */
  enqueue(job: NewJob, opts: WriteOptions = {}): Promise<EnqueueResult> {
    return this.#enqueuer.one(job, opts);
  }

  /**
   * Inserts up to 1,000 jobs, all or nothing, and returns them in input order. A job whose idempotency
   * key exists already comes back as that job with `isNew: false`; with another kind or payload the
   * whole batch fails with `idempotency_conflict`. With `opts.db`, run it inside your transaction.
   */
  enqueueMany(jobs: NewJob[], opts: WriteOptions = {}): Promise<EnqueueResult[]> {
    return this.#enqueuer.many(jobs, opts);
  }

  /** Claims up to `limit` runnable jobs for `workerId`: highest priority, then oldest run_at, first. */
  async claim(workerId: string, opts: ClaimOptions = {}): Promise<Job[]> {
    const rows = await this.#rows(SQL.CLAIM, this.#claimValues(workerId, opts), opts.db);
    return this.#claimed(workerId, rows.map(toJob));
  }

  /** `claim`, returning only what a worker needs to run the jobs (cheaper to read: the worker's claim). */
  async claimToRun(workerId: string, opts: ClaimOptions = {}): Promise<ClaimedJob[]> {
    const rows = await this.#rows<ClaimedRow>(SQL.CLAIM_TO_RUN, this.#claimValues(workerId, opts), opts.db);
    return this.#claimed(workerId, rows.map(toClaimedJob));
  }

  #claimValues(workerId: string, opts: ClaimOptions): unknown[] {
    const limit = opts.limit ?? 1;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_CLAIM) {
      throw new JobqError('validation_failed', `claim limit must be an integer from 1 to ${MAX_CLAIM}`);
    }
    const queues = opts.queues && opts.queues.length > 0 ? opts.queues : null;
    const kinds = opts.kinds && opts.kinds.length > 0 ? opts.kinds : null;
    const a = opts.after;
    // A claim of its own (not inside the caller's transaction) need not wait for its WAL flush (0008).
    const async = opts.db === undefined;
    return [workerId, limit, queues, this.#now(), kinds, a?.priority ?? null, a?.runAt ?? null, a?.id ?? null, opts.started ?? null, async];
  }

  /** In claim order (RETURNING promises none): the last one is where the next claim's cursor starts. */
  #claimed<J extends Pick<Job, 'id' | 'kind' | 'queue' | 'priority' | 'runAt'>>(workerId: string, jobs: J[]): J[] {
    jobs.sort((a, b) => b.priority - a.priority || +a.runAt - +b.runAt || (a.id < b.id ? -1 : 1));
    if (jobs.length > 0) this.events.emit('claimed', { jobs, workerId });
    return jobs;
  }

  async fetchNext(workerId: string, opts: ClaimOptions = {}): Promise<Job | null> {
    const [job] = await this.claim(workerId, { ...opts, limit: 1 });
    return job ?? null;
  }

  /**
   * Records that `workerId` has started every buffered job of its claims up to `claimSeq` (a
   * `ClaimedJob.claimSeq`; it starts them in claim order), so that losing the worker counts their attempt.
   */
  async markStartedThrough(workerId: string, claimSeq: number, opts: WriteOptions = {}): Promise<void> {
    await this.#exec(SQL.MARK_STARTED_THROUGH, [workerId, claimSeq, this.#now()], opts.db);
  }

  /** running → succeeded, storing `result` (any value; made storable as results.ts describes). */
  async markSucceeded(id: string, result?: unknown, opts: WorkerWriteOptions = {}): Promise<Job> {
    const rows = await this.#transition(id, SQL.COMPLETE, [id, resultJson(result) ?? null, opts.workerId ?? null, this.#now(), opts.claimSeq ?? null], opts);
    return toJob(rows);
  }

  /**
   * Completes many running jobs of `workerId` in one statement. Returns the ids it completed; a job
   * missing from the result was no longer held by this worker (recovered, cancelled, released).
   * Results are made storable (results.ts): a result the database would refuse, or a huge one, is
   * stored altered and marked, and never fails the other jobs of the batch.
   */
  async completeMany(workerId: string, items: { id: string; result?: unknown }[], opts: WriteOptions = {}): Promise<string[]> {
    if (items.length === 0) return [];
    const rows: Completion[] = [];
    for (const { id, result } of items) if (isUuid(id)) rows.push({ id, json: resultJson(result) });
    const write = async (batch: Completion[]) =>
      (await this.#rows<{ id: string }>(SQL.COMPLETE_MANY, [batch.map((r) => r.id), resultsParam(batch), workerId, this.#now(), null], opts.db)).map((r) => r.id);
    return writeCompletions(rows, write, opts.db === undefined);
  }

  /**
   * `completeMany` guarded by the claim: each item completes only while `workerId` still holds that
   * very claim (`ClaimedJob.claimSeq`), never a later attempt of the same job. Returns the claims it
   * completed. One statement, as completeMany (split, as there, only for size or an unstorable row).
   */
  async completeClaims(workerId: string, items: { id: string; claimSeq: number; result?: unknown }[], opts: WriteOptions = {}): Promise<number[]> {
    if (items.length === 0) return [];
    const rows: Completion[] = [];
    for (const { id, claimSeq, result } of items) if (isUuid(id)) rows.push({ id, claimSeq, json: resultJson(result) });
    const write = async (batch: Completion[]) => {
      const ids = [...new Set(batch.map((r) => r.id))];
      const done = await this.#rows<{ claim_seq: number }>(SQL.COMPLETE_MANY, [ids, null, workerId, this.#now(), claimResultsParam(batch)], opts.db);
      return done.map((r) => r.claim_seq);
    };
    return writeCompletions(rows, write, opts.db === undefined);
  }

  /**
   * A failed attempt of a running job: retrying after a decorrelated-jitter delay, or failed_permanent
   * when out of attempts or `permanent`, or cancelled when a cancel was requested meanwhile.
   */
  async markFailedOrRetry(
    id: string,
    error: unknown,
    opts: WorkerWriteOptions & { permanent?: boolean; previousDelayMs?: number | null } = {},
  ): Promise<Job> {
    let previous = opts.previousDelayMs;
    if (previous === undefined && isUuid(id)) {
      const [row] = await this.#rows<{ backoff_ms: number | null }>(SQL.BACKOFF_OF, [id], opts.db);
      previous = row?.backoff_ms ?? null;
    }
    const delay = nextDelay(previous, this.#backoff, this.#random);
    const values = [id, errorText(error), opts.permanent ?? false, opts.workerId ?? null, delay, this.#now(), opts.claimSeq ?? null];
    return this.#cancelledOne(toJob(await this.#transition(id, SQL.FAIL, values, opts)));
  }

  /** running (with a cancel request) → cancelled: the worker saw the request and stopped the handler. */
  async finalizeCancelled(id: string, opts: WorkerWriteOptions = {}): Promise<Job> {
    return this.#cancelledOne(toJob(await this.#transition(id, SQL.FINALIZE_CANCELLED, [id, opts.workerId ?? null, this.#now(), opts.claimSeq ?? null], opts)));
  }

  /** Cancels a waiting job at once, flags a running one for its worker, and reports a finished one. */
  async requestCancel(id: string, opts: WriteOptions = {}): Promise<CancelOutcome> {
    if (!isUuid(id)) throw notFound(id);
    const [row] = await this.#rows<JobRow & { prev_status: JobStatus }>(SQL.CANCEL, [id, this.#now()], opts.db);
    if (row) {
      const job = toJob(row);
      if (row.prev_status !== 'running') return { outcome: 'cancelled', job: this.#cancelledOne(job) };
      await this.#rows(SQL.NOTIFY_CANCEL, [id], opts.db);
      return { outcome: 'cancel_requested', job };
    }
    const job = await this.get(id, opts);
    if (!job) throw notFound(id);
    if (!isTerminal(job.status)) return this.requestCancel(id, opts); // changed under us: decide again
    return { outcome: 'already_terminal', status: job.status, job };
  }

  /** failed_permanent or cancelled → queued, with its attempts reset. */
  async retry(id: string, opts: WriteOptions = {}): Promise<Job> {
    return toJob(await this.#transition(id, SQL.RETRY, [id, this.#now()], opts));
  }

  /** Renews the lease on this worker's running jobs; says which have a cancel request and which it lost. */
  async heartbeat(workerId: string, ids: string[], opts: WriteOptions = {}): Promise<HeartbeatResult> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return { cancelRequested: [], lost: [...ids] };
    const rows = await this.#rows<{ id: string; cancel_requested: boolean }>(SQL.HEARTBEAT, [workerId, valid, this.#now(), null], opts.db);
    const held = new Set(rows.map((r) => r.id));
    return {
      cancelRequested: rows.filter((r) => r.cancel_requested).map((r) => r.id),
      lost: ids.filter((id) => !held.has(id)),
    };
  }

  /** Gives this worker's unfinished jobs back (to queued, attempt not spent); returns those released. */
  async release(workerId: string, ids: string[], opts: WriteOptions = {}): Promise<Job[]> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return [];
    const jobs = (await this.#rows(SQL.RELEASE, [workerId, valid, this.#now(), null], opts.db)).map(toJob);
    this.#emitCancelled(jobs);
    return jobs;
  }

  /** Renews the lease of exactly these claims of `workerId` (ClaimedJob.claimSeq): `heartbeat` by claim. */
  renewClaims(workerId: string, claims: ClaimRef[], opts: WriteOptions = {}): Promise<ClaimsHeartbeat> {
    return renewClaims(opts.db ?? this.#pool, workerId, claims, this.#now());
  }

  /** `release` by claim: gives back only these claims, never a later attempt of the same job. */
  async releaseClaims(workerId: string, claims: ClaimRef[], opts: WriteOptions = {}): Promise<Job[]> {
    if (claims.length === 0) return [];
    const ids = [...new Set(claims.map((c) => c.id).filter(isUuid))];
    const jobs = (await this.#rows(SQL.RELEASE, [workerId, ids, this.#now(), claimSet(claims)], opts.db)).map(toJob);
    this.#emitCancelled(jobs);
    return jobs;
  }

  /**
   * Takes the id `workerId` for the Worker object `instance` (a random token) for `aliveMs`, unless a
   * live worker holds it (its registration renewed within its own lease). Returns null when taken, or
   * how long the holder's registration has left. See migrations/0009.
   */
  async registerWorker(workerId: string, instance: string, aliveMs: number): Promise<{ heldForMs: number } | null> {
    const taken = await this.#rows(SQL.REGISTER_WORKER, [workerId, instance, aliveMs, this.#now()]);
    if (taken.length > 0) return null;
    const [holder] = await this.#rows<{ remaining_ms: number | null }>(SQL.WORKER_HOLDER, [workerId, this.#now()]);
    return { heldForMs: Math.max(0, Math.round(holder?.remaining_ms ?? 0)) };
  }

  /** Keeps `workerId` registered to `instance` for another `aliveMs`; false when another instance took the id. */
  renewWorker(workerId: string, instance: string, aliveMs: number): Promise<boolean> {
    return renewWorker(this.#pool, workerId, instance, aliveMs, this.#now());
  }

  /** The worker `instance` stopped: its id is free for the next one at once. */
  async unregisterWorker(workerId: string, instance: string): Promise<void> {
    await this.#exec(SQL.UNREGISTER_WORKER, [workerId, instance, this.#now()]);
  }

  /** Running jobs whose lease is older than `staleAfterMs` lost their worker: retry or fail them. Returns how many. */
  async recoverStale(staleAfterMs: number, opts: WriteOptions = {}): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = await this.#rows(SQL.RECOVER, [staleAfterMs, RECOVER_BATCH, this.#now()], opts.db);
      total += rows.length;
      if (rows.length > 0) {
        const jobs = rows.map(toJob);
        this.events.emit('recovered', { jobs });
        this.#emitCancelled(jobs);
      }
      if (rows.length < RECOVER_BATCH) return total;
    }
  }

  /**
   * Deletes finished jobs older than their status's retention, in batches of `batch` (each its own
   * short statement), for at most `budgetMs`. Frees their idempotency keys. Returns how many.
   */
  async prune(retention: Retention, opts: WriteOptions & { batch?: number; budgetMs?: number } = {}): Promise<number> {
    const batch = opts.batch ?? 1000;
    const until = Date.now() + (opts.budgetMs ?? 1_000);
    let total = 0;
    for (const status of TERMINAL_STATUSES) {
      const keepMs = retention[status];
      if (keepMs === null) continue;
      for (;;) {
        const res = await this.#exec(SQL.PRUNE, [status, keepMs, batch, this.#now()], opts.db);
        total += res;
        if (res < batch || Date.now() > until) break;
      }
    }
    if (total > 0) this.events.emit('pruned', { count: total });
    return total;
  }

  /**
   * The fleet's housekeeping: every worker process calls it on a timer, but only the one that gets the
   * advisory lock does the work (the others skip their turn). Recovers jobs of lost workers, then
   * prunes by `retention`. Returns null when another process is sweeping.
   */
  async sweep(staleAfterMs: number, retention?: Retention): Promise<{ recovered: number; pruned: number } | null> {
    const client = await this.#connect();
    let holding = false;
    try {
      const [lock] = await this.#rows<{ locked: boolean }>(SQL.SWEEP_LOCK_SESSION, [String(Math.max(1_000, staleAfterMs))], client);
      if (!lock?.locked) return null;
      holding = true;
      try {
        const recovered = await this.recoverStale(staleAfterMs, { db: client });
        await this.#exec(SQL.PRUNE_WORKERS, [Math.max(staleAfterMs, WORKER_ROW_RETENTION_MS), this.#now()], client);
        const pruned = retention ? await this.prune(retention, { db: client }) : 0;
        return { recovered, pruned };
      } finally {
        const [unlock] = await this.#rows<{ unlocked: boolean }>(SQL.SWEEP_UNLOCK_SESSION, [], client).catch(() => []);
        if (unlock?.unlocked) holding = false;
      }
    } finally {
      // A session whose unlock failed (timed out, refused) still holds the lock: put back into the pool,
      // it would keep every other process from sweeping for as long as it lives. Destroying the client
      // ends the session, and with it the lock.
      client.release(holding ? new Error('the sweep lock could not be released') : undefined);
    }
  }

  async get(id: string, opts: WriteOptions = {}): Promise<Job | null> {
    if (!isUuid(id)) return null;
    const [row] = await this.#rows(SQL.GET, [id], opts.db ?? this.#readPool);
    return row ? toJob(row) : null;
  }

  /**
   * Newest first, `limit` per page (1..500, default 50); pass `nextCursor` back for the next page. A
   * page examines a bounded number of rows and bytes, so it may hold fewer jobs than `limit` (even none)
   * while `nextCursor` is not null: walk until it is (see list.ts).
   */
  async list(filter: ListFilter = {}, opts: WriteOptions = {}): Promise<JobPage> {
    const { values, limit } = listValues(filter, this.#listBounds);
    return pageOf(await this.#rows<ListRow>(SQL.LIST, values, opts.db ?? this.#readPool), limit);
  }

  /** Counts by status, by kind and by queue, and the age of the oldest runnable job. */
  async stats(opts: WriteOptions = {}): Promise<QueueStats> {
    const [counts, oldest] = await Promise.all([
      this.#rows<{ queue: string; kind: string; status: JobStatus; n: number }>(SQL.COUNTS, [], opts.db),
      this.#rows<{ queue: string; age: number }>(SQL.OLDEST_RUNNABLE, [this.#now()], opts.db),
    ]);
    const stats: QueueStats = { byStatus: zeroCounts(), byKind: {}, byQueue: {}, oldestRunnableAgeSeconds: 0, oldestRunnableAgeSecondsByQueue: {} };
    for (const { queue, kind, status, n } of counts) {
      stats.byStatus[status] += n;
      (stats.byKind[kind] ??= zeroCounts())[status] += n;
      (stats.byQueue[queue] ??= zeroCounts())[status] += n;
      stats.oldestRunnableAgeSecondsByQueue[queue] = 0;
    }
    for (const { queue, age } of oldest) {
      stats.oldestRunnableAgeSecondsByQueue[queue] = Math.max(0, age);
      stats.oldestRunnableAgeSeconds = Math.max(stats.oldestRunnableAgeSeconds, age);
    }
    return stats;
  }

  /** Runs a guarded transition; when it changed nothing, says why: not_found or invalid_transition. */
  async #transition(id: string, stmt: SQL.Statement, values: unknown[], opts: WorkerWriteOptions): Promise<JobRow> {
    if (!isUuid(id)) throw notFound(id);
    const [row] = await this.#rows(stmt, values, opts.db);
    if (row) return row;
    const [current] = await this.#rows<{ status: JobStatus }>(SQL.STATUS_OF, [id], opts.db);
    if (!current) throw notFound(id);
    const action = stmt.name.replace(/^jobq_/, '');
    const notHeld = opts.workerId && current.status === 'running' ? ` held by another worker than ${opts.workerId}` : '';
    throw new JobqError('invalid_transition', `cannot ${action} job ${id}: it is ${current.status}${notHeld}`, [
      { path: '/status', message: `is ${current.status}`, status: current.status },
    ]);
  }

  async #exec(stmt: SQL.Statement, values: unknown[], db?: Queryable): Promise<number> {
    return (await run(db ?? this.#pool, stmt, values)).rowCount ?? 0;
  }

  async #rows<R = JobRow>(stmt: SQL.Statement, values: unknown[], db?: Queryable): Promise<R[]> {
    return (await run<R>(db ?? this.#pool, stmt, values)).rows;
  }

  #connect(): Promise<pg.PoolClient> {
    return checkout(this.#pool);
  }

  /** Emits `cancelled` for those of `jobs` (what a transition returned) that it made cancelled. */
  #emitCancelled(jobs: Job[]): void {
    if (this.events.listenerCount('cancelled') === 0) return;
    const cancelled = jobs.filter((j) => j.status === 'cancelled');
    if (cancelled.length > 0) this.events.emit('cancelled', { jobs: cancelled });
  }

  #cancelledOne(job: Job): Job {
    this.#emitCancelled([job]);
    return job;
  }

  #now(): Date | null {
    return this.#clock ? this.#clock() : null;
  }
}

function notFound(id: string): JobqError {
  return new JobqError('not_found', `no job with id ${id}`);
}

function zeroCounts(): StatusCounts {
  return Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as StatusCounts;
}
