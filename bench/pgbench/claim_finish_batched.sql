-- What PostgreSQL allows for jobq's work: claim 50 runnable jobs as jobq's CLAIM does (src/queue/sql.ts:
-- SKIP LOCKED, same order and filters as a worker's claim), then mark them succeeded in ONE statement.
-- Two round trips per 50 jobs, each its own transaction (autocommit), as jobq runs them.
WITH next AS (
  SELECT id FROM jobq.jobs
   WHERE status IN ('queued', 'retrying')
     AND run_at <= now()
     AND kind = ANY ('{bench_noop}'::text[])
   ORDER BY priority DESC, run_at, id
   LIMIT 50
   FOR UPDATE SKIP LOCKED
)
UPDATE jobq.jobs j
   SET status = 'running', attempts = j.attempts + 1, locked_by = 'pgbench-' || :client_id,
       locked_at = now(), updated_at = now()
  FROM next
 WHERE j.id = next.id
RETURNING j.*;
UPDATE jobq.jobs
   SET status = 'succeeded', result = NULL, locked_by = NULL, locked_at = NULL, finished_at = now(), updated_at = now()
 WHERE status = 'running' AND locked_by = 'pgbench-' || :client_id
RETURNING *;
