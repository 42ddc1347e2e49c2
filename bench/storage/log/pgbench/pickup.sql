-- An idle worker's pickup (../../pickup-probe.ts): one job enqueued, then a claim asking for 10 (the worker's
-- free slots at concurrency 10), committing without waiting for the flush as the Queue's does. Claimed
-- jobs stay running: the claim is what is timed.
INSERT INTO jobq.log (id, queue, kind, payload, max_attempts) VALUES (jobq.log_uuid7(), 'default', 'bench_noop', '{}', 25);
SELECT count(*) FROM jobq.log_claim_any(NULL, '{}', 'pk', 10, true);
