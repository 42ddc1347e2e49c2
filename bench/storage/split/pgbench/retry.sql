-- split: retry of a failed job: it moves from the history back to the hot table as queued with its
-- attempts reset (one statement), and wakes the workers of its queue, as Queue.retry does.
\set i random(1, :nids)
WITH gone AS (
  DELETE FROM jobq.jobs_done
   WHERE id = (SELECT id FROM jobq.bench_ids WHERE i = :i) AND status IN ('failed_permanent', 'cancelled')
     AND finished_at >= jobq.split_id_time((SELECT id FROM jobq.bench_ids WHERE i = :i)) - interval '1 day'
  RETURNING *
), back AS (
  INSERT INTO jobq.jobs (id, queue, kind, payload, status, priority, attempts, max_attempts, run_at, timeout_ms,
                         cancel_requested, idempotency_key, last_error, errors, backoff_ms, result, created_at,
                         updated_at, finished_at, started_at, claim_seq, group_key, singleton_key, debounce_key,
                         progress, depends_on, on_parent_failure, pending_parents, has_children, trace_context)
  SELECT id, queue, kind, payload, 'queued', priority, 0, max_attempts, now(), timeout_ms,
         false, idempotency_key, last_error, errors, NULL, NULL, created_at,
         now(), NULL, started_at, claim_seq, group_key, singleton_key, debounce_key,
         NULL, depends_on, on_parent_failure, CASE WHEN pending_parents IS NOT NULL THEN 0 END, has_children, trace_context
    FROM gone
  RETURNING *
)
SELECT back.* FROM back
LEFT JOIN LATERAL (SELECT pg_notify('jobq_jobs', CASE WHEN back.group_key IS NULL THEN back.queue ELSE back.queue || ' grouped' END)) n ON true;
