/**
 * The log store's statements (migrations/0019_log.sql, log/functions.sql). A job the log holds is
 * named by its id and, while claimed, by its claim: `claim_seq = -(batch_id * SEQ_SPAN + seq)`
 * (negative, so that no claim of the row store has the same number), and its log position, `pos`.
 * The enqueue, claims and transitions are here; the sweep's statements are sweep.ts, the reads reads.ts.
 */
import { CANCEL_CHANNEL, JOBS_CHANNEL } from '../channels.ts';
import { insertedRows, insertInput, insertJobs } from '../statements/insert-sql.ts';
import { command, NOW, statement } from '../statements/statement.ts';
import type { InsertedRow } from '../statements/enqueue.ts';
import type { ClaimedRow } from '../rows.ts';
import type { ClaimParams } from '../statements/claim.ts';
import type { DerivedRow } from './reads.ts';

/** A log claim's claim_seq leaves this many numbers per batch (a claim takes at most 1,000 jobs per lane). */
export const SEQ_SPAN = 1024;

const DUE = `coalesce(run_at, ${NOW} + delay_ms * interval '1 millisecond')`;

/** A batch of at least this many plain jobs of one queue makes the queue busy (QueueOptions.logStore 'busy'). */
export const BUSY_BATCH = 100;

/**
 * The enqueue with the log store on: one statement that sends each job of the batch to its store. A
 * job goes to the log when it asks for nothing the log does not carry (priority 0, no group, no
 * idempotency key, not named as a parent by a later entry of its batch: InsertRow.row_store), its queue
 * has no policy (jobq.queues: the log's claim takes no part in flow control), and the queue is in the
 * log: `all` (QueueOptions.logStore true), or the queue has its cursor rows (made busy: by a batch of
 * BUSY_BATCH of its plain jobs, here, or by a worker that claimed many of its rows, `promote`). The
 * rest are rows, inserted exactly as `insert` does. Returns what `insert` returns.
 */
export const insertRouted = statement<{ input: string; notify: boolean; all: boolean; now: Date | null }, InsertedRow>(
  'log_insert_routed',
  `WITH input AS (${insertInput(':input')}),
   plain AS (
     SELECT input.*, (priority = 0 AND group_key IS NULL AND idempotency_key IS NULL AND row_store IS NOT TRUE
                      AND NOT EXISTS (SELECT FROM jobq.queues q WHERE q.name = input.queue)) AS plain
       FROM input
   ),
   fresh AS (
     SELECT p.queue AS q FROM plain p WHERE p.plain
      GROUP BY p.queue HAVING (:all::boolean OR count(*) >= ${BUSY_BATCH}) AND NOT EXISTS (SELECT FROM jobq.log_cursor c WHERE c.queue = p.queue AND c.lane = 0)
   ),
   routed AS (
     SELECT plain.*, plain AND (:all::boolean OR queue IN (SELECT q FROM fresh)
                                OR EXISTS (SELECT FROM jobq.log_cursor c WHERE c.queue = plain.queue AND c.lane = 0)) AS to_log
       FROM plain
   ),
   rowsin AS (SELECT * FROM routed WHERE NOT to_log),
   ins AS (${insertJobs('rowsin')}),
   cursors AS (
     INSERT INTO jobq.log_cursor (queue, lane)
     SELECT fresh.q, l FROM fresh, generate_series(0, jobq.log_lanes() - 1) l
     ON CONFLICT DO NOTHING
   ),
   now_in AS (
     INSERT INTO jobq.log (id, queue, kind, payload, max_attempts, run_at, timeout_ms, created_at, trace_context)
     SELECT id, queue, kind, coalesce(payload, 'null'), max_attempts, ${DUE}, timeout_ms, ${NOW}, trace_context
       FROM routed WHERE to_log AND ${DUE} <= ${NOW} ORDER BY ord
     RETURNING id, queue, NULL::text AS group_key, run_at, created_at
   ),
   later_in AS (
     INSERT INTO jobq.log_scheduled (id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, created_at, trace_context)
     SELECT id, true, queue, kind, coalesce(payload, 'null'), 1, max_attempts, ${DUE}, timeout_ms, ${NOW}, trace_context
       FROM routed WHERE to_log AND ${DUE} > ${NOW} ORDER BY ord
     RETURNING id, queue, NULL::text AS group_key, run_at, created_at
   ),
   made AS (SELECT * FROM ins UNION ALL SELECT * FROM now_in UNION ALL SELECT * FROM later_in)
   ${insertedRows('made', ':notify::boolean')}`,
);

