/**
 * Every statement jobq runs against the jobs table. Nothing outside src/queue/ writes job SQL.
 *
 * Conventions:
 * - Each transition is a guarded compare-and-set (`WHERE status = 'running' ...`) that returns the
 *   rows it changed, so a late or duplicate transition is detected instead of overwriting a newer state.
 * - `$now` parameters are `coalesce($n::timestamptz, now())`: NULL in production (the database's clock),
 *   a fixed time in tests (the clock seam).
 * - Statements are named, so each connection prepares them once.
 */
import { ERROR_HISTORY } from '../limits.ts';

const NOW = (n: number) => `coalesce($${n}::timestamptz, now())`;

/** NOTIFY channels. The payload of `JOBS_CHANNEL` is the queue name; of `CANCEL_CHANNEL` the job id. */
export const JOBS_CHANNEL = 'jobq_jobs';
export const CANCEL_CHANNEL = 'jobq_cancel';


export interface Statement {
  name: string;
  text: string;
}

const s = (name: string, text: string): Statement => ({ name: `jobq_${name}`, text });

/**
 * Inserts a batch given as one JSON array ($1); rows whose idempotency key exists are skipped
 * (resolved by FIND_BY_KEYS). A JSON null payload, which jsonb_to_recordset reads as SQL NULL, is
 * stored as JSON null. With $3 the statement itself notifies (delivered when the caller's
 * transaction commits); otherwise the caller sends NOTIFY_QUEUES after the commit, which keeps
 * concurrent inserts from queueing behind the notification lock that every NOTIFY takes at commit.
 * It returns only what the database decided (the ids inserted, run_at and created_at as epoch
 * milliseconds): the caller has the rest (see newJobFromInsert). Sending every row back and parsing
 * it was a third of the API's CPU on a batch of 1,000.
 */
export const INSERT = s(
  'insert',
  `WITH input AS (
     SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
       ord int, id uuid, queue text, kind text, payload jsonb, priority int, max_attempts int,
       run_at timestamptz, delay_ms int, timeout_ms int, idempotency_key text)
   ), ins AS (
     INSERT INTO jobq.jobs (id, queue, kind, payload, priority, max_attempts, run_at, timeout_ms,
                            idempotency_key, created_at, updated_at)
     SELECT id, queue, kind, coalesce(payload, 'null'), priority, max_attempts,
            coalesce(run_at, ${NOW(2)} + delay_ms * interval '1 millisecond'),
            timeout_ms, idempotency_key, ${NOW(2)}, ${NOW(2)}
       FROM input ORDER BY ord
     ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
     RETURNING id, queue, run_at, created_at
   )
   SELECT ins.id, (extract(epoch FROM ins.run_at) * 1000)::float8 AS run_at_ms,
          (extract(epoch FROM ins.created_at) * 1000)::float8 AS created_at_ms, ins.run_at <= ${NOW(2)} AS runnable
     FROM ins
   LEFT JOIN LATERAL (SELECT pg_notify('${JOBS_CHANNEL}', ins.queue) WHERE $3::boolean AND ins.run_at <= ${NOW(2)}) n ON true`,
);

/** Wakes workers of these queues: sent after the inserts committed, coalesced (see Queue). */
export const NOTIFY_QUEUES = s('notify_queues', `SELECT pg_notify('${JOBS_CHANNEL}', q) FROM unnest($1::text[]) AS q`);

/**
 * The jobs holding the given idempotency keys ($1), and whether each matches the kind and payload
 * asked for ($2: a JSON object {key: {kind, payload}}).
 */
export const FIND_BY_KEYS = s(
  'find_by_keys',
  `SELECT *, (kind = $2::jsonb -> idempotency_key ->> 'kind' AND payload = $2::jsonb -> idempotency_key -> 'payload') AS same
     FROM jobq.jobs
    WHERE idempotency_key = ANY($1::text[])`,
);

