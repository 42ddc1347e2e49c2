-- What PostgreSQL allows for jobq's work: claim 50 runnable jobs as jobq's claim does (src/queue/statements/
-- and jobq.claim: SKIP LOCKED, same order and filters, written out as one statement), then mark them
-- succeeded in ONE statement by id, as jobq's Completer does (COMPLETE_MANY). Two round trips per 50
-- jobs, each its own transaction (autocommit), as jobq runs them. The ids come back as one array
-- (\gset; with -M prepared, :ids is a parameter).
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
UPDATE jobq.jobs
   SET status = 'succeeded', result = NULL, locked_by = NULL, locked_at = NULL, finished_at = now(), updated_at = now()
 WHERE id = ANY (:ids::uuid[]) AND status = 'running' AND locked_by = 'pgbench-' || :client_id
RETURNING id;
