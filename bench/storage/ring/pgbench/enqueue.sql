-- Candidate `ring`: enqueue one job into the ready table (its slot: the column default), today's insert
-- (src/queue/statements/insert-sql.ts), with the id a UUIDv7 made by the database instead of Node.
INSERT INTO jobq.ready (id, queue, kind, payload, priority, max_attempts, run_at, timeout_ms,
                       idempotency_key, group_key, trace_context, created_at, updated_at)
VALUES (jobq.uuid7(now()), 'default', 'bench_noop', '{}', 0, 25, now(), NULL, NULL, NULL, NULL, now(), now())
RETURNING id, run_at, created_at;
