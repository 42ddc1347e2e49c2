-- One job, as a single enqueue writes it (no key), and its wake-up.
INSERT INTO jobq.jobs (id, kind, payload) VALUES (gen_random_uuid(), 'bench_noop', '{}');
SELECT pg_notify('jobq_jobs', 'default');
