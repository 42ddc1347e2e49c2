-- An idle worker's pickup (../../pickup-probe.ts): one job enqueued, then a claim asking for 10 (the worker's
-- free slots at concurrency 10), committing without waiting for the flush as the Queue's does. Claimed
-- jobs stay running: the claim is what is timed.
INSERT INTO jobq.jobs (id, kind, payload) VALUES (gen_random_uuid(), 'bench_noop', '{}');
SELECT count(*) FROM jobq.claim('pk', 10, NULL, '{bench_noop}', NULL, NULL, NULL, NULL, NULL, true, NULL);
