-- Flow control (issue #17): queue policies (concurrency, rate, paused, group_concurrency) and groups.
-- How claiming uses these is described in docs/flow-control.md; the functions are in functions.sql.

-- A job may carry a group (a tenant, customer or account key). NOT VALID: every existing row is NULL,
-- and validating would read the whole table under the exclusive lock ALTER TABLE holds; new and
-- updated rows are checked.
ALTER TABLE jobq.jobs ADD COLUMN group_key text;
ALTER TABLE jobq.jobs ADD CONSTRAINT jobs_group_key_check CHECK (group_key IS NULL OR length(group_key) BETWEEN 1 AND 128) NOT VALID;

-- Runnable jobs that carry a group, by queue and group, in claim order within a group: the fair claim
-- walks the groups of a queue along it, and takes each group's next job from it. Jobs without a group
-- (every job of a queue that does not use groups) never enter it, so it costs them nothing.
CREATE INDEX jobs_group_idx ON jobq.jobs (queue, group_key, priority DESC, run_at, id)
  WHERE status IN ('queued', 'retrying') AND group_key IS NOT NULL;

-- One row per queue that has a policy, or whose groups are claimed fairly (the row holds the round
-- robin's position and is what claimers of the queue lock, one at a time). A NULL limit is no limit.
CREATE TABLE jobq.queues (
  name              text PRIMARY KEY,
  paused            boolean NOT NULL DEFAULT false,
  -- At most this many jobs of the queue running at once, across every worker.
  concurrency       integer,
  -- At most rate_limit starts in any window of rate_period_ms.
  rate_limit        integer,
  rate_period_ms    integer,
  -- At most this many running jobs per group of the queue.
  group_concurrency integer,
  -- The round robin between groups: the group served last (NULL: a new round starts).
  group_cursor      text,
  -- A claim found no runnable job without a group in this queue at this time (see claim_limited).
  ungrouped_idle_at timestamptz,
  updated_at        timestamptz NOT NULL DEFAULT now(),

  CONSTRAINT queues_name_check CHECK (length(name) BETWEEN 1 AND 128),
  CONSTRAINT queues_concurrency_check CHECK (concurrency IS NULL OR concurrency >= 1),
  CONSTRAINT queues_rate_check CHECK ((rate_limit IS NULL) = (rate_period_ms IS NULL) AND (rate_limit IS NULL OR (rate_limit >= 1 AND rate_period_ms >= 1))),
  CONSTRAINT queues_group_concurrency_check CHECK (group_concurrency IS NULL OR group_concurrency >= 1)
);

-- The starts of rate-limited queues in their current window, one row per claim (n jobs started at
-- `at`). The claim that counts them trims what fell out of the window, so a queue holds at most one
-- window's worth of claims.
CREATE TABLE jobq.queue_starts (
  queue text NOT NULL,
  at    timestamptz NOT NULL,
  n     integer NOT NULL CHECK (n >= 1)
);
CREATE INDEX queue_starts_queue_at_idx ON jobq.queue_starts (queue, at);

-- jobq.claim gains p_exclude (the queues the caller claims through claim_limited): functions.sql
-- defines it anew; CREATE OR REPLACE cannot add an argument.
DROP FUNCTION jobq.claim(text, integer, text[], text[], timestamptz, integer, timestamptz, uuid, integer, boolean);