/**
 * Claims up to $2 runnable jobs of the queues $3 and kinds $5 (NULL: any), highest priority, then
 * oldest run_at first; with a cursor ($6 priority, $7 run_at, $8 id: the last job of the previous
 * claim) only jobs after it at that priority. The first $9 (default all) start now; the rest wait in
 * the worker's buffer (see MARK_STARTED_THROUGH). With $10 the claim commits without waiting for the
 * WAL flush (only when it is the whole transaction: migration 0008). The statement is the function
 * jobq.claim (migrations 0001, 0004, 0006, 0008): a function so that it can pin the planner to the
 * runnable index.
 */
const CLAIM_CALL = `jobq.claim($1, $2, $3::text[], $5::text[], $4::timestamptz, $6::integer, $7::timestamptz, $8::uuid, $9::integer, $10::boolean)`;
export const CLAIM = s('claim', `SELECT * FROM ${CLAIM_CALL}`);

/**
 * The same claim, returning only what a worker runs the job with. run_at comes as epoch milliseconds
 * (a float, microseconds kept), started_at too: turning text into a Date was the worker's largest single
 * cost after GC.
 */
export const CLAIM_TO_RUN = s(
  'claim_to_run',
  `SELECT id, queue, kind, payload, priority, attempts, max_attempts, timeout_ms, backoff_ms,
          (extract(epoch FROM started_at) * 1000)::float8 AS started_at_ms,
          (extract(epoch FROM run_at) * 1000)::float8 AS run_at_ms, claim_seq::float8 AS claim_seq
     FROM ${CLAIM_CALL}`,
);

/**
 * Completes many jobs of one worker in one statement: $1 the ids, $2 a JSON object of results by id.
 * `id = ANY(array)` keeps this a primary-key lookup; a join against a set-returning function would
 * let a stale row estimate pick a nested loop that compares every row with every other.
 *
 * With $5 (a claim set, see CLAIMS) only the claims named there complete, each with its own result:
 * $5 maps each claim_seq to `[result]` (`[]`: no result), and $2 is unused. A job another claim holds
 * now (it was recovered and claimed again, even by a worker of the same id) is left alone. The claim
 * test is a key lookup in one jsonb object (a binary search), so its cost stays flat with the batch
 * size, where `claim_seq = ANY(array)` would compare every row with every element.
 */
export const COMPLETE_MANY = s(
  'complete_many',
  `UPDATE jobq.jobs
      SET status = 'succeeded',
          result = CASE WHEN $5::jsonb IS NULL THEN $2::jsonb -> id::text ELSE $5::jsonb -> claim_seq::text -> 0 END,
          locked_by = NULL, locked_at = NULL, finished_at = ${NOW(4)}, updated_at = ${NOW(4)}
    WHERE id = ANY($1::uuid[]) AND status = 'running' AND locked_by = $3
      AND ($5::jsonb IS NULL OR $5::jsonb ? claim_seq::text)
   RETURNING id, claim_seq::float8 AS claim_seq`,
);

/**
 * The claim test of the batch statements: $n is NULL (no claim given: any claim of the worker) or a
 * claim set, a JSON object whose keys are the claim_seq values the caller holds. claim_seq is unique
 * across all claims ever made (0006), so the row's current claim being one of the keys means the caller
 * holds this very claim, not an older or newer attempt of the same job.
 */
const CLAIMS = (n: number) => `($${n}::jsonb IS NULL OR $${n}::jsonb ? claim_seq::text)`;

/**
 * Guard shared by the worker's transitions: the job is running and, when $W is given, held by that
 * worker; when $C is given, under that claim (claim_seq), so that a late outcome of an earlier attempt
 * never finishes the attempt that replaced it.
 */
const HELD = (idParam: number, workerParam: number, claimParam: number) =>
  `id = $${idParam} AND status = 'running' AND ($${workerParam}::text IS NULL OR locked_by = $${workerParam})
      AND ($${claimParam}::bigint IS NULL OR claim_seq = $${claimParam})`;

export const COMPLETE = s(
  'complete',
  `UPDATE jobq.jobs
      SET status = 'succeeded', result = $2::jsonb, locked_by = NULL, locked_at = NULL,
          finished_at = ${NOW(4)}, updated_at = ${NOW(4)}
    WHERE ${HELD(1, 3, 5)}
   RETURNING *`,
);

