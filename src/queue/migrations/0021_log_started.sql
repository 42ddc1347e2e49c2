-- Buffered log jobs get their attempt back when their worker is lost (issue #22), as buffered rows do
-- (0006). A worker claims more than it has free slots; a claim starts only the first `started` jobs
-- it returns, and the worker starts the rest in claim order, recording the last one it started:
-- - jobq.log_batch.started: the entries of the batch its claim started, by seq (the first `started`);
--   NULL: every entry (the batches claimed before this migration).
-- - jobq.workers.log_started: batch_id * 1024 + seq of the last buffered log job the worker started
--   (Queue.markStartedThrough with a log claim), as started_seq is for rows.
-- A lapsed batch's entries that neither says started are given back unspent (a `released` fail row
-- and the same attempt again), not lost.
ALTER TABLE jobq.log_batch ADD COLUMN started int;
ALTER TABLE jobq.log_batch_old ADD COLUMN started int;
ALTER TABLE jobq.workers ADD COLUMN log_started bigint;

-- The log's claims take the number of jobs to start, and a batch's open entries come numbered (seq):
-- log/functions.sql defines them again so. A new database has none of them yet (functions.sql comes
-- after all migrations); in one that has, until functions.sql is applied, right after this migration
-- in the same migrate(), a log store's claim or recovery fails, and its worker tries again.
DROP FUNCTION IF EXISTS jobq.log_claim(text, text, integer, text[], timestamptz);
DROP FUNCTION IF EXISTS jobq.log_claim_lane(text, smallint, text, integer, text[], timestamptz);
DROP FUNCTION IF EXISTS jobq.log_batch_open(bigint);

-- Never called: the enqueue makes a queue's cursor rows itself (log/statements.ts insertRouted).
DROP FUNCTION IF EXISTS jobq.log_add_queue(text);
