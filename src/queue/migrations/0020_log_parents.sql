-- Log jobs as parents (issue #22; docs/flows.md, "Parents in the log store"). A job of the row store may
-- name a job of the log store in depends_on. Its enqueue takes such a parent in (jobq.log_adopt_parents,
-- src/queue/log/parents.sql): a waiting one becomes a row, a finished one decides the child at once, and
-- a running one is written here, where the triggers below look when a log job settles.
CREATE TABLE jobq.log_parents (id uuid PRIMARY KEY);

-- The triggers' functions are defined in log/parents.sql, which migrate() applies after this
-- migration; these stand in until then. Only the enqueue's jobq.log_adopt_parents, defined there too,
-- writes jobq.log_parents, so while it is empty there is nothing to settle; should it not be, they fail
-- loudly rather than drop a release.
CREATE FUNCTION jobq.log_done_settle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT FROM jobq.log_parents) THEN RAISE EXCEPTION 'jobq.log_done_settle: log/parents.sql has not been applied'; END IF;
  RETURN NULL;
END
$$;
CREATE FUNCTION jobq.log_fail_settle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT FROM jobq.log_parents) THEN RAISE EXCEPTION 'jobq.log_fail_settle: log/parents.sql has not been applied'; END IF;
  RETURN NULL;
END
$$;

-- Once per statement that writes outcomes (a completion writes one done row per claim batch), not per
-- job: with no log job as a parent, each costs a function call, a weak table lock and one probe of an
-- empty table.
CREATE TRIGGER log_done_settle AFTER INSERT ON jobq.log_done
  REFERENCING NEW TABLE AS settled FOR EACH STATEMENT EXECUTE FUNCTION jobq.log_done_settle();
CREATE TRIGGER log_fail_settle AFTER INSERT ON jobq.log_fail
  REFERENCING NEW TABLE AS settled FOR EACH STATEMENT EXECUTE FUNCTION jobq.log_fail_settle();