/**
 * A failed attempt: cancelled when a cancel was requested (never retried), failed_permanent when
 * asked ($3) or out of attempts, else retrying after $5 ms (the decorrelated-jitter delay).
 */
export const FAIL = s(
  'fail',
  `WITH cur AS (
     SELECT id, (CASE WHEN cancel_requested THEN 'cancelled'
                      WHEN $3::boolean OR attempts >= max_attempts THEN 'failed_permanent'
                      ELSE 'retrying' END)::jobq.job_status AS next
       FROM jobq.jobs WHERE ${HELD(1, 4, 7)}
       FOR UPDATE
   )
   UPDATE jobq.jobs j
      SET status = cur.next,
          run_at = CASE WHEN cur.next = 'retrying' THEN ${NOW(6)} + $5 * interval '1 millisecond' ELSE j.run_at END,
          backoff_ms = CASE WHEN cur.next = 'retrying' THEN $5 ELSE j.backoff_ms END,
          last_error = $2,
          errors = jobq.push_error(j.errors, ${NOW(6)}, j.attempts, $2, ${ERROR_HISTORY}),
          locked_by = NULL, locked_at = NULL,
          finished_at = CASE WHEN cur.next = 'retrying' THEN NULL ELSE ${NOW(6)} END,
          updated_at = ${NOW(6)}
     FROM cur
    WHERE j.id = cur.id
   RETURNING j.*`,
);

/** The previous delay of a running job, which the next decorrelated-jitter delay grows from. */
export const BACKOFF_OF = s('backoff_of', `SELECT backoff_ms FROM jobq.jobs WHERE id = $1`);

export const FINALIZE_CANCELLED = s(
  'finalize_cancelled',
  `UPDATE jobq.jobs
      SET status = 'cancelled', locked_by = NULL, locked_at = NULL,
          finished_at = ${NOW(3)}, updated_at = ${NOW(3)}
    WHERE ${HELD(1, 2, 4)}
   RETURNING *`,
);

/**
 * Cancel: a waiting job is cancelled at once; a running one is flagged for its worker.
 * Returns the status before the change as prev_status; no row means not found or already terminal.
 */
export const CANCEL = s(
  'cancel',
  `WITH prev AS (
     SELECT id, status FROM jobq.jobs
      WHERE id = $1 AND status IN ('queued', 'retrying', 'running')
      FOR UPDATE
   )
   UPDATE jobq.jobs j
      SET status = CASE WHEN prev.status = 'running' THEN j.status ELSE 'cancelled' END,
          cancel_requested = prev.status = 'running',
          finished_at = CASE WHEN prev.status = 'running' THEN NULL ELSE ${NOW(2)} END,
          updated_at = ${NOW(2)}
     FROM prev
    WHERE j.id = prev.id
   RETURNING prev.status AS prev_status, j.*`,
);

export const NOTIFY_CANCEL = s('notify_cancel', `SELECT pg_notify('${CANCEL_CHANNEL}', $1::text)`);

/** Back to queued with a fresh set of attempts, from failed_permanent or cancelled only. */
export const RETRY = s(
  'retry',
  `WITH upd AS (
     UPDATE jobq.jobs
        SET status = 'queued', attempts = 0, run_at = ${NOW(2)}, backoff_ms = NULL, cancel_requested = false,
            result = NULL, finished_at = NULL, updated_at = ${NOW(2)}
      WHERE id = $1 AND status IN ('failed_permanent', 'cancelled')
     RETURNING *
   )
   SELECT upd.* FROM upd LEFT JOIN LATERAL (SELECT pg_notify('${JOBS_CHANNEL}', upd.queue)) n ON true`,
);

/**
 * Renews the lease of this worker's running jobs ($2 ids; $4 a claim set, see CLAIMS); reports which
 * of them have a cancel request.
 */
