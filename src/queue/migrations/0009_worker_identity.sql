-- A worker id names one live worker at a time (issue #14, item 4).
--
-- Every transition a worker makes is guarded by the claim it holds (claim_seq, unique across claims:
-- 0006), so a stale worker can no longer finish a newer attempt. Two live processes sharing one
-- worker id would still share the start watermark (started_seq) and see each other's jobs as theirs
-- in the sweeper's eyes, so a worker now registers its id at start and keeps it alive:
--   instance     a random token of the Worker object holding the id (NULL: nobody holds it)
--   alive_until  the holder's liveness lease, renewed with its heartbeat (every --heartbeat-ms) to
--                now + --lease-ms; a clean stop sets it to NULL.
-- A worker may take an id whose row is missing, has no instance, or whose alive_until has passed;
-- otherwise it refuses to start (Queue.registerWorker).
ALTER TABLE jobq.workers ADD COLUMN instance text;
ALTER TABLE jobq.workers ADD COLUMN alive_until timestamptz;
