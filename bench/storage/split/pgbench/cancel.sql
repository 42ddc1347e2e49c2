-- split: cancel of a queued job, as Queue.requestCancel's statement (statements/transitions.ts cancel):
-- the UPDATE to cancelled fires jobs_split_move, which moves the row to jobq.jobs_done.
\set i random(1, :nids)
WITH prev AS (
  SELECT id, status FROM jobq.jobs
   WHERE id = (SELECT id FROM jobq.bench_ids WHERE i = :i) AND status IN ('waiting', 'queued', 'retrying', 'running')
   FOR UPDATE
)
UPDATE jobq.jobs j
   SET status = CASE WHEN prev.status = 'running' THEN j.status ELSE 'cancelled' END,
       cancel_requested = prev.status = 'running',
       finished_at = CASE WHEN prev.status = 'running' THEN NULL ELSE now() END,
       updated_at = now()
  FROM prev
 WHERE j.id = prev.id
RETURNING prev.status AS prev_status, j.*;
