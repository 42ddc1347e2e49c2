-- Which buffered jobs have started, kept per worker instead of per job.
--
-- A worker claims more jobs than it has free slots and holds the rest in a buffer; if the worker is
-- lost, a job that never started must get its attempt back (0004). 0004 recorded each start with a
-- second UPDATE of every buffered job (Queue.markStarted), which measured as costly as the claim and
-- the completion together: in-process at concurrency 10 on PostgreSQL 15, 25,300 jobs/s with it,
-- 34,600 without, PostgreSQL CPU 43 -> 27 us per job.
--
-- Instead every claim numbers its jobs in claim order (claim_seq: the claim's number from a sequence,
-- times 2^20, plus the position), a worker starts its buffered jobs in that order, and it records the
-- number of the last one it started in its row of jobq.workers: one small upsert however many jobs
-- started. A job counts as started if the claim started it (started_at) or its claim_seq is at or
-- below its worker's started_seq.
CREATE SEQUENCE jobq.claims AS bigint;

ALTER TABLE jobq.jobs ADD COLUMN claim_seq bigint;

CREATE TABLE jobq.workers (
  id          text PRIMARY KEY,
  -- The claim_seq of the last buffered job this worker started.
  started_seq bigint NOT NULL,
  updated_at  timestamptz NOT NULL
);

DROP FUNCTION jobq.claim(text, integer, text[], text[], timestamptz, integer, timestamptz, uuid, integer);

-- As 0004 (see there for the cursor), plus claim_seq; jit off as 0005. p_limit is at most 2^20 - 1.
CREATE FUNCTION jobq.claim(
  p_worker text, p_limit integer, p_queues text[], p_kinds text[], p_now timestamptz,
  p_priority integer DEFAULT NULL, p_after_run_at timestamptz DEFAULT NULL, p_after_id uuid DEFAULT NULL,
  p_started integer DEFAULT NULL
)
RETURNS SETOF jobq.jobs
LANGUAGE plpgsql VOLATILE
SET enable_bitmapscan = off
SET enable_sort = off
SET enable_seqscan = off
SET jit = off
AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_base bigint := nextval('jobq.claims') * 1048576;
BEGIN
  IF p_after_id IS NULL THEN
    RETURN QUERY
    WITH locked AS (
      SELECT id, priority, run_at FROM jobq.jobs
       WHERE status IN ('queued', 'retrying')
         AND run_at <= v_now
         AND (p_queues IS NULL OR queue = ANY(p_queues))
         AND (p_kinds IS NULL OR kind = ANY(p_kinds))
       ORDER BY priority DESC, run_at, id
       LIMIT p_limit
       FOR UPDATE SKIP LOCKED
    ), next AS (
      SELECT id, row_number() OVER (ORDER BY priority DESC, run_at, id) AS n FROM locked
    )
    UPDATE jobq.jobs j
       SET status = 'running', attempts = j.attempts + 1, locked_by = p_worker, locked_at = v_now, updated_at = v_now,
           started_at = CASE WHEN next.n <= coalesce(p_started, p_limit) THEN v_now END,
           claim_seq = v_base + next.n
      FROM next
     WHERE j.id = next.id
    RETURNING j.*;
  ELSE
    RETURN QUERY
    WITH locked AS (
      SELECT id, priority, run_at FROM jobq.jobs
       WHERE status IN ('queued', 'retrying')
         AND priority = p_priority
         AND (run_at, id) > (p_after_run_at, p_after_id)
         AND run_at <= v_now
         AND (p_queues IS NULL OR queue = ANY(p_queues))
         AND (p_kinds IS NULL OR kind = ANY(p_kinds))
       ORDER BY priority DESC, run_at, id
       LIMIT p_limit
       FOR UPDATE SKIP LOCKED
    ), next AS (
      SELECT id, row_number() OVER (ORDER BY priority DESC, run_at, id) AS n FROM locked
    )
    UPDATE jobq.jobs j
       SET status = 'running', attempts = j.attempts + 1, locked_by = p_worker, locked_at = v_now, updated_at = v_now,
           started_at = CASE WHEN next.n <= coalesce(p_started, p_limit) THEN v_now END,
           claim_seq = v_base + next.n
      FROM next
     WHERE j.id = next.id
    RETURNING j.*;
  END IF;
END
$$;
