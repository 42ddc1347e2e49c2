-- Candidate `lease`: enqueue one job. The ready table is jobq.jobs, so this is today's insert
-- (src/queue/statements/insert-sql.ts), with the id a UUIDv7 made by the database instead of Node.
INSERT INTO jobq.jobs (id, queue, kind, payload, priority, max_attempts, run_at, timeout_ms,
                       idempotency_key, group_key, trace_context, created_at, updated_at)
VALUES (jobq.uuid7(now()), 'default', 'bench_noop', '{}', 0, 25, now(), NULL, NULL, NULL, NULL, now(), now())
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id, run_at, created_at;
