/**
 * The job model. The states are declared in ../statuses.ts (which imports nothing, for the client).
 */
import type pg from 'pg';
import type { OnParentFailure } from '../limits.ts';
import type { JobStatus, TerminalStatus } from '../statuses.ts';
import type { TraceCarrier } from '../tracing.ts';
import type { JobProgress } from './events/types.ts';

export type { OnParentFailure } from '../limits.ts';
export type { ParentJob } from '../kinds/registry.ts';

export { isTerminal, JOB_STATUSES, type JobStatus, TERMINAL_STATUSES, type TerminalStatus } from '../statuses.ts';

export interface AttemptError {
  at: string;
  attempt: number;
  error: string;
}

export interface Job {
  id: string;
  queue: string;
  kind: string;
  payload: unknown;
  status: JobStatus;
  priority: number;
  attempts: number;
  maxAttempts: number;
  runAt: Date;
  timeoutMs: number | null;
  lockedBy: string | null;
  lockedAt: Date | null;
  /**
   * When the claim started the current attempt's handler; null for a job claimed into a worker's buffer
   * (its start is recorded by the worker's watermark, `Queue.markStartedThrough`).
   */
  startedAt: Date | null;
  /**
   * Which claim holds the job while it runs (unique across every claim; null before the first claim).
   * Pass it as `claimSeq` to the worker transitions so that they apply to this attempt only.
   */
  claimSeq: number | null;
  cancelRequested: boolean;
  idempotencyKey: string | null;
  /** The job's group (a tenant, customer or account key): jobs of a queue are claimed in turns by group. */
  group: string | null;
  /** At most one unfinished job holds it (see NewJob.singletonKey). */
  singletonKey: string | null;
  /** While the job is queued and never claimed, enqueues with this key rewrite it (see NewJob.debounceKey). */
  debounceKey: string | null;
  /** The jobs this one waited for (or waits for: status `waiting`), in the order given; null: none. */
  dependsOn: string[] | null;
  /** What a parent that failed or was cancelled does to this job; null for a job without parents. */
  onParentFailure: OnParentFailure | null;
  lastError: string | null;
  errors: AttemptError[];
  backoffMs: number | null;
  result: unknown;
  createdAt: Date;
  updatedAt: Date;
  finishedAt: Date | null;
  /** The handler's last progress report (`Queue.progress`, a handler's `ctx.progress`); null before any. */
  progress: StoredProgress | null;
}

/** A job's last progress report, and when it was made (the reporting process's clock, ISO 8601). */
export interface StoredProgress extends JobProgress {
  at: string;
}

/**
 * What a worker needs to run a claimed job (`Queue.claim`): a few columns of the row, read
 * without parsing five timestamps and two JSON histories per job.
 */
export interface ClaimedJob extends Pick<Job, 'id' | 'queue' | 'kind' | 'payload' | 'priority' | 'attempts' | 'maxAttempts' | 'runAt' | 'timeoutMs' | 'backoffMs' | 'startedAt' | 'group'> {
  /** Its number in claim order (see `Queue.markStartedThrough`), which also names this claim (`Job.claimSeq`). */
  claimSeq: number;
  /** The trace context stored at its enqueue (jobs.trace_context): what its run's span continues. Null when none. */
  traceContext: TraceCarrier | null;
  /**
   * Epoch ms, set by its worker when it starts a job claimed ahead of a free slot (`startedAt` null: the
   * claim recorded no start); its outcome stores it as the job's started_at (`CompleteItem.launchedAtMs`).
   */
  launchedAtMs?: number;
}

/** What a claim returns: the jobs, and `more` when it came back short but more may be there (the log store's lanes: claim again now). */
export type ClaimedJobs = ClaimedJob[] & { more?: true };

export interface NewJob {
  kind: string;
  payload: unknown;
  queue?: string;
  /** Higher runs first. Default 0. */
  priority?: number;
  /** At least 1. Default: the kind's default, else 3. */
  maxAttempts?: number;
  /** When the job becomes runnable. Give this or `delayMs`, not both. Default now. */
  runAt?: Date;
  delayMs?: number;
  /** Handler timeout for this job; default the kind's. */
  timeoutMs?: number;
  idempotencyKey?: string;
  /** A group key: the queue's jobs are claimed in turns between groups (see docs/lifecycle.md). */
  group?: string;
  /**
   * At most one job with this key is queued, retrying or running at a time: while one is, enqueueing
   * another returns it (`outcome: 'singleton_existing'`) whatever its kind or payload. Once it
   * finished, the key is free. Global across queues, like idempotency keys. Not with `debounceKey`.
   */
  singletonKey?: string;
  /**
   * Debounce: with `debounceMs`, a job with this key that is still queued and never claimed is
   * rewritten (kind, payload, queue, priority, max attempts, timeout: the last enqueue wins) and its
   * run_at set to now + debounceMs (`outcome: 'debounced'`); without one, a new job is made to run at
   * now + debounceMs. Global across queues. Not with `singletonKey`, `runAt` or `delayMs`.
   */
  debounceKey?: string;
  /** How long a debounced job waits after the latest enqueue with its key; required with `debounceKey`. */
  debounceMs?: number;
  /**
   * Parents (docs/flows.md): the job waits (`waiting`) until each of them has succeeded, then is queued in
   * the transaction of the last one's completion. Ids of existing jobs or, in a batch, `#i` for the
   * batch's entry i (an earlier one). At most MAX_DEPENDS_ON, distinct. Not with `singletonKey` or `debounceKey`.
   */
  dependsOn?: string[];
  /**
   * A parent that ends failed_permanent or cancelled: `cancel` (default) cancels this job and its waiting
   * descendants that say `cancel`; `run` counts it as settled. Only with `dependsOn`.
   */
  onParentFailure?: OnParentFailure;
}

