-- Retries the (failed) job as LogQueue.retry does: its status derived, and when failed_permanent or
-- cancelled a new log entry of attempt 1 appended, under an advisory lock on the job's id (two
-- clients retrying one job would both append). Then the job as the API returns it.
\set i random(1, :nids)
BEGIN;
SELECT pg_advisory_xact_lock(hashtextextended((SELECT id FROM jobq.bench_ids WHERE i = :i)::text, 0));
INSERT INTO jobq.log (id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at)
SELECT l.id, false, l.queue, l.kind, l.payload, 1, l.max_attempts, now(), l.timeout_ms, l.backoff_ms, l.created_at
  FROM jobq.log_job((SELECT id FROM jobq.bench_ids WHERE i = :i)) j JOIN jobq.log_all l ON l.id = j.id AND l.pos = j.pos
 WHERE j.status IN ('failed_permanent', 'cancelled');
COMMIT;
SELECT * FROM jobq.log_job((SELECT id FROM jobq.bench_ids WHERE i = :i));
