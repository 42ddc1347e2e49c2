-- Candidate `ring`: GET /v1/jobs/{id}: the ready table, then the leases, then the history partitions
-- from the day the id was made (jobq.lease_get).
\set i random(1, :nids)
SELECT * FROM jobq.lease_get((SELECT id FROM jobq.bench_ids WHERE i = :i));
