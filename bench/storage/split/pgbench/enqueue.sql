-- split: enqueue is today's (the hot table; a job without an idempotency key writes nothing else): one
-- job of the bench's shape with a UUID v7 made here, as Queue.enqueue's insert would store it.
INSERT INTO jobq.jobs (id, queue, kind, payload, priority, max_attempts, run_at, created_at, updated_at)
VALUES ((lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || '7'
         || substr(md5(random()::text), 1, 3) || '8' || substr(md5(random()::text), 1, 15))::uuid,
        'default', 'bench_noop', '{}', 0, 25, now(), now(), now())
RETURNING id;
