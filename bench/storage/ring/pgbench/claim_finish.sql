-- Candidate `ring`: claim up to :batch jobs as the Queue does (jobq.lease_claim: rotation, DELETE from the ready
-- table, one lease row), then complete them all in ONE statement (jobq.lease_complete: append to the
-- history, delete the lease). Two round trips per batch, each its own transaction, synchronous commit,
-- as bench/pgbench/claim_finish_batched.sql does for today's schema.
SELECT coalesce(array_agg(claim_seq), '{}') AS seqs
  FROM jobq.lease_claim('pgbench-' || :client_id, :batch, NULL, '{bench_noop}', NULL, NULL, false, NULL) \gset
SELECT count(*) FROM jobq.lease_complete('pgbench-' || :client_id, :seqs::bigint[], NULL, NULL, NULL, false);