export const HEARTBEAT = s(
  'heartbeat',
  `UPDATE jobq.jobs SET locked_at = ${NOW(3)}
    WHERE id = ANY($2::uuid[]) AND status = 'running' AND locked_by = $1 AND ${CLAIMS(4)}
   RETURNING id, claim_seq::float8 AS claim_seq, cancel_requested`,
);

/** Gives unfinished jobs back (shutdown) without spending their attempt; a cancel request wins. $4: a claim set (CLAIMS). */
export const RELEASE = s(
  'release',
  `WITH upd AS (
     UPDATE jobq.jobs
        SET status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END::jobq.job_status,
            attempts = greatest(attempts - 1, 0), locked_by = NULL, locked_at = NULL, started_at = NULL,
            finished_at = CASE WHEN cancel_requested THEN ${NOW(3)} END, updated_at = ${NOW(3)}
      WHERE id = ANY($2::uuid[]) AND status = 'running' AND locked_by = $1 AND ${CLAIMS(4)}
     RETURNING *
   )
   SELECT upd.* FROM upd
   LEFT JOIN LATERAL (SELECT pg_notify('${JOBS_CHANNEL}', upd.queue) WHERE upd.status = 'queued') n ON true`,
);

/**
 * Running jobs whose lease is older than $1 ms lost their worker: retried at once, or failed_permanent
 * with no attempts left (cancelled if a cancel was pending). A job that never started (it waited in
 * the lost worker's buffer: no started_at, and past its worker's started_seq) goes back to queued with
 * its attempt given back. Works in bounded batches; SKIP LOCKED
 * leaves alone a row its worker is finishing right now.
 */
export const RECOVER = s(
  'recover',
  `WITH locked AS (
     SELECT id, cancel_requested, attempts, max_attempts,
            coalesce(started_at IS NOT NULL
                     OR claim_seq <= (SELECT w.started_seq FROM jobq.workers w WHERE w.id = j.locked_by), false) AS started
       FROM jobq.jobs j
      WHERE status = 'running' AND locked_at < ${NOW(3)} - $1 * interval '1 millisecond'
      ORDER BY locked_at
      LIMIT $2
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
                          THEN jobq.push_error(j.errors, ${NOW(3)}, j.attempts,
                                               'worker ' || j.locked_by || ' lost the job: its lease expired', ${ERROR_HISTORY})
                          ELSE j.errors END,
            run_at = CASE WHEN stale.next IN ('retrying', 'queued') THEN ${NOW(3)} ELSE j.run_at END,
            locked_by = NULL, locked_at = NULL, started_at = NULL,
            finished_at = CASE WHEN stale.next IN ('retrying', 'queued') THEN NULL ELSE ${NOW(3)} END,
            updated_at = ${NOW(3)}
       FROM stale
      WHERE j.id = stale.id
     RETURNING j.*
   )
   SELECT upd.* FROM upd
   LEFT JOIN LATERAL (SELECT pg_notify('${JOBS_CHANNEL}', upd.queue) WHERE upd.status IN ('retrying', 'queued')) n ON true`,
);

/**
 * Worker $1 has started every job of its claims numbered up to $2 (claim_seq; migrations/0006): one
 * row per worker, however many buffered jobs started since the last write.
 */
export const MARK_STARTED_THROUGH = s(
  'mark_started_through',
  `INSERT INTO jobq.workers AS w (id, started_seq, updated_at) VALUES ($1, $2, ${NOW(3)})
   ON CONFLICT (id) DO UPDATE SET started_seq = greatest(w.started_seq, excluded.started_seq), updated_at = excluded.updated_at`,
);

/**
 * Worker $1 (instance $2, a random token of this Worker object) takes its id for $3 ms: only if no
 * live worker holds it (migrations/0009). No row back means a live worker has it.
 */
export const REGISTER_WORKER = s(
  'register_worker',
  `INSERT INTO jobq.workers AS w (id, started_seq, updated_at, instance, alive_until)
   VALUES ($1, 0, ${NOW(4)}, $2, ${NOW(4)} + $3 * interval '1 millisecond')
   ON CONFLICT (id) DO UPDATE SET instance = excluded.instance, alive_until = excluded.alive_until, updated_at = excluded.updated_at
    WHERE w.instance IS NULL OR w.alive_until IS NULL OR w.alive_until < excluded.updated_at
   RETURNING w.id`,
);