/**
 * What an enqueue did: made a job (`created`), or answered with an existing one: the job of the same
 * idempotency key (`idempotent_replay`), the unfinished job of the same singleton key
 * (`singleton_existing`), or the waiting job of the same debounce key, rewritten (`debounced`).
 */
export const ENQUEUE_OUTCOMES = ['created', 'idempotent_replay', 'singleton_existing', 'debounced'] as const;
export type EnqueueOutcome = (typeof ENQUEUE_OUTCOMES)[number];

export interface EnqueueResult {
  job: Job;
  /** True exactly when `outcome` is `created`. */
  isNew: boolean;
  outcome: EnqueueOutcome;
}

export type CancelOutcome =
  | { outcome: 'cancelled'; job: Job }
  | { outcome: 'cancel_requested'; job: Job }
  | { outcome: 'already_terminal'; status: TerminalStatus; job: Job };

export interface ListFilter {
  status?: JobStatus;
  kind?: string;
  queue?: string;
  group?: string;
  /** The job holding this idempotency key: the page is that job (when it matches the other filters) or empty. */
  idempotencyKey?: string;
  /** 1..500, default 50. */
  limit?: number;
  /** Opaque, from a previous page's `nextCursor`. */
  cursor?: string;
}

export interface JobPage {
  jobs: Job[];
  nextCursor: string | null;
}

export type StatusCounts = Record<JobStatus, number>;

export interface QueueStats {
  byStatus: StatusCounts;
  byKind: Record<string, StatusCounts>;
  byQueue: Record<string, StatusCounts>;
  /** Seconds since the oldest runnable job became runnable; 0 when none waits. */
  oldestRunnableAgeSeconds: number;
  /** The same per queue; a queue with no runnable job has 0. */
  oldestRunnableAgeSecondsByQueue: Record<string, number>;
}

/** Anything that runs a query: the pool, or a client inside the caller's own transaction. */
export type Queryable = Pick<pg.Pool, 'query'> | Pick<pg.PoolClient, 'query'>;

export interface WriteOptions {
  /** Run on this client (inside the caller's transaction) instead of the pool. */
  db?: Queryable;
}

export interface WorkerWriteOptions extends WriteOptions {
  /** When given, the transition applies only while this worker holds the job. */
  workerId?: string;
  /**
   * When given, only while the job is held under this claim (`ClaimedJob.claimSeq`): a late outcome
   * of an earlier attempt then fails with invalid_transition instead of finishing a newer attempt.
   */
  claimSeq?: number;
}

/** A queue's policy (docs/flow-control.md): null is no limit. */
export interface QueuePolicy {
  /** Nothing of the queue starts; running jobs finish, enqueues are accepted. */
  paused: boolean;
  /** At most this many jobs of the queue run at once, across every worker. */
  concurrency: number | null;
  /** At most `limit` starts in any window of `periodMs`. */
  rate: { limit: number; periodMs: number } | null;
  /** At most this many running jobs per group of the queue. */
  groupConcurrency: number | null;
}

/** A change of a queue's policy: what is absent stays as it is; null removes a limit. */
export type QueuePolicyPatch = { [K in keyof QueuePolicy]?: K extends 'paused' ? boolean : QueuePolicy[K] };

/** A queue as `Queue.getQueue` and `listQueues` report it: its policy and what waits and runs in it. */
export interface QueueInfo extends QueuePolicy {
  name: string;
  /** Jobs runnable now (queued or retrying, run_at passed). */
  depth: number;
  /** Jobs running (claimed), on every worker. */
  running: number;
  /** Seconds since the oldest runnable job became runnable; 0 when none waits. */
  oldestWaitingAgeSeconds: number;
  /** When the policy last changed; null for a queue that never had one. */
  updatedAt: Date | null;
}

export interface QueuePage {
  queues: QueueInfo[];
  /** Pass as `after` for the next page; null on the last. */
  nextAfter: string | null;
}
export * from './schedule-types.ts';
