/**
 * The log store's housekeeping statements (migrations/0019_log.sql, log/functions.sql): the sweep's
 * recovery of batches whose lease lapsed, its move of due scheduled entries, and the move of a queue's
 * waiting log jobs to rows when it gets a policy. The claims and transitions are statements.ts.
 */
import { JOBS_CHANNEL } from '../channels.ts';
import { NOW, statement } from '../statements/statement.ts';
import { SEQ_SPAN } from './statements.ts';

/** Batches after `through` not marked lost: whether each is stale and whether it has unfinished entries. */
export const sweepBatches = statement<{ through: string; staleAfterMs: number; now: Date | null }, { batch_id: string; stale: boolean; open: boolean }>(
  'log_sweep_batches',
  `SELECT b.batch_id, b.locked_at < ${NOW} - :staleAfterMs * interval '1 ms' AS stale,
          b.n > coalesce((SELECT sum(cardinality(d.pos)) FROM jobq.log_done d WHERE d.batch_id = b.batch_id), 0)
              + (SELECT count(*) FROM jobq.log_fail f WHERE f.batch_id = b.batch_id) AS open
     FROM jobq.log_batch b WHERE b.batch_id > :through::bigint AND b.lost_at IS NULL ORDER BY b.batch_id`,
);

/**
 * Recovers a batch whose lease lapsed: marks it lost; each unfinished entry gets a fail row and, unless
 * that ends the job, a new entry. An entry that never started (it waited in the worker's buffer: past
 * the batch's `started` and its worker's `log_started`, migrations/0021) is `released`, and comes back
 * with the same attempt; a started one is `lost` (the next attempt), or `failed_permanent` when out of
 * attempts; either is `cancelled` when a cancel was requested. Returns the entries recovered.
 */
export const recoverBatch = statement<{ batchId: string; now: Date | null }, { id: string; status: string }>(
  'log_recover_batch',
  `WITH locked AS (UPDATE jobq.log_batch SET lost_at = ${NOW} WHERE batch_id = :batchId::bigint AND lost_at IS NULL RETURNING batch_id, worker, started, parents, claimed_at),
   o AS (
     SELECT e.*, locked.worker, locked.parents, locked.claimed_at, started.is AS started,
            CASE WHEN EXISTS (SELECT FROM jobq.log_cancel k WHERE k.id = e.id) THEN 'cancelled'
                 WHEN NOT started.is THEN 'released'
                 WHEN e.attempt >= e.max_attempts THEN 'failed_permanent' ELSE 'lost' END AS status
       FROM locked
      CROSS JOIN LATERAL jobq.log_batch_open(locked.batch_id) e
      CROSS JOIN LATERAL (SELECT locked.started IS NULL OR e.seq < locked.started
                                 OR locked.batch_id * ${SEQ_SPAN} + e.seq <= coalesce((SELECT w.log_started FROM jobq.workers w WHERE w.id = locked.worker), -1) AS is) started
   ),
   f AS (
     INSERT INTO jobq.log_fail (pos, id, batch_id, status, attempt, error, at, parents, started_at)
     SELECT pos, id, :batchId::bigint, status, CASE WHEN started THEN attempt ELSE attempt - 1 END,
            CASE WHEN started THEN 'worker ' || worker || ' lost the job: its lease expired' END, ${NOW}, parents, CASE WHEN started THEN claimed_at END FROM o
   ),
   a AS (
     INSERT INTO jobq.log (id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at, trace_context)
     SELECT id, false, queue, kind, payload, CASE WHEN status = 'lost' THEN attempt + 1 ELSE attempt END, max_attempts, ${NOW},
            timeout_ms, backoff_ms, created_at, trace_context
       FROM o WHERE status IN ('lost', 'released')
   ),
   n AS (SELECT pg_notify('${JOBS_CHANNEL}', q) FROM (SELECT DISTINCT queue AS q FROM o WHERE status IN ('lost', 'released')) d)
   SELECT id, status FROM o, (SELECT count(*) FROM n) x`,
);

/** Due scheduled entries of every queue into the log (claims move their own queue's too), each such queue's workers woken. */
export const moveDue = statement<{ now: Date | null }, unknown>(
  'log_move_due_all',
  `SELECT jobq.log_move_due(c.queue, ${NOW}), pg_notify('${JOBS_CHANNEL}', c.queue)
     FROM (SELECT DISTINCT queue FROM jobq.log_cursor) c
    WHERE EXISTS (SELECT FROM jobq.log_scheduled s WHERE s.queue = c.queue AND s.run_at <= ${NOW})`,
);

/** Where recovery resumes, locked (none: another process is recovering). */
export const sweepThrough = statement<Record<string, never>, { through: string }>(
  'log_sweep_through',
  'SELECT through FROM jobq.log_sweep FOR UPDATE SKIP LOCKED',
);

export const setSweepThrough = statement<{ through: string }, unknown>('log_set_sweep_through', 'UPDATE jobq.log_sweep SET through = :through::bigint');

/** Queue `name` has a policy now: its waiting log jobs become rows (jobq.log_to_rows). Returns how many. */
export const toRows = statement<{ name: string; now: Date | null }, { moved: number }>('log_to_rows', `SELECT jobq.log_to_rows(:name, ${NOW}) AS moved`);

/**
 * Every queue with a policy that has a log: its waiting log jobs become rows. They are what an enqueue
 * that raced the queue's setQueue put there, or what its log jobs running then appended since (a
 * retry, a release, a recovery, the operator's retry).
 */
export const strayToRows = statement<{ now: Date | null }, { moved: number }>(
  'log_stray_to_rows',
  `SELECT jobq.log_to_rows(c.queue, ${NOW}) AS moved FROM (SELECT DISTINCT queue FROM jobq.log_cursor) c
    WHERE EXISTS (SELECT FROM jobq.queues q WHERE q.name = c.queue)`,
);
