-- One job enqueued as LogQueue.enqueue does (../queue.ts, INSERT_NOW): one log entry, and the
-- notification that wakes workers.
WITH ins AS (
  INSERT INTO jobq.log (id, queue, kind, payload, max_attempts, timeout_ms)
  VALUES (jobq.log_uuid7(), 'default', 'bench_noop', '{}', 25, NULL)
  RETURNING queue, run_at, created_at
)
SELECT queue, run_at, created_at, pg_notify('jobq_jobs', queue) FROM ins;
