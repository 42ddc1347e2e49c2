-- POST /v1/jobs/{id}/retry of a failed job: back to queued with fresh attempts.
\set i random(1, :nids)
UPDATE jobq.jobs
   SET status = 'queued', attempts = 0, run_at = now(), backoff_ms = NULL, cancel_requested = false,
       result = NULL, progress = NULL, finished_at = NULL, updated_at = now()
 WHERE id = (SELECT id FROM jobq.bench_ids WHERE i = :i) AND status IN ('failed_permanent', 'cancelled')
RETURNING *;
