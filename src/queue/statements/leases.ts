/**
 * A worker's leases: renewing and giving back its claims, and its registration in jobq.workers
 * (migrations/0009: one live worker per id).
 */
import { JOBS_CHANNEL, jobsPayloadSql } from '../channels.ts';
import type { JobRow } from '../rows.ts';
import { CLAIMED } from './guards.ts';
import { command, NOW, statement } from './statement.ts';

/** Claims of one worker (guards.ts CLAIMED): their job ids and their claim set. */
export interface ClaimsParams {
  workerId: string;
  ids: string[];
  /** A claim set: a JSON object whose keys are the claim numbers held. */
  claims: string;
  now: Date | null;
}

/** Renews the lease of these claims of the worker; reports which of them have a cancel request. */
export const renewClaims = statement<ClaimsParams, { claim_seq: number; cancel_requested: boolean }>(
  'renew_claims',
  `UPDATE jobq.jobs SET locked_at = ${NOW}
    WHERE ${CLAIMED}
   RETURNING claim_seq::float8 AS claim_seq, cancel_requested`,
);

/** Gives these claims back (shutdown) without spending their attempt; a cancel request wins. */
export const release = statement<ClaimsParams, JobRow>(
  'release',
  `WITH upd AS (
     UPDATE jobq.jobs
        SET status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END::jobq.job_status,
            attempts = greatest(attempts - 1, 0), locked_by = NULL, locked_at = NULL, started_at = NULL,
            finished_at = CASE WHEN cancel_requested THEN ${NOW} END, updated_at = ${NOW}
      WHERE ${CLAIMED}
     RETURNING *
   )
   SELECT upd.* FROM upd
   LEFT JOIN LATERAL (SELECT pg_notify('${JOBS_CHANNEL}', ${jobsPayloadSql('upd')}) WHERE upd.status = 'queued') n ON true`,
);

export interface WorkerLeaseParams {
  workerId: string;
  /** A random token of one Worker object. */
  instance: string;
  aliveMs: number;
  now: Date | null;
}

/** What a worker says about itself when it takes its id (shown by GET /v1/workers). */
export interface WorkerInfoParams {
  /** Jobs it runs at once; null: not said. */
  concurrency: number | null;
  /** The queues it works; null: all. */
  queues: string[] | null;
}

/**
 * Worker `workerId` (instance `instance`) takes its id for `aliveMs`: only if no live worker holds it.
 * No row back means a live worker has it.
 */
export const registerWorker = statement<WorkerLeaseParams & WorkerInfoParams, { id: string }>(
  'register_worker',
  `INSERT INTO jobq.workers AS w (id, started_seq, updated_at, instance, alive_until, concurrency, queues, started_at)
   VALUES (:workerId, 0, ${NOW}, :instance, ${NOW} + :aliveMs * interval '1 millisecond', :concurrency::int, :queues::text[], ${NOW})
   ON CONFLICT (id) DO UPDATE SET instance = excluded.instance, alive_until = excluded.alive_until, updated_at = excluded.updated_at,
                                  concurrency = excluded.concurrency, queues = excluded.queues, started_at = excluded.started_at
    WHERE w.instance IS NULL OR w.alive_until IS NULL OR w.alive_until < excluded.updated_at
   RETURNING w.id`,
);

/** Who holds worker id `workerId`, and for how long still (for the refusal's message). */
export const workerHolder = statement<{ workerId: string; now: Date | null }, { instance: string | null; alive_until: Date | null; remaining_ms: number | null }>(
  'worker_holder',
  `SELECT instance, alive_until, (extract(epoch FROM alive_until - ${NOW}) * 1000)::float8 AS remaining_ms
     FROM jobq.workers WHERE id = :workerId`,
);

/** Worker `workerId` (instance `instance`) is alive for another `aliveMs`. 0 rows: another instance took the id. */
export const renewWorker = command<WorkerLeaseParams>(
  'renew_worker',
  `UPDATE jobq.workers SET alive_until = ${NOW} + :aliveMs * interval '1 millisecond', updated_at = ${NOW}
    WHERE id = :workerId AND instance = :instance`,
);

/** Worker `workerId` (instance `instance`) stopped: its id is free at once. */
export const unregisterWorker = command<{ workerId: string; instance: string; now: Date | null }>(
  'unregister_worker',
  `UPDATE jobq.workers SET instance = NULL, alive_until = NULL, updated_at = ${NOW} WHERE id = :workerId AND instance = :instance`,
);

/**
 * The lease keeper's fallback while its worker's event loop is blocked (src/worker/lease-keeper.ts):
 * renews the lease of every job running under the worker. No claim list: the blocked thread cannot say
 * what it holds, and a worker id names one live worker (migrations/0009), so every job running under
 * it is this worker's. `locked_at IS NOT NULL` lets it walk the lease index (running jobs only). The
 * log store's claims too: the worker's batches after the recovery sweep's mark (every batch up to it
 * finished or was recovered), finished ones among them renewed for nothing. Its count: rows plus batches.
 */
export const renewAllOfWorker = command<{ workerId: string; now: Date | null }>(
  'renew_all_of_worker',
  `WITH r AS (
     UPDATE jobq.jobs SET locked_at = ${NOW} WHERE locked_at IS NOT NULL AND status = 'running' AND locked_by = :workerId RETURNING 1
   ), l AS (
     UPDATE jobq.log_batch SET locked_at = ${NOW}
      WHERE worker = :workerId AND lost_at IS NULL AND batch_id > (SELECT through FROM jobq.log_sweep) RETURNING 1
   )
   SELECT 1 FROM r UNION ALL SELECT 1 FROM l`,
);
