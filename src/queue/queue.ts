/**
 * The job lifecycle's one façade: API and workers call it and nothing else; it is also the library
 * face of the package. Each operation lives in a module of its own (enqueue.ts, claiming.ts,
 * leases.ts, transitions.ts, housekeeping.ts, reads.ts) and each statement in statements/. See
 * docs/lifecycle.md for the state diagram and which of these a worker calls.
 */
import { EventEmitter } from 'node:events';
import type pg from 'pg';
import type { KindRegistry } from '../kinds/registry.ts';
import type { BackoffPolicy, RandomSource } from './backoff.ts';
import { claim, claimLimited, type ClaimLimitedOptions, type ClaimOptions, type FlowState, markStartedThrough, type QueueThrottle } from './claiming.ts';
import { createContext, type QueueContext, type QueueEvents, withDb } from './context.ts';
import { Enqueuer } from './enqueue.ts';
import { publishAll } from './events/publish.ts';
import type { Publisher, PublisherOptions } from './events/publisher.ts';
import { parentsOf } from './flows.ts';
import { prune, type PruneOptions, recoverStale, sweep } from './housekeeping.ts';
import type { WorkerInfoParams } from './statements/leases.ts';
import { type ClaimRef, type ClaimsHeartbeat, registerWorker, release, renew, renewWorker, unregisterWorker } from './leases.ts';
import type { ListBounds } from './list.ts';
import { type FlowQueue, flowQueues, getQueue, listQueues, setQueue } from './policies.ts';
import { type ProgressOptions, type ProgressValue, setProgress } from './progress.ts';
import { get, list, stats } from './reads.ts';
import { QueueInsights } from './insights.ts';
import { QueueSchedules } from './queue-schedules.ts';
import type { Retention } from './retention.ts';
import { complete, type CompleteItem, type FailOptions, finalizeCancelled, markFailedOrRetry, requestCancel, retry } from './transitions.ts';
import type { CancelOutcome, ClaimedJob, ClaimedJobs, EnqueueResult, Job, JobPage, ListFilter, NewJob, QueueInfo, QueuePage, QueuePolicyPatch, QueueStats, ParentJob, WorkerWriteOptions, WriteOptions } from './types.ts';

export type { ClaimLimitedOptions, ClaimOptions, ClaimRef, ClaimsHeartbeat, CompleteItem, FailOptions, FlowQueue, FlowState, ProgressOptions, ProgressValue, PruneOptions, PublisherOptions, QueueEvents, QueueThrottle };
export { MAX_BATCH } from './enqueue.ts';

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
  /** The publisher of job events (events/publisher.ts): how often it re-checks for listeners, its buffer. */
  publish?: PublisherOptions;
  /** The schema jobq lives in (schema.ts; migrate it with the same name): default `jobq`. Binds the pools to it. */
  schema?: string;
  /**
   * Plain jobs go to the log store (docs/design/storage.md, "Stage 2"): priority 0, no group, no key,
   * no parents, in a queue without a policy; every other job stays a row. true: every plain job;
   * 'busy': those of busy queues (log/busy.ts), the rest rows; false: every job a row. Default 'busy'
   * (log/busy.ts DEFAULT_LOG_STORE).
   */
  logStore?: boolean | 'busy';
}

export class Queue {
  readonly events = new EventEmitter<QueueEvents>();
  readonly kinds: KindRegistry;
  readonly #ctx: QueueContext;
  readonly #enqueuer: Enqueuer;
  /** Recurring jobs: saving, reading and firing schedules (queue-schedules.ts; docs/schedules.md). */
  readonly schedules: QueueSchedules;
  /** Job events' publisher (docs/events.md): a process's LISTEN connection tells it of new listeners. */
  readonly publisher: Publisher;
  /** The dashboard's reads (insights.ts): workers, jobs finished per minute, a job's children. */
  readonly insights: QueueInsights;
  /** The schema this queue lives in; its NOTIFY channels are `channels(schema)`. */
  readonly schema: string;

