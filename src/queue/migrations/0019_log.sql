-- The log store (issue #22; docs/design/storage.md, "Stage 2"): append-only jobs with their state
-- derived, in the PgQ lineage, beside jobq.jobs, which stays as the ROW STORE. Nothing moves: every job
-- that exists stays a row and finishes through the row store's statements. Which store a new job goes
-- to is decided at its enqueue (src/queue/log/, QueueOptions.logStore); its functions are in
-- src/queue/log/functions.sql and jobs.sql.
--
-- A job is only ever INSERTed into jobq.log (one entry per attempt: a retry, a release or a recovery
-- appends a new entry of the same id). A claim, serialised on a lane's cursor row (FOR UPDATE, no
-- update), takes the entries of the lane's current WINDOW, the transactions committed between two
-- snapshots (PgQ's rule: xid visible in `cur`, not in `prev`), in (xid, pos) order, and INSERTs one
-- jobq.log_batch row naming the slice. A completion INSERTs one jobq.log_done row per claim batch it
-- covers; a failure, cancellation, release or loss one jobq.log_fail row per entry. Delayed jobs and
-- retries wait in jobq.log_scheduled (the one table rows are deleted from) and are moved into the log
-- when due. Cancel requests of running entries are rows of jobq.log_cancel, progress rows of
-- jobq.log_progress (both per job, not per attempt).
--
-- Retention: jobq.log, log_batch, log_done and log_fail are partitioned by generation (`gen`); a new
-- generation is attached every rotation; one all of whose entries finished is ARCHIVED (moved under
-- the *_old parents), and an archived one is dropped whole by retention.

CREATE SEQUENCE jobq.log_pos_seq;
CREATE SEQUENCE jobq.log_batch_seq;
CREATE SEQUENCE jobq.log_window_seq;

-- One row per generation; the newest is where inserts go. rotated_xid: the transaction that made it
-- current. archived_at: when it left the hot parents (every entry of it had finished by then).
CREATE TABLE jobq.log_gen (
  gen int PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  rotated_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  archived boolean NOT NULL DEFAULT false,
  archived_at timestamptz
);

-- How many lanes each queue's log has: claims of one queue run in parallel, one per lane.
CREATE FUNCTION jobq.log_lanes() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 4 $$;
CREATE FUNCTION jobq.log_current_gen() RETURNS int LANGUAGE sql STABLE AS $$ SELECT max(gen) FROM jobq.log_gen $$;

-- The log: one entry per attempt. `first`: the job's first entry (what a listing shows, by id).
CREATE TABLE jobq.log (
  gen int NOT NULL DEFAULT jobq.log_current_gen(),
  pos bigint NOT NULL DEFAULT nextval('jobq.log_pos_seq'),
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  id uuid NOT NULL,
  first boolean NOT NULL DEFAULT true,
  queue text NOT NULL,
  kind text NOT NULL,
  payload jsonb NOT NULL,
  attempt int NOT NULL DEFAULT 1,
  max_attempts int NOT NULL,
  run_at timestamptz NOT NULL,
  timeout_ms int,
  backoff_ms int,
  created_at timestamptz NOT NULL,
  trace_context jsonb,
  lane smallint NOT NULL DEFAULT floor(random() * jobq.log_lanes())
) PARTITION BY LIST (gen);
CREATE INDEX log_window_idx ON jobq.log (queue, lane, xid, pos);
CREATE INDEX log_id_idx ON jobq.log (id, pos);

-- Delayed jobs and retries, moved into the log when due (a pos is taken here and kept).
CREATE TABLE jobq.log_scheduled (
  pos bigint PRIMARY KEY DEFAULT nextval('jobq.log_pos_seq'),
  id uuid NOT NULL,
  first boolean NOT NULL,
  queue text NOT NULL,
  kind text NOT NULL,
  payload jsonb NOT NULL,
  attempt int NOT NULL,
  max_attempts int NOT NULL,
  run_at timestamptz NOT NULL,
  timeout_ms int,
  backoff_ms int,
  created_at timestamptz NOT NULL,
  trace_context jsonb
);
CREATE INDEX log_scheduled_due_idx ON jobq.log_scheduled (queue, run_at);
CREATE INDEX log_scheduled_id_idx ON jobq.log_scheduled (id);

-- A lane's claim cursor: only locked (FOR UPDATE), never updated; the position is the newest batch.
CREATE TABLE jobq.log_cursor (queue text NOT NULL, lane smallint NOT NULL, PRIMARY KEY (queue, lane));

-- A window: the transactions committed between snapshots prev and cur (cur_xmax: to find it by xid).
CREATE TABLE jobq.log_window (
  window_id bigint PRIMARY KEY DEFAULT nextval('jobq.log_window_seq'),
  queue text NOT NULL,
  lane smallint NOT NULL,
  prev pg_snapshot NOT NULL,
  cur pg_snapshot NOT NULL,
  cur_xmax xid8 NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX log_window_queue_idx ON jobq.log_window (queue, lane, window_id);
CREATE INDEX log_window_xmax_idx ON jobq.log_window (queue, lane, cur_xmax, window_id);

-- A claim: the slice (lo, hi] of a window, in (xid, pos) order. locked_at: its lease (renewals update
-- it); lost_at: recovered (its unfinished entries appended again). lo_gen: the oldest generation of its
-- entries (retention checks a generation's batches by it, not each entry).
CREATE TABLE jobq.log_batch (
  gen int NOT NULL DEFAULT jobq.log_current_gen(),
  batch_id bigint NOT NULL,
  queue text NOT NULL,
  window_id bigint NOT NULL,
  lo_xid xid8 NOT NULL,
  lo_pos bigint NOT NULL,
  hi_xid xid8 NOT NULL,
  hi_pos bigint NOT NULL,
  n int NOT NULL,
  worker text NOT NULL,
  locked_at timestamptz NOT NULL,
  lost_at timestamptz,
  lo_gen int NOT NULL
) PARTITION BY LIST (gen);
CREATE INDEX log_batch_id_idx ON jobq.log_batch (batch_id);
CREATE INDEX log_batch_lo_gen_idx ON jobq.log_batch (lo_gen);
CREATE INDEX log_batch_slice_idx ON jobq.log_batch (window_id, hi_xid, hi_pos);

-- A completion: the positions of one claim batch done, their results (null when all are null).
CREATE TABLE jobq.log_done (
  gen int NOT NULL DEFAULT jobq.log_current_gen(),
  batch_id bigint NOT NULL,
  pos bigint[] NOT NULL,
  results jsonb,
  finished_at timestamptz NOT NULL
) PARTITION BY LIST (gen);
CREATE INDEX log_done_batch_idx ON jobq.log_done (batch_id);
-- The dashboard's jobs finished per minute (one entry per batch, not per job).
CREATE INDEX log_done_finished_idx ON jobq.log_done (finished_at);

-- An entry that ended otherwise: failed (retrying, failed_permanent), cancelled, released (given back
-- unrun), lost (its worker's lease lapsed) or moved (waiting in a queue that got a policy: the job is a
-- row since, jobq.log_to_rows). One row per entry.
CREATE TABLE jobq.log_fail (
  gen int NOT NULL DEFAULT jobq.log_current_gen(),
  pos bigint NOT NULL,
  id uuid NOT NULL,
  batch_id bigint,
  status text NOT NULL CHECK (status IN ('retrying', 'failed_permanent', 'cancelled', 'released', 'lost', 'moved')),
  attempt int NOT NULL,
  error text,
  at timestamptz NOT NULL
) PARTITION BY LIST (gen);
CREATE INDEX log_fail_pos_idx ON jobq.log_fail (pos);
CREATE INDEX log_fail_id_idx ON jobq.log_fail (id, at);
CREATE INDEX log_fail_batch_idx ON jobq.log_fail (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX log_fail_ended_idx ON jobq.log_fail (at) WHERE status IN ('failed_permanent', 'cancelled');

-- A cancel request of a running job (the heartbeat reads them), and a running job's progress: a row per
-- job that has one, deleted when the job's generation is dropped (retention.ts), not per entry.
CREATE TABLE jobq.log_cancel (id uuid PRIMARY KEY, at timestamptz NOT NULL);
CREATE TABLE jobq.log_progress (id uuid PRIMARY KEY, progress jsonb NOT NULL, at timestamptz NOT NULL);

-- Where recovery resumes: every batch up to `through` was examined once stale.
CREATE TABLE jobq.log_sweep (through bigint NOT NULL);
INSERT INTO jobq.log_sweep VALUES (0);

-- The history parents: the archived generations, with the same columns and indexes.
CREATE TABLE jobq.log_old (LIKE jobq.log INCLUDING DEFAULTS) PARTITION BY LIST (gen);
CREATE INDEX log_old_window_idx ON jobq.log_old (queue, lane, xid, pos);
CREATE INDEX log_old_id_idx ON jobq.log_old (id, pos);
CREATE TABLE jobq.log_batch_old (LIKE jobq.log_batch INCLUDING DEFAULTS) PARTITION BY LIST (gen);
CREATE INDEX log_batch_old_id_idx ON jobq.log_batch_old (batch_id);
CREATE INDEX log_batch_old_slice_idx ON jobq.log_batch_old (window_id, hi_xid, hi_pos);
CREATE TABLE jobq.log_done_old (LIKE jobq.log_done INCLUDING DEFAULTS) PARTITION BY LIST (gen);
CREATE INDEX log_done_old_batch_idx ON jobq.log_done_old (batch_id);
CREATE INDEX log_done_old_finished_idx ON jobq.log_done_old (finished_at);
CREATE TABLE jobq.log_fail_old (LIKE jobq.log_fail INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY LIST (gen);
CREATE INDEX log_fail_old_pos_idx ON jobq.log_fail_old (pos);
CREATE INDEX log_fail_old_id_idx ON jobq.log_fail_old (id, at);
CREATE INDEX log_fail_old_batch_idx ON jobq.log_fail_old (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX log_fail_old_ended_idx ON jobq.log_fail_old (at) WHERE status IN ('failed_permanent', 'cancelled');

-- What reads see: the hot generations and the archived ones.
CREATE VIEW jobq.log_all AS SELECT * FROM jobq.log UNION ALL SELECT * FROM jobq.log_old;
CREATE VIEW jobq.log_batch_all AS SELECT * FROM jobq.log_batch UNION ALL SELECT * FROM jobq.log_batch_old;
CREATE VIEW jobq.log_done_all AS SELECT * FROM jobq.log_done UNION ALL SELECT * FROM jobq.log_done_old;
CREATE VIEW jobq.log_fail_all AS SELECT * FROM jobq.log_fail UNION ALL SELECT * FROM jobq.log_fail_old;

-- A job as the log derives it (jobq.log_job, jobq.log_jobs).
CREATE TYPE jobq.log_derived AS (id uuid, queue text, kind text, payload jsonb, status text, attempts int, max_attempts int,
  run_at timestamptz, timeout_ms int, backoff_ms int, locked_by text, locked_at timestamptz, result jsonb,
  created_at timestamptz, finished_at timestamptz, pos bigint, errors jsonb, cancel_requested boolean, progress jsonb,
  trace_context jsonb);

-- A claimed entry (jobq.log_claim and the claims built on it).
CREATE TYPE jobq.log_claimed AS (batch_id bigint, seq int, pos bigint, id uuid, queue text, kind text, payload jsonb,
  attempt int, max_attempts int, run_at timestamptz, timeout_ms int, backoff_ms int, trace_context jsonb);

-- The first generation: its partitions attached, not created under the parents' exclusive lock.
CREATE FUNCTION jobq.log_rotate() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  g int := coalesce((SELECT max(gen) FROM jobq.log_gen), 0) + 1;
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['log', 'log_batch', 'log_done', 'log_fail'] LOOP
    EXECUTE format('CREATE TABLE jobq.%I (LIKE jobq.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS, CHECK (gen = %s))', t || '_g' || g, t, g);
    EXECUTE format('ALTER TABLE jobq.%I ATTACH PARTITION jobq.%I FOR VALUES IN (%s)', t, t || '_g' || g, g);
  END LOOP;
  INSERT INTO jobq.log_gen (gen) VALUES (g);
  RETURN g;
END $$;
SELECT jobq.log_rotate();
