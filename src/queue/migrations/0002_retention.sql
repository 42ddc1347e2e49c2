-- Retention: finished jobs are deleted some time after they finished (see Queue.prune). This index
-- holds only finished rows, in the order they become due, so pruning reads exactly what it deletes.
CREATE INDEX jobs_finished_idx ON jobq.jobs (status, finished_at)
  WHERE finished_at IS NOT NULL;
