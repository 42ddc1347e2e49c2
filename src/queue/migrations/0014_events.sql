-- Workflows and live events (issue #19): the pieces every part of it shares. The flows' own tables and
-- trigger come in the next migration, because a new enum value cannot be used in the transaction that
-- adds it.
--
-- 'waiting': a job whose parents (depends_on) have not all succeeded yet. It is not runnable, so it never
-- enters jobs_runnable_idx and the claim never sees it.
ALTER TYPE jobq.job_status ADD VALUE IF NOT EXISTS 'waiting' BEFORE 'queued';

-- The last progress a handler reported ({value, current?, total?, message?, at}); null until it reports.
-- No default: adding the column is a catalog change only, whatever the table's size.
ALTER TABLE jobq.jobs ADD COLUMN progress jsonb;

-- Numbers the notifications on channel jobq_events (src/queue/events/types.ts): an event's id is its
-- notification's number and its place in it. Unique across the fleet; not in commit order (readers
-- keep arrival order, which PostgreSQL makes the same for every listener).
CREATE SEQUENCE jobq.event_ids AS bigint;

-- Who listens for job events now: each process with open streams or waits keeps a row here, renewed
-- before it expires. Processes publish events only while a row is live, so a deployment that never
-- watches a job pays nothing for events.
CREATE TABLE jobq.event_listeners (
  id         text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 200),
  expires_at timestamptz NOT NULL
);