/** The claim's parameters are the row store's (statements/claim.ts). */
export type ClaimAllParams = ClaimParams;

/**
 * The Worker's claim with the log store on: the log's entries first, then the rows (jobq.claim_all).
 * Its last row is all nulls when it moved due entries into the log, which only a later claim can take.
 */
export type ClaimedAllRow = ClaimedRow & { pos: string | null };

export const claimAll = statement<ClaimAllParams, ClaimedAllRow>(
  'log_claim_all',
  `SELECT * FROM jobq.claim_all(:workerId, :limit, :queues::text[], :kinds::text[], :now::timestamptz, :afterPriority::integer,
                                :afterRunAt::timestamptz, :afterId::uuid, :started::integer, :async::boolean, :exclude::text[])`,
);

/**
 * Busy queues move to the log (QueueOptions.logStore 'busy'): their cursor rows are made, so that their
 * next plain jobs go to the log (insertRouted). A queue with a policy keeps its jobs rows all the same.
 */
export const promote = command<{ queues: string[] }>(
  'log_promote',
  `INSERT INTO jobq.log_cursor (queue, lane)
   SELECT q, l FROM unnest(:queues::text[]) q, generate_series(0, jobq.log_lanes() - 1) l
   ON CONFLICT DO NOTHING`,
);

/** The claims' items: batch, log position (null: the job's newest entry), id. */
const ITEMS = `SELECT * FROM unnest(:batches::bigint[], :pos::bigint[], :ids::uuid[], :claims::float8[]) AS t(batch_id, pos, id, claim_seq)`;

/**
 * Whether the entry at `pos` is the one that claim `claim` of batch `batch` took (its place in the batch is
 * the claim's seq) and has no outcome yet. Checked only for a position this process did not know (the
 * claim's item had none: claimed by another process, or named with another job's id).
 */
const CLAIMED = (batch: string, pos: string, claim: string) =>
  `EXISTS (SELECT FROM jobq.log_batch_open(${batch}) o WHERE o.pos = ${pos} AND o.seq = -${claim}::bigint - ${batch} * ${SEQ_SPAN})`;

/**
 * The entries these claims of `workerId` hold that have no outcome yet, their batches locked against
 * recovery (FOR SHARE), with whether their job has a cancel request.
 */
const HELD = `
  held AS (
    SELECT l.*, i.batch_id, i.claim_seq, EXISTS (SELECT FROM jobq.log_cancel k WHERE k.id = l.id) AS cancel, b.parents, b.claimed_at
      FROM (${ITEMS}) i
      JOIN jobq.log_batch b ON b.batch_id = i.batch_id AND b.worker = :workerId AND b.lost_at IS NULL
      JOIN jobq.log l ON l.id = i.id AND l.pos = coalesce(i.pos, (SELECT max(x.pos) FROM jobq.log x WHERE x.id = i.id))
     WHERE (i.pos IS NOT NULL OR ${CLAIMED('b.batch_id', 'l.pos', 'i.claim_seq')})
       AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos)
       AND NOT EXISTS (SELECT FROM jobq.log_done d WHERE d.batch_id = b.batch_id AND l.pos = ANY (d.pos))
       FOR SHARE OF b
  )`;

export interface ClaimItems {
  workerId: string;
  batches: number[];
  pos: (string | null)[];
  ids: string[];
  claims: number[];
  now: Date | null;
}

/**
 * Completes claims: one done row per batch (its positions, and results when any is not null). Guarded
 * per batch, not per entry: the batch still this worker's and not recovered (locked against recovery,
 * FOR SHARE), and each position without an outcome. A position comes from the claim (LogClaims);
 * unknown to this process, it is the job's newest entry. Returns the claims completed.
 */
