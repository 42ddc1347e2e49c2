/**
 * The one small interface every benchmarked system implements, so that the harness (bench/run.ts and
 * bench/lib/*) never knows which queue it drives. A driver is used in two places:
 * - the orchestrating process: install, enqueue, count what is left, reset, add finished rows;
 * - a worker process (bench/worker-child.ts): startWorker, and for the latency run also enqueueOne.
 */

export type Backend = 'postgres' | 'redis';
/** A peer's tuned or default setting; for jobq also `storage:<name>`, a candidate of the storage study (bench/storage). */
export type Variant = 'best' | 'default' | 'logstore' | 'logstore-busy' | 'rows' | `storage:${string}`;

/** Where a system's state lives: its own database on the shared server, or the bench's own Redis. */
export interface Target {
  /** URL of this system's own database (created and dropped by the harness). */
  pgUrl: string;
  /** redis://127.0.0.1:PORT of the redis-server the bench started, when the backend is redis. */
  redisUrl?: string;
  /** Queue / task name the jobs go to. */
  queue: string;
}

/** A no-op job's payload: `s` is a latency sample number, absent for throughput jobs. */
export interface BenchPayload {
  s?: number;
}

export interface WorkerHandle {
  /** Stops fetching, waits for running handlers, closes connections. */
  stop(): Promise<void>;
}

export interface StartWorkerOptions {
  concurrency: number;
  /** Called at the very start of every handler invocation. */
  onJob: (payload: BenchPayload) => void;
}

export interface Driver {
  /** Creates the system's schema / queue; idempotent. */
  install(): Promise<void>;
  enqueueOne(payload: BenchPayload): Promise<void>;
  /** 1 to 1,000 jobs in one call of the system's bulk API. */
  enqueueBatch(payloads: BenchPayload[]): Promise<void>;
  /** Jobs not yet marked finished (waiting, running, retrying). */
  remaining(): Promise<number>;
  /** Removes every job, finished or not. */
  reset(): Promise<void>;
  /**
   * Adds `count` finished jobs the way the system keeps them (SQL generate_series where it can; jobq
   * through its own API, in its store: systems/jobq-history.ts). `progress` hears of the jobs made so far.
   * Returns a note instead when the system (in this setting) keeps no finished jobs.
   */
  addFinished(count: number, progress?: (made: number) => void): Promise<string | undefined>;
  /**
   * The system's own retention, timed, of the first day of the history `addFinished` made (jobq:
   * `Queue.prune`); absent where the bench does not measure it.
   */
  retention?(): Promise<RetentionTiming>;
  /** The tables a held xmin grows (their size and dead tuples are sampled by the `held` scenario); absent: not measured. */
  hotTables?: string[];
  startWorker(opts: StartWorkerOptions): Promise<WorkerHandle>;
  close(): Promise<void>;
  /** Flow control (jobq only): the scenarios `limited`, `rated` and `groups` run for drivers that have it. */
  flow?: FlowDriver;
  /** Live events (jobq only): the scenario `streams` runs for drivers that have it. */
  streams?: StreamsDriver;
}

/** What one retention of a day of history removed and took. */
export interface RetentionTiming {
  /** Finished jobs removed, and how many the day held. */
  removed: number;
  expected: number;
  /** Milliseconds spent in the system's retention calls until the day was gone (or a call removed nothing). */
  ms: number;
  calls: number;
}

/** What the `streams` scenario needs besides the Driver: job ids to watch, and the queue the jobs go to. */
export interface StreamsDriver {
  /** The queue enqueueBatch puts jobs in. */
  queue: string;
  /** `n` ids of the unfinished jobs, spread evenly over them in the order they were enqueued. */
  unfinishedIds(n: number): Promise<string[]>;
  /** Enqueues `n` jobs that will not run for an hour; their ids. */
  addLater(n: number): Promise<string[]>;
}

/** A queue policy as the flow scenarios set it (null: none). */
export interface BenchPolicy {
  concurrency?: number;
  rate?: { limit: number; periodMs: number };
}

export interface FlowDriver {
  /** Sets (or with null removes) the policy of the queue the jobs go to. */
  setPolicy(policy: BenchPolicy | null): Promise<void>;
  /** Like enqueueBatch, each job in group `groupOf(i)` (i: its index in the batch). */
  enqueueGroupedBatch(payloads: BenchPayload[], groupOf: (i: number) => string): Promise<void>;
}

/** One row of the comparison: a system on a backend in one setting. */
export interface SystemDef {
  /** Stable id used in JSON and flags, e.g. `pgboss-best`. */
  id: string;
  /** Family, for --systems filters and the chart: jobq, pgboss, graphile, bullmq-pg, bullmq-redis. */
  family: string;
  label: string;
  backend: Backend;
  variant: Variant;
  /** npm package whose version is reported. */
  pkg: string;
  /** What "best" or "defaults" means for this row, printed under the table. */
  settings: string;
  /** For a setting too slow for N jobs: the processing runs use at most this many (half in --quick), and why. */
  maxJobs?: { jobs: number; why: string };
  /** Module that exports `createDriver(target, variant)`, relative to bench/systems/. */
  module: string;
  /** Runs only when --systems names it (the storage study's prototypes). */
  optIn?: boolean;
}

export type CreateDriver = (target: Target, variant: Variant) => Driver;
