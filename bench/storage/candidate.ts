/**
 * A storage design under study (docs/design/storage.md, issue #22): its tables beside jobq's schema,
 * its hot path as pgbench scripts, and its hot path as a working `Queue` the real `Worker` drives.
 * `bench/storage/run.ts` measures each candidate the same way; `bench/systems/jobq.ts` runs its `Queue`
 * in the bench's processing scenarios (`npm run bench -- --systems jobq,jobq-<name>`).
 *
 * Conventions, for every candidate:
 * - Its database is a fresh one, migrated by jobq's `migrate()` first; `setupSql` then adds or
 *   replaces what the design needs (in schema `jobq`). It must be re-runnable on a fresh database only.
 * - Jobs are of kind `bench_noop`, queue `default`, payload `{}`, priority 0, no group, max_attempts 25.
 * - pgbench scripts run with `-M prepared -n`, and get these variables (`-D`): `batch` (jobs a claim
 *   takes, 50), `nids` (rows in `jobq.bench_ids`). `:client_id` is pgbench's own. A script that needs
 *   an existing job picks one as `\set i random(1, :nids)` then `(SELECT id FROM jobq.bench_ids WHERE i = :i)`;
 *   the runner fills `jobq.bench_ids (i int PRIMARY KEY, id uuid NOT NULL)` from `sampleIdsSql`.
 * - `cancel` and `retry` run a fixed number of transactions over many more sampled jobs (most act on a
 *   job not touched before); `get` and `list` run for a fixed time.
 * - Each pgbench transaction of `claimFinish` claims up to `:batch` runnable jobs and marks them all
 *   succeeded, in as many statements/transactions as the design's worker would use (claim, then one
 *   completion of the batch), so that rows/s compare with jobq's own `bench/pgbench/claim_finish_batched.sql`.
 */
import type pg from 'pg';
import type { Queue, QueueOptions } from '../../src/index.ts';

export interface StorageCandidate {
  /** Short name: `today`, `split`, `lease`, `log`. The bench system is `jobq-<name>` (`jobq` for today). */
  name: string;
  /** One line: what the design is. */
  title: string;
  /** A peer's own storage (graphile-worker's), measured for comparison: no jobq `Queue`, no Worker path, no history kept. */
  peer?: boolean;
  /** Absolute path of the SQL applied after `migrate()` (may be empty for today's design). */
  setupSql: string;
  /** Absolute paths of the pgbench scripts. */
  pgbench: {
    /** Claims up to :batch jobs and completes them (see above). */
    claimFinish: string;
    /** Enqueues one job (as `Queue.enqueue` would, idempotency key NULL). */
    enqueue: string;
    /** `GET /v1/jobs/{id}` of the job `bench_ids` gives: everything `Queue.get` returns. */
    get: string;
    /** `GET /v1/jobs?limit=50`, newest first, then the next page after its last job (two statements). */
    list: string;
    /** Cancels the (queued) job `bench_ids` gives, as `Queue.requestCancel` would. */
    cancel: string;
    /** Retries the (failed) job `bench_ids` gives, as `Queue.retry` would. */
    retry: string;
  };
  /** Adds `n` runnable jobs in one statement, as one bulk enqueue would (no ANALYZE: the runner decides). */
  seed(c: pg.ClientBase, n: number): Promise<void>;
  /** Adds `n` finished (succeeded) jobs, finished `hoursAgo` hours ago, as history. */
  addFinished(c: pg.ClientBase, n: number, hoursAgo: number): Promise<void>;
  /** Adds `n` failed_permanent jobs (for `retry`). */
  addFailed(c: pg.ClientBase, n: number): Promise<void>;
  /** SQL returning column `id` (uuid): the jobs `get`, `cancel` or `retry` act on, by `what`. */
  sampleIdsSql(what: 'finished' | 'queued' | 'failed'): string;
  /** Jobs succeeded so far (the processed count). */
  succeeded(c: pg.ClientBase): Promise<number>;
  /** Jobs not finished yet (queued, running, retrying). */
  remaining(c: pg.ClientBase): Promise<number>;
  /** The tables whose size and dead tuples a held xmin grows (the "hot" set). */
  hotTables: string[];
  /** Drops the history finished before `before`: the design's retention. Returns jobs removed. */
  retention(c: pg.ClientBase, before: Date): Promise<number>;
  /** Empties every job table (between scenarios). */
  reset(c: pg.ClientBase): Promise<void>;
  /** The design's `Queue`: the real `Worker` runs jobs through it (claim, complete, leases). */
  createQueue(options: QueueOptions): Queue;
}
