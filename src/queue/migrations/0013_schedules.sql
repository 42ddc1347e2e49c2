-- Recurring jobs (issue #18): schedules as data. docs/schedules.md has the design; the statements that
-- read and fire them are in statements/schedules.ts.
--
-- A schedule is a timing (a cron expression in a time zone, or a fixed interval) and the template of
-- the job each tick enqueues. next_fire_at is the first tick not yet fired: firing a tick is one
-- statement that moves it forward only if it still holds the tick the firer read (a compare-and-swap)
-- and inserts the tick's job, so two workers can never both fire it. The job's idempotency key
-- (schedule:<name>:<tick>) makes the same tick unable to make two jobs even across an edit.
CREATE TABLE jobq.schedules (
  name           text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'),
  cron           text CHECK (length(cron) BETWEEN 1 AND 256),
  -- `every` as given ("30s"), and in milliseconds: ticks are the multiples of every_ms since the epoch.
  every          text CHECK (length(every) BETWEEN 1 AND 64),
  every_ms       bigint CHECK (every_ms >= 1000),
  timezone       text NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 64),
  kind           text NOT NULL,
  payload        jsonb NOT NULL DEFAULT 'null',
  queue          text NOT NULL DEFAULT 'default',
  priority       integer NOT NULL DEFAULT 0,
  max_attempts   integer,
  timeout_ms     integer,
  enabled        boolean NOT NULL DEFAULT true,
  catch_up       text NOT NULL DEFAULT 'skip' CHECK (catch_up IN ('skip', 'latest', 'all')),
  catch_up_limit integer NOT NULL DEFAULT 100 CHECK (catch_up_limit BETWEEN 1 AND 1000),
  -- 'file': owned by a schedules file, whose next reconcile may change or remove it.
  source         text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'file')),
  -- The first tick not yet fired; NULL while disabled.
  next_fire_at   timestamptz,
  -- The last tick fired, and the job of the last fire (a tick or a trigger).
  last_fire_at   timestamptz,
  last_job_id    uuid,
  fires          bigint NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT schedules_timing_check CHECK ((cron IS NULL) <> (every_ms IS NULL) AND (every IS NULL) = (every_ms IS NULL)),
  CONSTRAINT schedules_enabled_check CHECK (enabled OR next_fire_at IS NULL)
);

-- What every worker's scheduler reads: the earliest ticks to come, a few rows of a small index.
CREATE INDEX schedules_due_idx ON jobq.schedules (next_fire_at) WHERE next_fire_at IS NOT NULL;