  constructor(options: QueueOptions) {
    this.kinds = options.kinds;
    this.#ctx = createContext(options, this.events);
    this.schema = this.#ctx.schema;
    this.publisher = this.#ctx.publisher;
    this.#enqueuer = new Enqueuer({ ...this.#ctx, kinds: this.kinds, onEnqueued: (r) => this.events.emit('enqueued', r) });
    this.schedules = new QueueSchedules(this.#ctx, this.kinds, (job, o) => this.enqueue(job, o));
    this.insights = new QueueInsights(this.#ctx);
  }

  // --- Enqueue (enqueue.ts) ---

  /**
   * Enqueues one job. Concurrent calls (without `opts.db`) share statements: while one insert is on
   * its way, the jobs enqueued meanwhile go together in the next, each caller still getting its own
   * result or error. At rest a call is a single statement, as before. A job with a singleton or
   * debounce key takes a statement of its own and may be answered with an existing job (`outcome`;
   * docs/lifecycle.md, "Singleton and debounce keys"). A job with `dependsOn` waits for its parents, in a
   * transaction that locks them (docs/flows.md).
   */
  enqueue(job: NewJob, opts: WriteOptions = {}): Promise<EnqueueResult> {
    return this.#enqueuer.one(job, withDb(this.#ctx, opts));
  }

  /**
   * Inserts up to 1,000 jobs, all or nothing, and returns them in input order. A job whose idempotency
   * key exists already comes back as that job with `isNew: false`; with another kind or payload the
   * whole batch fails with `idempotency_conflict`. Jobs with a singleton or debounce key are answered
   * as `enqueue` would, one statement each, in order, in the batch's transaction; `dependsOn` may name
   * earlier entries as `#i`. With `opts.db`, run it inside your transaction.
   */
  enqueueMany(jobs: NewJob[], opts: WriteOptions = {}): Promise<EnqueueResult[]> {
    return this.#enqueuer.many(jobs, withDb(this.#ctx, opts));
  }

  // --- A worker's claims (claiming.ts, leases.ts) ---

  /**
   * Claims up to `limit` runnable jobs for `workerId`: highest priority, then oldest run_at, first.
   * Returns them in that order with what a worker needs to run them; pass the last as the next
   * claim's `after`. `more` on the result: it came back short, but more may be there (claim again now).
   */
  claim(workerId: string, opts: ClaimOptions = {}): Promise<ClaimedJobs> {
    return claim(this.#ctx, workerId, withDb(this.#ctx, opts));
  }

  /**
   * Claims from queues with a policy, or whose jobs carry a group, up to `limit` jobs in all: each
   * queue gives what its policy allows, its groups in turns, and every job claimed starts now (no
   * buffer). Says, for each queue that gave less than it was offered, why: empty, or the policy that
   * held jobs back (and for a rate, when the next start is allowed). See docs/flow-control.md.
   */
  claimLimited(workerId: string, opts: ClaimLimitedOptions): Promise<{ jobs: ClaimedJob[]; throttles: QueueThrottle[] }> {
    return claimLimited(this.#ctx, workerId, withDb(this.#ctx, opts));
  }

  /**
   * Records that `workerId` has started every buffered job of its claims up to `claimSeq` (a
   * `ClaimedJob.claimSeq`; it starts them in claim order), so that losing the worker counts their attempt.
   * Each store keeps its own mark: name the last started job of each (a log claim is negative).
   */
  markStartedThrough(workerId: string, claimSeq: number, opts: WriteOptions = {}): Promise<void> {
    return markStartedThrough(this.#ctx, workerId, claimSeq, withDb(this.#ctx, opts));
  }

  /**
   * A worker starts `job`, which waited in its buffer: publishes its `started` event now (its start is
   * recorded, coalesced, by markStartedThrough), so that the event always comes before the job's outcome.
   */
  jobStarted(job: ClaimedJob): void {
    if (this.publisher.active) publishAll(this.publisher, this.#ctx.now(), 'started', [job], 'running');
  }

  /**
   * Stores a running job's progress (a fraction 0..1 or `{ current, total }`, and a message) and
   * publishes it; with `workerId` and `claimSeq`, only under that claim. False when it changed nothing
   * (the job is not running, or no longer under that claim). Bad input throws (see toProgress).
   */
  progress(id: string, value: ProgressValue, opts: ProgressOptions = {}): Promise<boolean> {
    return setProgress(this.#ctx, id, value, withDb(this.#ctx, opts));
  }

  /**
   * Renews the lease of exactly these claims of `workerId` (`ClaimedJob.claimSeq`); says which have a
   * cancel request and which it lost (recovered, finished, claimed again).
   */
  renew(workerId: string, claims: ClaimRef[], opts: WriteOptions = {}): Promise<ClaimsHeartbeat> {
    return renew(this.#ctx, workerId, claims, withDb(this.#ctx, opts));
  }

  /**
   * Gives these claims of `workerId` back (to queued, attempt not spent; cancelled if a cancel was
   * requested), never a later attempt of the same job. Returns the jobs released.
   */
  release(workerId: string, claims: ClaimRef[], opts: WriteOptions = {}): Promise<Job[]> {
    return release(this.#ctx, workerId, claims, withDb(this.#ctx, opts));
  }

  /**
   * Takes the id `workerId` for the Worker object `instance` (a random token) for `aliveMs`, unless a
   * live worker holds it (its registration renewed within its own lease). Returns null when taken, or
   * how long the holder's registration has left. See migrations/0009. `info` is what `insights.workers()` shows.
   */
  registerWorker(workerId: string, instance: string, aliveMs: number, info?: WorkerInfoParams): Promise<{ heldForMs: number } | null> {
    return registerWorker(this.#ctx, workerId, instance, aliveMs, info);
  }

  /** Keeps `workerId` registered to `instance` for another `aliveMs`; false when another instance took the id. */
  renewWorker(workerId: string, instance: string, aliveMs: number): Promise<boolean> {
    return renewWorker(this.#ctx, workerId, instance, aliveMs);
  }

  /** The worker `instance` stopped: its id is free for the next one at once. */
  unregisterWorker(workerId: string, instance: string): Promise<void> {
    return unregisterWorker(this.#ctx, workerId, instance);
  }

  // --- Transitions (transitions.ts) ---

  /**
   * running → succeeded for each item whose claim `workerId` still holds (never a later attempt of the
   * same job), storing its `result` (made storable as results.ts describes: a result the database
   * would refuse, or a huge one, is stored altered and marked, and never fails the other jobs of the
   * batch). One statement (split only for size or an unstorable row). Returns the claims it completed.
   */
  complete(workerId: string, items: CompleteItem[], opts: WriteOptions = {}): Promise<number[]> {
    return complete(this.#ctx, workerId, items, withDb(this.#ctx, opts));
  }

  /**
   * A failed attempt of a running job: retrying after a decorrelated-jitter delay, or failed_permanent
   * when out of attempts or `permanent`, or cancelled when a cancel was requested meanwhile.
   */
  markFailedOrRetry(id: string, error: unknown, opts: FailOptions = {}): Promise<Job> {
    return markFailedOrRetry(this.#ctx, id, error, withDb(this.#ctx, opts));
  }

  /** running (with a cancel request) → cancelled: the worker saw the request and stopped the handler. */
  finalizeCancelled(id: string, opts: WorkerWriteOptions = {}): Promise<Job> {
    return finalizeCancelled(this.#ctx, id, withDb(this.#ctx, opts));
  }

  /** Cancels a waiting job at once, flags a running one for its worker, and reports a finished one. */
  requestCancel(id: string, opts: WriteOptions = {}): Promise<CancelOutcome> {
    return requestCancel(this.#ctx, id, withDb(this.#ctx, opts));
  }

  /**
   * failed_permanent or cancelled → queued, with its attempts reset; invalid_transition when another
   * job holds its singleton key (unfinished) or its debounce key (waiting, never claimed).
   */
  retry(id: string, opts: WriteOptions = {}): Promise<Job> {
    return retry(this.#ctx, id, withDb(this.#ctx, opts));
  }

  // --- Housekeeping (housekeeping.ts) ---

  /** Running jobs whose lease is older than `staleAfterMs` lost their worker: retry or fail them. Returns how many. */
  recoverStale(staleAfterMs: number, opts: WriteOptions = {}): Promise<number> {
    return recoverStale(this.#ctx, staleAfterMs, withDb(this.#ctx, opts));
  }

  /**
   * Deletes finished jobs older than their status's retention, in batches of `batch` (each its own
   * short statement), for at most `budgetMs`. Frees their idempotency keys. Returns how many.
   */
  prune(retention: Retention, opts: PruneOptions = {}): Promise<number> {
    return prune(this.#ctx, retention, withDb(this.#ctx, opts));
  }

  /**
   * The fleet's housekeeping: every worker process calls it on a timer, but only the one that gets the
   * advisory lock does the work (the others skip their turn). Recovers jobs of lost workers, then
   * prunes by `retention`. Returns null when another process is sweeping.
   */
  sweep(staleAfterMs: number, retention?: Retention): Promise<{ recovered: number; pruned: number } | null> {
    return sweep(this.#ctx, staleAfterMs, retention);
  }

  // --- Queue policies (policies.ts) ---

  /**
   * Changes queue `name`'s policy: what `patch` leaves out stays, null removes a limit. Every worker
   * follows within one poll interval (at once when its notification arrives). Returns the queue.
   */
  setQueue(name: string, patch: QueuePolicyPatch, opts: WriteOptions = {}): Promise<QueueInfo> {
    return setQueue(this.#ctx, name, patch, withDb(this.#ctx, opts));
  }

  /** Nothing of queue `name` starts any more; running jobs finish, enqueues are accepted. */
  pauseQueue(name: string, opts: WriteOptions = {}): Promise<QueueInfo> {
    return setQueue(this.#ctx, name, { paused: true }, withDb(this.#ctx, opts));
  }

  resumeQueue(name: string, opts: WriteOptions = {}): Promise<QueueInfo> {
    return setQueue(this.#ctx, name, { paused: false }, withDb(this.#ctx, opts));
  }

  /** Queue `name`: its policy, runnable and running jobs, and its oldest runnable job's age (any name: queues need no creating). */
  getQueue(name: string, opts: WriteOptions = {}): Promise<QueueInfo> {
    return getQueue(this.#ctx, name, withDb(this.#ctx, opts));
  }

  /** Every queue with unfinished jobs or a policy, by name, `limit` per page (1..1000, default 100); pass `nextAfter` as `after`. */
  listQueues(page: { after?: string; limit?: number } = {}, opts: WriteOptions = {}): Promise<QueuePage> {
    return listQueues(this.#ctx, page, withDb(this.#ctx, opts));
  }

  /** The queues workers claim through `claimLimited`: those with a policy, and those whose waiting jobs carry a group. */
  flowQueues(opts: WriteOptions = {}): Promise<FlowQueue[]> {
    return flowQueues(this.#ctx, withDb(this.#ctx, opts));
  }

  // --- Reads (reads.ts) ---

  get(id: string, opts: WriteOptions = {}): Promise<Job | null> {
    return get(this.#ctx, id, withDb(this.#ctx, opts));
  }

  /**
   * Newest first, `limit` per page (1..500, default 50); pass `nextCursor` back for the next page. A
   * page examines a bounded number of rows and bytes, so it may hold fewer jobs than `limit` (even none)
   * while `nextCursor` is not null: walk until it is (see list.ts).
   */
  list(filter: ListFilter = {}, opts: WriteOptions = {}): Promise<JobPage> {
    return list(this.#ctx, filter, withDb(this.#ctx, opts));
  }

  /** Job `id`'s parents (depends_on) in that order, as they are now: what its handler's ctx.parents() gives. */
  parents(id: string, opts: WriteOptions = {}): Promise<ParentJob[]> {
    return parentsOf(withDb(this.#ctx, opts).db ?? this.#ctx.pool, id);
  }

  /** Counts by status, by kind and by queue, and the age of the oldest runnable job. */
  stats(opts: WriteOptions = {}): Promise<QueueStats> {
    return stats(this.#ctx, withDb(this.#ctx, opts));
  }
}
