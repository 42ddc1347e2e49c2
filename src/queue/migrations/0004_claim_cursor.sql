-- Claiming from a cursor. A claimed or finished job leaves a dead entry at the front of the runnable
-- index until vacuum removes it (and while any transaction holds an old snapshot, it cannot), and a
-- claim that starts at the front steps over every one of them. With p_after (the last job of the
-- worker's previous claim, in claim order) the scan starts there instead, within that priority:
--   priority = p_priority AND (run_at, id) > (p_after_run_at, p_after_id)
-- is a range of the index. The worker starts from the front again when a cursor claim comes back
-- short and at every poll tick, so released jobs (whose run_at is old) and higher priorities are
-- never missed for longer than that. The planner is pinned to the index walk as before.
--
-- Claims also say which jobs start now (p_started, the worker's free slots; the rest wait in its
-- buffer): started_at is set for those, and for buffered ones when they start (Queue.markStarted).
-- A job whose worker is lost before it started gets its attempt back on recovery.
DROP FUNCTION jobq.claim(text, integer, text[], text[], timestamptz);

ALTER TABLE jobq.jobs ADD COLUMN started_at timestamptz;

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
AS $$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
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
           started_at = CASE WHEN next.n <= coalesce(p_started, p_limit) THEN v_now END
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
           started_at = CASE WHEN next.n <= coalesce(p_started, p_limit) THEN v_now END
      FROM next
     WHERE j.id = next.id
    RETURNING j.*;
  END IF;
END
$$;
