-- Candidate `ring`: cancel the (queued) job bench_ids gives: it moves to the history as cancelled
-- (jobq.lease_cancel). A job already cancelled comes back as already_terminal.
\set i random(1, :nids)
SELECT outcome FROM jobq.lease_cancel((SELECT id FROM jobq.bench_ids WHERE i = :i), NULL);