/** Who holds worker id $1, and until when (for the refusal's message). */
export const WORKER_HOLDER = s(
  'worker_holder',
  `SELECT instance, alive_until, (extract(epoch FROM alive_until - ${NOW(2)}) * 1000)::float8 AS remaining_ms
     FROM jobq.workers WHERE id = $1`,
);

/** Worker $1 (instance $2) is alive for another $3 ms. No row back: another instance took the id. */
/**
 * The lease keeper's fallback while its worker's event loop is blocked (src/worker/lease-keeper.ts):
 * renews the lease of every job running under worker $1. No claim list: the blocked thread cannot say
 * what it holds, and a worker id names one live worker (migrations/0009), so every job running under
 * it is this worker's. `locked_at IS NOT NULL` lets it walk the lease index (running jobs only).
 */
export const RENEW_ALL_OF_WORKER = s(
  'renew_all_of_worker',
  `UPDATE jobq.jobs SET locked_at = ${NOW(2)} WHERE locked_at IS NOT NULL AND status = 'running' AND locked_by = $1`,
);

export const RENEW_WORKER = s(
  'renew_worker',
  `UPDATE jobq.workers SET alive_until = ${NOW(4)} + $3 * interval '1 millisecond', updated_at = ${NOW(4)}
    WHERE id = $1 AND instance = $2
   RETURNING id`,
);

/** Worker $1 (instance $2) stopped: its id is free at once. */
export const UNREGISTER_WORKER = s(
  'unregister_worker',
  `UPDATE jobq.workers SET instance = NULL, alive_until = NULL, updated_at = ${NOW(3)} WHERE id = $1 AND instance = $2`,
);

/** Forgets workers that wrote nothing for $1 ms, are not alive, and hold no running job. */
export const PRUNE_WORKERS = s(
  'prune_workers',
  `DELETE FROM jobq.workers w
    WHERE w.updated_at < ${NOW(2)} - $1 * interval '1 millisecond'
      AND (w.alive_until IS NULL OR w.alive_until < ${NOW(2)})
      AND NOT EXISTS (SELECT 1 FROM jobq.jobs j WHERE j.status = 'running' AND j.locked_by = w.id)`,
);

export const GET = s('get', `SELECT * FROM jobq.jobs WHERE id = $1`);

export const STATUS_OF = s('status_of', `SELECT status FROM jobq.jobs WHERE id = $1`);

/**
 * The bytes a column holds once sent as text. For a value stored uncompressed its stored size says so
 * without reading it; a compressed one (a 1 MiB repetitive payload may be stored in 12 kB) is read and
 * measured, so that compression cannot smuggle a huge page past the byte cap.
 */
const WIRE_BYTES = (col: string) =>
  `coalesce(CASE WHEN pg_column_compression(${col}) IS NULL THEN pg_column_size(${col}) ELSE octet_length(${col}::text) END, 0)`;

/**
 * One page of a listing, newest first, keyset-paged on the id (UUID v7 sorts by creation), bounded
 * three ways so that no filter makes it expensive:
 * - it examines at most $6 rows after the cursor $4 (walking the primary key backwards, no index per
 *   filter: those would cost every enqueue and transition an index entry); the row where that scan
 *   stopped comes back marked `scan_end`, so the caller can continue after it;
 * - it returns at most $5 rows (the page size plus one, which says whether more follow);
 * - once the matching rows' payloads, results and errors add up to $7 bytes, later rows come back
 *   without those columns (`fits` false): the caller ends the page before them.
 * `hit` says whether a row matches the filters ($1 status, $2 kind, $3 queue; NULL: any).
 * The cursor is a range condition even without one (`$4 IS NULL OR id < $4` would be a filter in a
 * generic plan: the scan would start at the newest row and step over everything newer than the cursor).
 */
