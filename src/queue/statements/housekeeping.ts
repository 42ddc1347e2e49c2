/** The fleet's housekeeping: recovering jobs of lost workers, pruning, and the sweep's lock. */
import { JOBS_CHANNEL, jobsPayloadSql } from '../channels.ts';
import { ERROR_HISTORY } from '../../limits.ts';
import type { JobRow } from '../rows.ts';
import type { TerminalStatus } from '../types.ts';
import { command, NOW, type NoParams, statement } from './statement.ts';

/**
 * Running jobs whose lease is older than `staleAfterMs` lost their worker: retried at once, or
 * failed_permanent with no attempts left (cancelled if a cancel was pending). A job that never started
 * (it waited in the lost worker's buffer: no started_at, and past its worker's started_seq) goes back
 * to queued with its attempt given back. Works in batches of `batch`; SKIP LOCKED leaves alone a row
 * its worker is finishing right now.
 */
export const recover = statement<{ staleAfterMs: number; batch: number; now: Date | null }, JobRow>(
  'recover',
  `WITH locked AS (
     SELECT id, cancel_requested, attempts, max_attempts,
            coalesce(started_at IS NOT NULL
                     OR claim_seq <= (SELECT w.started_seq FROM jobq.workers w WHERE w.id = j.locked_by), false) AS started
       FROM jobq.jobs j
      WHERE status = 'running' AND locked_at < ${NOW} - :staleAfterMs * interval '1 millisecond'
      ORDER BY locked_at
      LIMIT :batch
      FOR UPDATE OF j SKIP LOCKED
   ), stale AS (
     SELECT id, started,
            (CASE WHEN cancel_requested THEN 'cancelled'
                  WHEN NOT started THEN 'queued'
                  WHEN attempts >= max_attempts THEN 'failed_permanent'
                  ELSE 'retrying' END)::jobq.job_status AS next
       FROM locked
   ), upd AS (
     UPDATE jobq.jobs j
        SET status = stale.next,
            attempts = CASE WHEN stale.started THEN j.attempts ELSE greatest(j.attempts - 1, 0) END,
            last_error = CASE WHEN stale.started THEN 'worker ' || j.locked_by || ' lost the job: its lease expired' ELSE j.last_error END,
            errors = CASE WHEN stale.started
                          THEN jobq.push_error(j.errors, ${NOW}, j.attempts,
                                               'worker ' || j.locked_by || ' lost the job: its lease expired', ${ERROR_HISTORY})
                          ELSE j.errors END,
            run_at = CASE WHEN stale.next IN ('retrying', 'queued') THEN ${NOW} ELSE j.run_at END,
            locked_by = NULL, locked_at = NULL, started_at = NULL,
            finished_at = CASE WHEN stale.next IN ('retrying', 'queued') THEN NULL ELSE ${NOW} END,
            updated_at = ${NOW}
       FROM stale
      WHERE j.id = stale.id
     RETURNING j.*
   )
   SELECT upd.* FROM upd
   LEFT JOIN LATERAL (SELECT pg_notify('${JOBS_CHANNEL}', ${jobsPayloadSql('upd')}) WHERE upd.status IN ('retrying', 'queued')) n ON true`,
);

/**
 * Deletes up to `batch` jobs of `status` that finished more than `keepMs` ago, oldest first. SKIP
 * LOCKED and a small batch per statement: pruning never waits for, or long holds, a row anyone else
 * touches.
 */
export const prune = command<{ status: TerminalStatus; keepMs: number; batch: number; now: Date | null }>(
  'prune',
  `WITH doomed AS (
     SELECT id FROM jobq.jobs
      WHERE status = :status::jobq.job_status AND finished_at IS NOT NULL
        AND finished_at < ${NOW} - :keepMs * interval '1 millisecond'
      ORDER BY status, finished_at
      LIMIT :batch
      FOR UPDATE SKIP LOCKED
   )
   DELETE FROM jobq.jobs j USING doomed WHERE j.id = doomed.id`,
);

/** Forgets workers that wrote nothing for `idleMs`, are not alive, and hold no running job. */
export const pruneWorkers = command<{ idleMs: number; now: Date | null }>(
  'prune_workers',
  `DELETE FROM jobq.workers w
    WHERE w.updated_at < ${NOW} - :idleMs * interval '1 millisecond'
      AND (w.alive_until IS NULL OR w.alive_until < ${NOW})
      AND NOT EXISTS (SELECT 1 FROM jobq.jobs j WHERE j.status = 'running' AND j.locked_by = w.id)
      -- nor log jobs: a batch of its not recovered and not finished (a scan of the hot batches, for the
      -- rare worker silent for that long)
      AND NOT EXISTS (SELECT 1 FROM jobq.log_batch b
                       WHERE b.worker = w.id AND b.lost_at IS NULL
                         AND b.n > coalesce((SELECT sum(cardinality(d.pos)) FROM jobq.log_done d WHERE d.batch_id = b.batch_id), 0)
                                   + (SELECT count(*) FROM jobq.log_fail f WHERE f.batch_id = b.batch_id))`,
);

/**
 * Only one process at a time sweeps: the others skip their turn instead of queueing behind it. The turn
 * is a row (migration 0017), taken for `leaseMs` by the database's own clock (a test's clock must not
 * hand out turns for years): a sweeper whose process stalls mid-sweep (a handler blocking its event
 * loop) loses it when that passes, so it cannot stop every other process from recovering jobs.
 */
export const sweepTake = statement<{ holder: string; leaseMs: number }, { taken: boolean }>(
  'sweep_take',
  `UPDATE jobq.sweep_lease SET holder = :holder, until = clock_timestamp() + :leaseMs * interval '1 millisecond'
    WHERE one AND until < clock_timestamp()
   RETURNING true AS taken`,
);

/** Ends the sweep: the turn is free at once (if it is still this holder's). */
export const sweepGive = command<{ holder: string }>('sweep_give', `UPDATE jobq.sweep_lease SET until = '-infinity' WHERE one AND holder = :holder`);
