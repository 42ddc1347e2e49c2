-- Singleton and debounce keys (issue #17, item 3; docs/lifecycle.md, "Singleton and debounce keys").
--
-- singleton_key: at most one job with the key is unfinished (queued, retrying or running; a job in a
-- worker's buffer is running) at a time. A second enqueue gets that job back instead of a new one.
--
-- debounce_key: at most one job with the key is *open*: queued and never claimed (claim_seq is set by
-- the first claim and never cleared). A debounced enqueue rewrites the open job (payload, run_at, ...)
-- or, when there is none, creates it. A job that was claimed once, even if a shutdown gave it back to
-- queued, is never rewritten and leaves the index, so release, recovery and retry cannot collide on it.
--
-- Like idempotency keys, both keys are global (not per queue). Both indexes hold only rows with a key
-- (`... IS NOT NULL` in the predicate): a job without keys adds no index entry, at enqueue or at any
-- later update. The keyed enqueue statements (statements/keyed.ts) insert with ON CONFLICT DO NOTHING
-- against every unique index at once, so an idempotency key is answered first.
--
-- The CHECKs are NOT VALID: every existing row has NULL keys, so there is nothing to validate, and
-- validating would scan the whole table under this migration's exclusive lock. New and updated rows
-- are checked all the same.
ALTER TABLE jobq.jobs
  ADD COLUMN singleton_key text,
  ADD COLUMN debounce_key text,
  ADD CONSTRAINT jobs_singleton_key_check CHECK (singleton_key IS NULL OR length(singleton_key) BETWEEN 1 AND 255) NOT VALID,
  ADD CONSTRAINT jobs_debounce_key_check CHECK (debounce_key IS NULL OR length(debounce_key) BETWEEN 1 AND 255) NOT VALID,
  -- A job is singleton or debounced, not both (the API refuses the pair).
  ADD CONSTRAINT jobs_one_flow_key CHECK (singleton_key IS NULL OR debounce_key IS NULL) NOT VALID;

CREATE UNIQUE INDEX jobs_singleton_key_idx ON jobq.jobs (singleton_key)
  WHERE singleton_key IS NOT NULL AND status IN ('queued', 'retrying', 'running');

CREATE UNIQUE INDEX jobs_debounce_key_idx ON jobq.jobs (debounce_key)
  WHERE debounce_key IS NOT NULL AND status = 'queued' AND claim_seq IS NULL;
