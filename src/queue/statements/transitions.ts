/**
 * The guarded transitions of one job (or, for `complete`, of a worker's batch). Each is a
 * compare-and-set (`WHERE status = 'running' ...`) that returns the rows it changed, so a late or
 * duplicate transition is detected instead of overwriting a newer state.
 */
import { CANCEL_CHANNEL, JOBS_CHANNEL, jobsPayloadSql } from '../channels.ts';
import { ERROR_HISTORY } from '../../limits.ts';
import type { JobRow } from '../rows.ts';
import type { JobStatus } from '../types.ts';
import { CLAIMED, HELD } from './guards.ts';
import { NOW, statement } from './statement.ts';

/** The guard of the single-job worker transitions (guards.ts HELD). */
export interface HeldParams {
  id: string;
  /** Only while this worker holds the job; null: any. */
  workerId: string | null;
  /** Only under this claim; null: any. */
  claimSeq: number | null;
  now: Date | null;
}

export interface CompleteParams {
  workerId: string;
  ids: string[];
  /** Each claim_seq to `[result]` (`[]`: no result): the claim set of guards.ts CLAIMED, with results. */
  claims: string;
  /**
   * Claim_seq to epoch ms, for jobs that started from their worker's buffer (started_at NULL: the
   * claim recorded no start, see functions.sql): when the worker started them. NULL when none did.
   */
  started: string | null;
  now: Date | null;
}

/** started_at for a job that started from its worker's buffer: the time its worker says, once its attempt ends. */
const STARTED = (param: string) => `coalesce(started_at, to_timestamp((${param} ->> claim_seq::text)::float8 / 1000))`;

/**
 * Completes many jobs of one worker in one statement: only the claims named in `claims` (guards.ts
 * CLAIMED), each with its own result. A job another claim holds now (it was recovered and claimed
 * again, even by a worker of the same id) is left alone.
 */
export const complete = statement<CompleteParams, { claim_seq: number }>(
  'complete',
  `UPDATE jobq.jobs
      SET status = 'succeeded', result = :claims::jsonb -> claim_seq::text -> 0, started_at = ${STARTED(':started::jsonb')},
          locked_by = NULL, locked_at = NULL, finished_at = ${NOW}, updated_at = ${NOW}
    WHERE ${CLAIMED}
   RETURNING claim_seq::float8 AS claim_seq`,
);

export interface FailParams extends HeldParams {
  /** The attempt's error text (rows.ts errorText). */
  error: string;
  /** Fail for good, whatever the attempts left. */
  permanent: boolean;
  /** The decorrelated-jitter delay before the retry. */
  delayMs: number;
  /** When the worker started it (epoch ms), for a job that started from its worker's buffer (as `complete`); else null. */
  launchedAtMs: number | null;
}

/**
 * A failed attempt: cancelled when a cancel was requested (never retried), failed_permanent when
 * `permanent` or out of attempts, else retrying after `delayMs`.
 */
export const fail = statement<FailParams, JobRow>(
  'fail',
  `WITH cur AS (
     SELECT id, (CASE WHEN cancel_requested THEN 'cancelled'
                      WHEN :permanent::boolean OR attempts >= max_attempts THEN 'failed_permanent'
                      ELSE 'retrying' END)::jobq.job_status AS next
       FROM jobq.jobs WHERE ${HELD}
       FOR UPDATE
   )
   UPDATE jobq.jobs j
      SET status = cur.next,
          run_at = CASE WHEN cur.next = 'retrying' THEN ${NOW} + :delayMs * interval '1 millisecond' ELSE j.run_at END,
          backoff_ms = CASE WHEN cur.next = 'retrying' THEN :delayMs ELSE j.backoff_ms END,
          last_error = :error,
          errors = jobq.push_error(j.errors, ${NOW}, j.attempts, :error, ${ERROR_HISTORY}),
          locked_by = NULL, locked_at = NULL, started_at = coalesce(j.started_at, to_timestamp(:launchedAtMs::float8 / 1000)),
          finished_at = CASE WHEN cur.next = 'retrying' THEN NULL ELSE ${NOW} END,
          updated_at = ${NOW}
     FROM cur
    WHERE j.id = cur.id
   RETURNING j.*`,
);

/** The previous delay of a running job, which the next decorrelated-jitter delay grows from. */
export const backoffOf = statement<{ id: string }, { backoff_ms: number | null }>(
  'backoff_of',
  `SELECT backoff_ms FROM jobq.jobs WHERE id = :id`,
);

/** running (with a cancel request) → cancelled: the worker saw the request and stopped the handler. */
export const finalizeCancelled = statement<HeldParams, JobRow>(
  'finalize_cancelled',
  `UPDATE jobq.jobs
      SET status = 'cancelled', locked_by = NULL, locked_at = NULL,
          finished_at = ${NOW}, updated_at = ${NOW}
    WHERE ${HELD}
   RETURNING *`,
);

/**
 * Cancel: a job not yet running (waiting for its parents, queued, retrying) is cancelled at once; a
 * running one is flagged for its worker. Returns the status before the change as prev_status; no row
 * means not found or already terminal. A cancelled job with children cancels them, or settles them, by
 * the trigger jobs_settle_children (docs/flows.md).
 */
export const cancel = statement<{ id: string; now: Date | null }, JobRow & { prev_status: JobStatus }>(
  'cancel',
  `WITH prev AS (
     SELECT id, status FROM jobq.jobs
      WHERE id = :id AND status IN ('waiting', 'queued', 'retrying', 'running')
      FOR UPDATE
   )
   UPDATE jobq.jobs j
      SET status = CASE WHEN prev.status = 'running' THEN j.status ELSE 'cancelled' END,
          cancel_requested = prev.status = 'running',
          finished_at = CASE WHEN prev.status = 'running' THEN NULL ELSE ${NOW} END,
          updated_at = ${NOW}
     FROM prev
    WHERE j.id = prev.id
   RETURNING prev.status AS prev_status, j.*`,
);

/** Tells the worker running job `id` that its cancellation was requested. */
export const notifyCancel = statement<{ id: string }, unknown>(
  'notify_cancel',
  `SELECT pg_notify('${CANCEL_CHANNEL}', :id::text)`,
);

/**
 * Back to queued with a fresh set of attempts (and no progress), from failed_permanent or cancelled only. A child cancelled
 * while it waited for its parents runs now: the retry does not wait for them again (docs/flows.md).
 */
export const retry = statement<{ id: string; now: Date | null }, JobRow>(
  'retry',
  `WITH upd AS (
     UPDATE jobq.jobs
        SET status = 'queued', attempts = 0, run_at = ${NOW}, backoff_ms = NULL, cancel_requested = false,
            result = NULL, progress = NULL, finished_at = NULL, updated_at = ${NOW},
            pending_parents = CASE WHEN pending_parents IS NOT NULL THEN 0 END
      WHERE id = :id AND status IN ('failed_permanent', 'cancelled')
     RETURNING *
   )
   SELECT upd.* FROM upd LEFT JOIN LATERAL (SELECT pg_notify('${JOBS_CHANNEL}', ${jobsPayloadSql('upd')})) n ON true`,
);
