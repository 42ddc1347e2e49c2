-- Today's hot path: jobq.claim (the function the worker calls: runnable index walk, SKIP LOCKED, one
-- UPDATE per job, commit without waiting for the flush), then one durable completion of the batch as the
-- Completer writes it (an UPDATE per job: a new row version with its primary-key and finished-index entries).
SELECT coalesce(array_agg(id), '{}') AS ids
  FROM jobq.claim('pgbench-' || :client_id, :batch, NULL, '{bench_noop}', NULL, NULL, NULL, NULL, NULL, true, NULL) \gset
UPDATE jobq.jobs
   SET status = 'succeeded', result = NULL, locked_by = NULL, locked_at = NULL, finished_at = now(), updated_at = now()
 WHERE id = ANY (:ids::uuid[]) AND status = 'running' AND locked_by = 'pgbench-' || :client_id;
