-- Two things of the log store (issue #22) that a row has: a started_at, and retention per status.
--
-- A log job's started_at, as a row keeps it: when its attempt started, while it runs and after it
-- ended. A batch's locked_at moves with every renewal, so the claim's time is kept apart:
-- - jobq.log_batch.claimed_at: when the claim took the batch (its jobs that started at once started then);
-- - jobq.log_done.started_at: when the jobs of a completion started: the claim's time, or, when all of
--   them waited in their worker's buffer first, the earliest start the worker reports;
-- - jobq.log_fail.started_at: when the entry that ended so started (null: it never did).
-- Null in rows written before this migration: their jobs read the batch's locked_at while running, no
-- started_at once finished, as before.
ALTER TABLE jobq.log_batch ADD COLUMN claimed_at timestamptz;
ALTER TABLE jobq.log_batch_old ADD COLUMN claimed_at timestamptz;
ALTER TABLE jobq.log_done ADD COLUMN started_at timestamptz;
ALTER TABLE jobq.log_done_old ADD COLUMN started_at timestamptz;
ALTER TABLE jobq.log_fail ADD COLUMN started_at timestamptz;
ALTER TABLE jobq.log_fail_old ADD COLUMN started_at timestamptz;
ALTER TYPE jobq.log_derived ADD ATTRIBUTE started_at timestamptz;
-- And a running log job's claim number, as a running row's claim_seq (-(batch_id * 1024 + seq)).
ALTER TYPE jobq.log_derived ADD ATTRIBUTE claim_seq float8;

-- The views over the hot and archived parents take the columns added since 0019 (appended, in order).
CREATE OR REPLACE VIEW jobq.log_batch_all AS SELECT * FROM jobq.log_batch UNION ALL SELECT * FROM jobq.log_batch_old;
CREATE OR REPLACE VIEW jobq.log_done_all AS SELECT * FROM jobq.log_done UNION ALL SELECT * FROM jobq.log_done_old;
CREATE OR REPLACE VIEW jobq.log_fail_all AS SELECT * FROM jobq.log_fail UNION ALL SELECT * FROM jobq.log_fail_old;

-- Retention per status (log/retention.ts): a generation is dropped after the shortest retention, its
-- jobs that a status keeps longer made rows first; jobq.log_drop takes what to keep (functions.sql).
DROP FUNCTION IF EXISTS jobq.log_drop(integer);
DROP FUNCTION IF EXISTS jobq.log_drop(integer, jsonb, timestamp with time zone);
-- And archiving takes the caller's clock, as every statement of the log does.
DROP FUNCTION IF EXISTS jobq.log_archive(integer);