export const complete = statement<ClaimItems & { results: (string | null)[]; launched: (number | null)[] }, { claim_seq: number }>(
  'log_complete',
  `WITH i AS (
     SELECT * FROM unnest(:batches::bigint[], :pos::bigint[], :ids::uuid[], :claims::float8[], :results::jsonb[], :launched::float8[])
                AS t(batch_id, pos, id, claim_seq, result, launched)
   ), r AS (
     SELECT i.batch_id, coalesce(i.pos, (SELECT max(x.pos) FROM jobq.log x WHERE x.id = i.id)) AS pos, i.pos IS NOT NULL AS known, i.claim_seq, i.result,
            i.launched FROM i
   ), held AS (
     SELECT b.batch_id, b.parents, b.claimed_at FROM jobq.log_batch b
      WHERE b.batch_id = ANY (:batches::bigint[]) AND b.worker = :workerId AND b.lost_at IS NULL FOR SHARE
   ), ok AS (
     SELECT r.*, held.parents, held.claimed_at FROM r JOIN held USING (batch_id)
      WHERE r.pos IS NOT NULL AND (r.known OR ${CLAIMED('r.batch_id', 'r.pos', 'r.claim_seq')})
        AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = r.pos)
        AND NOT EXISTS (SELECT FROM jobq.log_done d WHERE d.batch_id = r.batch_id AND r.pos = ANY (d.pos))
   ), ins AS (
     INSERT INTO jobq.log_done (batch_id, pos, results, finished_at, parents, started_at)
     SELECT batch_id, array_agg(pos ORDER BY pos), CASE WHEN bool_and(result IS NULL) THEN NULL ELSE jsonb_agg(result ORDER BY pos) END, ${NOW}, parents,
            CASE WHEN bool_and(launched IS NOT NULL) THEN to_timestamp(min(launched) / 1000) ELSE claimed_at END
       FROM ok GROUP BY batch_id, parents, claimed_at
   )
   SELECT claim_seq FROM ok`,
);

export interface FailParams extends ClaimItems {
  error: string;
  permanent: boolean;
  delayMs: number;
  /** When the worker started it (epoch ms), for a job that waited in its buffer; else it started with its claim. */
  launchedAtMs: number | null;
}

/**
 * A failed attempt of one claimed entry: a fail row, `cancelled` when a cancel was requested,
 * `failed_permanent` when out of attempts or `permanent`, else `retrying` with the next attempt
 * scheduled after `delayMs`. Returns the status written (nothing: the claim no longer holds it).
 */
export const fail = statement<FailParams, { status: string }>(
  'log_fail',
  `WITH ${HELD},
   d AS (
     SELECT held.*, CASE WHEN cancel THEN 'cancelled' WHEN :permanent::boolean OR attempt >= max_attempts THEN 'failed_permanent' ELSE 'retrying' END AS status
       FROM held
   ),
   f AS (
     INSERT INTO jobq.log_fail (pos, id, batch_id, status, attempt, error, at, parents, started_at)
     SELECT pos, id, batch_id, status, attempt, CASE WHEN status = 'cancelled' THEN NULL ELSE :error END, ${NOW}, parents,
            coalesce(to_timestamp(:launchedAtMs::float8 / 1000), claimed_at) FROM d
   ),
   s AS (
     INSERT INTO jobq.log_scheduled (id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at, trace_context)
     SELECT id, false, queue, kind, payload, attempt + 1, max_attempts, ${NOW} + :delayMs * interval '1 millisecond', timeout_ms, :delayMs,
            created_at, trace_context
       FROM d WHERE status = 'retrying'
   )
   SELECT status FROM d`,
);

/** A running entry that saw its cancel request: cancelled (its attempt spent). Returns the ids. */
export const finalizeCancelled = statement<ClaimItems, { id: string }>(
  'log_finalize_cancelled',
  `WITH ${HELD},
   f AS (
     INSERT INTO jobq.log_fail (pos, id, batch_id, status, attempt, at, parents, started_at)
     SELECT pos, id, batch_id, 'cancelled', attempt, ${NOW}, parents, claimed_at FROM held WHERE cancel
   )
   SELECT id FROM held WHERE cancel`,
);

/**
 * Gives claims back unrun: a `released` fail row and a new entry of the same attempt each (its
 * attempt not spent), or `cancelled` when a cancel was requested. Returns the ids.
 */
export const release = statement<ClaimItems, { id: string }>(
  'log_release',
  `WITH ${HELD},
   f AS (
     INSERT INTO jobq.log_fail (pos, id, batch_id, status, attempt, at, parents)
     SELECT pos, id, batch_id, CASE WHEN cancel THEN 'cancelled' ELSE 'released' END, CASE WHEN cancel THEN attempt - 1 ELSE attempt END, ${NOW}, parents
       FROM held
   ),
   a AS (
     INSERT INTO jobq.log (id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at, trace_context)
     SELECT id, false, queue, kind, payload, attempt, max_attempts, ${NOW}, timeout_ms, backoff_ms, created_at, trace_context FROM held WHERE NOT cancel
   ),
   n AS (SELECT pg_notify('${JOBS_CHANNEL}', q) FROM (SELECT DISTINCT queue AS q FROM held WHERE NOT cancel) d)
   SELECT id FROM held, (SELECT count(*) FROM n) x`,
);

