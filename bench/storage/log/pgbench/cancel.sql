-- Cancels the (queued) job as LogQueue.requestCancel does: under its queue's cursor lock (no claim
-- meanwhile), its status derived, then one `cancelled` fail row (a queued job here is in the log,
-- not scheduled). Then the job as the API returns it.
\set i random(1, :nids)
BEGIN;
SELECT status FROM jobq.log_job((SELECT id FROM jobq.bench_ids WHERE i = :i));
SELECT FROM jobq.log_cursor WHERE queue = 'default' ORDER BY lane FOR UPDATE;
INSERT INTO jobq.log_fail (pos, id, status, attempt)
SELECT j.pos, j.id, 'cancelled', j.attempts + 1 FROM jobq.log_job((SELECT id FROM jobq.bench_ids WHERE i = :i)) j
 WHERE j.status = 'queued';
COMMIT;
SELECT * FROM jobq.log_job((SELECT id FROM jobq.bench_ids WHERE i = :i));
