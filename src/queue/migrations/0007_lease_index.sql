-- The lease index keyed on the lease itself, not on the status.
--
-- jobs_running_lease_idx (0001) was partial on status = 'running'. Every statement a worker runs on
-- its own jobs (complete_many, heartbeat, release: `id = ANY($ids) AND status = 'running' AND
-- locked_by = $worker`) implies that predicate, and with statistics taken while few jobs ran the
-- planner priced that index as one row and chose it over the primary key: each batched completion
-- then read every running job of every worker (and the index's dead entries) and compared each with
-- every id of the batch. Profiled on PostgreSQL 15 at concurrency 10, that comparison alone was 6%
-- of the server's CPU and grew with the number of running jobs.
--
-- The same rows, keyed the same way, but behind a predicate those statements do not imply: only a
-- condition on locked_at does (recover's `locked_at < ...`), so they use the primary key. The
-- CHECK jobs_running_has_lease keeps "locked_at is set" and "running" the same set of rows.
DROP INDEX jobq.jobs_running_lease_idx;

CREATE INDEX jobs_lease_idx ON jobq.jobs (locked_at) WHERE locked_at IS NOT NULL;