export const LIST = s(
  'list',
  `SELECT w.id, w.queue, w.kind, w.status, w.priority, w.attempts, w.max_attempts, w.run_at, w.timeout_ms,
          w.locked_by, w.locked_at, w.started_at, w.cancel_requested, w.idempotency_key, w.backoff_ms,
          w.created_at, w.updated_at, w.finished_at,
          CASE WHEN w.fits THEN w.payload END AS payload, CASE WHEN w.fits THEN w.result END AS result,
          CASE WHEN w.fits THEN w.errors END AS errors, CASE WHEN w.fits THEN w.last_error END AS last_error,
          w.hit, w.fits, w.n = $6 AS scan_end
     FROM (
       SELECT m.*, m.upto = m.size OR m.upto <= $7 AS fits
         FROM (
           SELECT h.*, sum(h.size) OVER (ORDER BY h.id DESC) AS upto
             FROM (
               SELECT s.*,
                      CASE WHEN s.hit THEN 512 + ${WIRE_BYTES('s.payload')} + ${WIRE_BYTES('s.result')} + ${WIRE_BYTES('s.errors')}
                                           + coalesce(octet_length(s.last_error), 0)
                           ELSE 0 END AS size
                 FROM (
                   SELECT j.*, row_number() OVER (ORDER BY j.id DESC) AS n,
                          ($1::jobq.job_status IS NULL OR j.status = $1) AND ($2::text IS NULL OR j.kind = $2)
                            AND ($3::text IS NULL OR j.queue = $3) AS hit
                     FROM jobq.jobs j
                    WHERE j.id < coalesce($4::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff')
                    ORDER BY j.id DESC
                    LIMIT $6
                 ) s
                WHERE s.hit OR s.n = $6
             ) h
         ) m
     ) w
    ORDER BY w.id DESC
    LIMIT $5`,
);

export const COUNTS = s(
  'counts',
  `SELECT queue, kind, status, count(*)::int AS n FROM jobq.jobs GROUP BY queue, kind, status`,
);

/** Per queue: seconds since its oldest runnable job became runnable (queues with none are absent). */
export const OLDEST_RUNNABLE = s(
  'oldest_runnable',
  `SELECT queue, extract(epoch FROM ${NOW(1)} - min(run_at))::float8 AS age
     FROM jobq.jobs
    WHERE status IN ('queued', 'retrying') AND run_at <= ${NOW(1)}
    GROUP BY queue`,
);

/**
 * Deletes up to $3 jobs of status $1 that finished more than $2 ms ago, oldest first. SKIP LOCKED and
 * a small batch per statement: pruning never waits for, or long holds, a row anyone else touches.
 */
export const PRUNE = s(
  'prune',
  `WITH doomed AS (
     SELECT id FROM jobq.jobs
      WHERE status = $1::jobq.job_status AND finished_at IS NOT NULL
        AND finished_at < ${NOW(4)} - $2 * interval '1 millisecond'
      ORDER BY status, finished_at
      LIMIT $3
      FOR UPDATE SKIP LOCKED
   )
   DELETE FROM jobq.jobs j USING doomed WHERE j.id = doomed.id`,
);

/**
 * Only one process at a time sweeps: the others skip their turn instead of queueing behind it.
 * While it holds the lock, the session ends itself after $1 ms idle (idle_session_timeout, PostgreSQL
 * 14+), which frees the lock: a sweeper whose process stalls mid-sweep (a handler blocking its event
 * loop) must not stop every other process from recovering jobs for as long as it stalls.
 */
export const SWEEP_LOCK_SESSION = s(
  'sweep_lock_session',
  `SELECT l.locked, CASE WHEN l.locked AND current_setting('server_version_num')::int >= 140000
                         THEN set_config('idle_session_timeout', $1::text, false) END AS idle_timeout
     FROM (SELECT pg_try_advisory_lock(${0x6a6f6273}) AS locked) l`,
);
export const SWEEP_UNLOCK_SESSION = s(
  'sweep_unlock_session',
  `SELECT pg_advisory_unlock(${0x6a6f6273}) AS unlocked,
          CASE WHEN current_setting('server_version_num')::int >= 140000 THEN set_config('idle_session_timeout', '0', false) END`,
);
