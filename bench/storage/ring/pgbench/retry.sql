-- Candidate `ring`: retry the (failed) job bench_ids gives: it moves from the history back to the
-- ready table as queued (jobq.lease_retry). One already retried gives no row.
\set i random(1, :nids)
SELECT id FROM jobq.lease_retry((SELECT id FROM jobq.bench_ids WHERE i = :i), NULL);