/** Renews the batches these claims name (one row per batch, not per job); says which batches it holds and which jobs have a cancel request. */
export const renew = statement<{ workerId: string; batches: number[]; ids: string[]; now: Date | null }, { batch_id: number | null; cancel_id: string | null }>(
  'log_renew',
  `WITH b AS (
     UPDATE jobq.log_batch SET locked_at = ${NOW} WHERE batch_id = ANY (:batches::bigint[]) AND worker = :workerId AND lost_at IS NULL RETURNING batch_id
   )
   SELECT batch_id::float8 AS batch_id, NULL::uuid AS cancel_id FROM b
   UNION ALL SELECT NULL, id FROM jobq.log_cancel WHERE id = ANY (:ids::uuid[])`,
);

/** Of these claims (batch, job id, claim number), those whose entry is still open in their batch under that id. */
export const openClaims = statement<{ batches: number[]; ids: string[]; claims: number[] }, { claim_seq: number }>(
  'log_open_claims',
  `SELECT i.claim_seq FROM unnest(:batches::bigint[], :ids::uuid[], :claims::float8[]) AS i(batch_id, id, claim_seq)
    WHERE EXISTS (SELECT FROM jobq.log_batch_open(i.batch_id) o WHERE o.id = i.id AND o.seq = -i.claim_seq::bigint - i.batch_id * ${SEQ_SPAN})`,
);

/** A running job's progress, stored when the claim still holds it. */
export const setProgress = statement<ClaimItems & { progress: string }, { queue: string; kind: string; attempt: number }>(
  'log_set_progress',
  `WITH ${HELD},
   p AS (
     INSERT INTO jobq.log_progress (id, progress, at) SELECT id, :progress::jsonb, ${NOW} FROM held
     ON CONFLICT (id) DO UPDATE SET progress = excluded.progress, at = excluded.at
   )
   SELECT queue, kind, attempt FROM held`,
);

/**
 * Cancels a waiting log job: under every lane's cursor lock of its queue (no claim takes it meanwhile),
 * a scheduled entry is moved into the log and the job's newest entry gets a `cancelled` fail row; a
 * running one gets a cancel request (jobq.log_cancel) and its worker a notification. Says what it did:
 * `cancelled`, `requested`, or the status that made it do nothing.
 */
export const cancel = statement<{ id: string; now: Date | null }, DerivedRow & { outcome: 'cancelled' | 'requested' | 'already_terminal' }>(
  'log_cancel',
  `SELECT c.outcome, (c.derived).* FROM jobq.log_request_cancel(:id::uuid, ${NOW}) c`,
);

export const notifyCancel = statement<{ id: string }, unknown>('log_notify_cancel', `SELECT pg_notify('${CANCEL_CHANNEL}', :id::text)`);

/** failed_permanent or cancelled → queued: a new entry with its attempts reset, one retry of a job at a time. `retried`, or the status that kept it; with the job. */
export const retry = statement<{ id: string; now: Date | null }, DerivedRow & { outcome: string }>(
  'log_retry',
  `SELECT r.outcome, (r.derived).* FROM jobq.log_retry(:id::uuid, ${NOW}) r`,
);

/**
 * The claim that holds log job `id` while it runs (its batch not lost): its claim_seq, its worker, and
 * the delay before this attempt. For a worker's transition named by the job's id alone.
 */
export const claimOf = statement<{ id: string }, { claim_seq: number; worker: string; backoff_ms: number | null }>(
  'log_claim_of',
  `SELECT d.claim_seq, b.worker, d.backoff_ms
     FROM jobq.log_job(:id::uuid) d
     JOIN jobq.log_batch b ON b.batch_id = d.batch_id AND b.lost_at IS NULL
    WHERE d.status = 'running'`,
);

/** Worker `workerId` has started every buffered log job up to claim `claimSeq` (negative): as markStartedThrough for rows. */
export const markStartedThrough = command<{ workerId: string; claimSeq: number; now: Date | null }>(
  'log_mark_started_through',
  `INSERT INTO jobq.workers AS w (id, started_seq, log_started, updated_at) VALUES (:workerId, 0, -:claimSeq::bigint, ${NOW})
   ON CONFLICT (id) DO UPDATE SET log_started = greatest(w.log_started, excluded.log_started), updated_at = excluded.updated_at`,
);
