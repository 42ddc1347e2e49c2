-- What the dashboard (issue #20) reads that nothing recorded before.
--
-- Workers say what they are at registration: how many jobs they run at once and which queues they
-- work (NULL: all), and when the current holder of the id started. Written once per start, never on
-- the hot path; NULL for workers registered before this migration until they restart.
ALTER TABLE jobq.workers
  ADD COLUMN concurrency integer,
  ADD COLUMN queues text[],
  ADD COLUMN started_at timestamptz;

-- A job's children (the jobs whose depends_on names it): GET /v1/jobs/{id}/children. jobq.dependencies
-- holds only the edges not settled yet, so the children of a finished parent are found here. Partial:
-- a job without parents (depends_on NULL) gets no entry, so it costs jobs outside flows nothing but
-- the predicate's check on insert and non-HOT update.
CREATE INDEX jobs_depends_on_idx ON jobq.jobs USING gin (depends_on) WHERE depends_on IS NOT NULL;
