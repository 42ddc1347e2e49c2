-- Log jobs as parents (issue #22; docs/flows.md, "Parents in the log store"). A job of the row store may
-- name a job of the log store in depends_on. Its enqueue takes such a parent in (jobq.log_adopt_parents,
-- src/queue/log/parents.sql): a waiting one becomes a row, a finished one decides the child at once, and
-- a running one is written to jobq.log_parents, and its claim batch marked (`parents`), under the
-- batch's row lock, which every statement that writes an outcome of the batch holds too.
CREATE TABLE jobq.log_parents (id uuid PRIMARY KEY);

-- Whether the batch holds a job that children wait for; the outcome rows written for it carry the mark,
-- and only marked rows fire the triggers below. NULL (no mark) costs a row nothing.
ALTER TABLE jobq.log_batch ADD COLUMN parents boolean;
ALTER TABLE jobq.log_batch_old ADD COLUMN parents boolean;
ALTER TABLE jobq.log_done ADD COLUMN parents boolean;
ALTER TABLE jobq.log_done_old ADD COLUMN parents boolean;
ALTER TABLE jobq.log_fail ADD COLUMN parents boolean;
ALTER TABLE jobq.log_fail_old ADD COLUMN parents boolean;

-- The batch a derived job's entry is in (running, succeeded), for the mark.
ALTER TYPE jobq.log_derived ADD ATTRIBUTE batch_id bigint;

-- The triggers' functions are defined in log/parents.sql, which migrate() applies after this
-- migration; these stand in until then. Only code that comes with that file marks rows, so they
-- cannot run before it is applied: should one, it fails loudly rather than drop a release.
CREATE FUNCTION jobq.log_done_settle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'jobq.log_done_settle: log/parents.sql has not been applied';
END
$$;
CREATE FUNCTION jobq.log_fail_settle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'jobq.log_fail_settle: log/parents.sql has not been applied';
END
$$;

-- Row triggers whose WHEN is false for an unmarked row: no function call, nothing queued.
CREATE TRIGGER log_done_settle AFTER INSERT ON jobq.log_done FOR EACH ROW WHEN (NEW.parents) EXECUTE FUNCTION jobq.log_done_settle();
CREATE TRIGGER log_fail_settle AFTER INSERT ON jobq.log_fail FOR EACH ROW WHEN (NEW.parents) EXECUTE FUNCTION jobq.log_fail_settle();
