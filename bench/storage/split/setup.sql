-- Candidate `split` of the storage study (issue #22): jobq.jobs stays the hot table of unfinished jobs
-- (queued, retrying, running, waiting) with today's claim; a finished job moves, in the statement that
-- finishes it, to jobq.jobs_done, partitioned by day of finished_at, so that retention drops partitions.
-- Applied after jobq's migrate(), on a fresh database. See README.md beside this file.

-- The history: the same columns in the same order as jobq.jobs (so a row moves as `SELECT *`), no
-- constraints beyond NOT NULL (every row was checked in jobq.jobs). A day per partition: retention is
-- counted in days (7 d and 30 d by default), so a day keeps the partitions few (GET and the listing visit
-- each one that may hold the id) and one DROP still removes a day.
CREATE TABLE jobq.jobs_done (LIKE jobq.jobs INCLUDING DEFAULTS) PARTITION BY RANGE (finished_at);
ALTER TABLE jobq.jobs_done ALTER COLUMN finished_at SET NOT NULL;
-- Rows whose day has no partition yet (jobq.split_ensure_days was not called in time): kept, never lost.
CREATE TABLE jobq.jobs_done_default PARTITION OF jobq.jobs_done DEFAULT;

-- GET by id and the listing (newest first by id): the one index every finished job pays. Not unique:
-- a unique index on a partitioned table must include finished_at. Ids are unique all the same: jobq
-- makes them (UUID v7) and a job keeps its id when it moves.
CREATE INDEX jobs_done_id_idx ON jobq.jobs_done (id);
-- Retention frees the idempotency keys of the jobs it drops: this finds them, and holds no entry for a
-- job without a key.
CREATE INDEX jobs_done_key_idx ON jobq.jobs_done (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- Idempotency keys, unique across both tables for as long as their job exists: written only for a job
-- that has one (at its enqueue), never at its completion, deleted when retention drops its day.
-- Singleton and debounce keys stay the partial unique indexes of jobq.jobs: they only ever concern
-- unfinished jobs, which all live there.
CREATE TABLE jobq.job_keys (
  key    text PRIMARY KEY,
  job_id uuid NOT NULL
);

-- The creation time in a UUID v7 (its first 48 bits, epoch milliseconds). A job finishes after it
-- was made, so `finished_at >= jobq.split_id_time(id) - 1 day` lets GET skip the days before its
-- creation (the day of slack covers clock skew between the id's maker and the database).
CREATE FUNCTION jobq.split_id_time(id uuid) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN to_timestamp(('x' || lpad(substr(replace(id::text, '-', ''), 1, 12), 16, '0'))::bit(64)::bigint / 1000.0);

-- Creates the day partitions (UTC days) from `first` for `days` days (those missing). The runner or the sweep
-- calls it ahead of time: a partition made while the default one holds rows of its day would have to
-- move them (and fails here instead).
CREATE FUNCTION jobq.split_ensure_days(first date, days integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  d date;
  made integer := 0;
BEGIN
  FOR i IN 0 .. days - 1 LOOP
    d := first + i;
    IF to_regclass(format('jobq.jobs_done_%s', to_char(d, 'YYYYMMDD'))) IS NULL THEN
      EXECUTE format('CREATE TABLE jobq.%I PARTITION OF jobq.jobs_done FOR VALUES FROM (%L) TO (%L)',
                     'jobs_done_' || to_char(d, 'YYYYMMDD'), d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
      made := made + 1;
    END IF;
  END LOOP;
  RETURN made;
END $$;

-- Retention: drops every day partition that ends at or before `before` (the default partition is
-- never dropped), after deleting the idempotency keys of its jobs. Returns the jobs removed.
CREATE FUNCTION jobq.split_drop_before(before timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  p record;
  n bigint;
  total bigint := 0;
BEGIN
  FOR p IN
    SELECT c.oid::regclass AS part
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'jobq.jobs_done'::regclass
       AND c.relname ~ '^jobs_done_[0-9]{8}$'
       AND (to_date(substr(c.relname, 11), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= before
  LOOP
    EXECUTE format('DELETE FROM jobq.job_keys k USING %s d WHERE d.idempotency_key IS NOT NULL AND k.key = d.idempotency_key', p.part);
    EXECUTE format('SELECT count(*) FROM %s', p.part) INTO n;
    EXECUTE format('DROP TABLE %s', p.part);
    total := total + n;
  END LOOP;
  RETURN total;
END $$;

-- Every other way a hot job ends (a failure out of attempts, a cancel, a release or recovery that
-- cancels) is an UPDATE of jobq.jobs: this moves the row, in the same statement's transaction. The
-- hot path, the worker's completion, moves its rows itself (one DELETE ... RETURNING into INSERT) and
-- never fires it.
CREATE FUNCTION jobq.split_move_finished() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM jobq.jobs WHERE id = NEW.id;
  INSERT INTO jobq.jobs_done SELECT NEW.*;
  RETURN NULL;
END $$;

CREATE TRIGGER jobs_split_move AFTER UPDATE OF status ON jobq.jobs FOR EACH ROW
  WHEN (NEW.status IN ('succeeded', 'failed_permanent', 'cancelled'))
  EXECUTE FUNCTION jobq.split_move_finished();

-- Yesterday to two days ahead (UTC); later days are the runner's or the sweep's to make.
SELECT jobq.split_ensure_days((now() AT TIME ZONE 'UTC')::date - 1, 4);
