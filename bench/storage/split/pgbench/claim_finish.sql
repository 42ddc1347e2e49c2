-- split: today's claim of 50 runnable jobs from the hot table (as bench/pgbench/claim_finish_batched.sql),
-- then their completion as ONE statement that moves them: DELETE from jobq.jobs RETURNING into an INSERT
-- into the day partition of jobq.jobs_done. Two round trips per 50 jobs, each its own transaction.
WITH next AS (
  SELECT id FROM jobq.jobs
   WHERE status IN ('queued', 'retrying')
     AND run_at <= now()
     AND kind = ANY ('{bench_noop}'::text[])
     AND group_key IS NULL
   ORDER BY priority DESC, run_at, id
   LIMIT 50
   FOR UPDATE SKIP LOCKED
), claimed AS (
  UPDATE jobq.jobs j
     SET status = 'running', attempts = j.attempts + 1, locked_by = 'pgbench-' || :client_id,
         locked_at = now(), updated_at = now()
    FROM next
   WHERE j.id = next.id
  RETURNING j.id
)
SELECT coalesce(array_agg(id), '{}') AS ids FROM claimed \gset
WITH gone AS (
  DELETE FROM jobq.jobs
   WHERE id = ANY (:ids::uuid[]) AND status = 'running' AND locked_by = 'pgbench-' || :client_id
  RETURNING *
)
INSERT INTO jobq.jobs_done (id, queue, kind, payload, status, priority, attempts, max_attempts, run_at, timeout_ms,
                            cancel_requested, idempotency_key, last_error, errors, backoff_ms, result, created_at,
                            updated_at, finished_at, started_at, claim_seq, group_key, singleton_key, debounce_key,
                            progress, depends_on, on_parent_failure, pending_parents, has_children, trace_context)
SELECT id, queue, kind, payload, 'succeeded', priority, attempts, max_attempts, run_at, timeout_ms,
       cancel_requested, idempotency_key, last_error, errors, backoff_ms, NULL, created_at,
       now(), now(), started_at, claim_seq, group_key, singleton_key, debounce_key,
       progress, depends_on, on_parent_failure, pending_parents, has_children, trace_context
  FROM gone
RETURNING id;
