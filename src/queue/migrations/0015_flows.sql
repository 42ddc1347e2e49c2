-- Job dependencies (issue #19, item 3; docs/flows.md has the design). A job may name parents
-- (depends_on): it waits ('waiting', enum value of 0014) until every parent has settled, then becomes
-- queued in the transaction of the last parent's completion, through the trigger below.
--
-- Columns, all NULL (or false) for a job without parents, so a job without parents is stored as before:
-- - depends_on: the parents as the enqueue named them (after "#i" references of a batch were resolved),
--   in that order (ctx.parents() reads them in it).
-- - on_parent_failure: what a parent that ends failed_permanent or cancelled does to this job: 'cancel'
--   (the job is cancelled, and so are its waiting descendants that say 'cancel') or 'run' (the parent
--   counts as settled).
-- - pending_parents: while the job waits, how many of its parents have not settled yet.
-- - has_children: some job was made to wait for this one. Only such a job fires the trigger: for the
--   others the trigger's WHEN clause is false and nothing is queued. A constant default: adding the
--   column is a catalog change only, whatever the table's size.
--
-- The CHECKs are NOT VALID: every existing row has NULLs there and no row is waiting yet, and validating
-- would scan the whole table under this migration's exclusive lock. New and updated rows are checked.
ALTER TABLE jobq.jobs
  ADD COLUMN depends_on uuid[],
  ADD COLUMN on_parent_failure text,
  ADD COLUMN pending_parents integer,
  ADD COLUMN has_children boolean NOT NULL DEFAULT false,
  ADD CONSTRAINT jobs_on_parent_failure_check CHECK (on_parent_failure IN ('cancel', 'run')) NOT VALID,
  -- The three go together, and a job has at least one parent if it has any.
  ADD CONSTRAINT jobs_depends_on_check CHECK (
    (depends_on IS NULL) = (on_parent_failure IS NULL) AND (depends_on IS NULL) = (pending_parents IS NULL)
    AND (depends_on IS NULL OR cardinality(depends_on) >= 1)
  ) NOT VALID,
  ADD CONSTRAINT jobs_pending_parents_check CHECK (pending_parents BETWEEN 0 AND cardinality(depends_on)) NOT VALID,
  -- A waiting job waits for something; a job that is not waiting waits for nothing (a job cancelled
  -- while it waited keeps the count it had).
  ADD CONSTRAINT jobs_waiting_has_parents CHECK (
    (status = 'waiting') = (coalesce(pending_parents, 0) > 0) OR status = 'cancelled'
  ) NOT VALID;

-- The parents not settled yet, one row per (parent, child). Written by the enqueue of a waiting child,
-- taken (deleted) by the trigger when the parent settles. No foreign keys: a parent with edges is
-- unfinished, so retention never deletes it, and an edge to a child deleted meanwhile (a child
-- cancelled by an operator and pruned) is simply dropped when its parent settles; foreign keys would
-- cost every prune a look-up here. The primary key serves the trigger's look-up by parent.
CREATE TABLE jobq.dependencies (
  parent_id uuid NOT NULL,
  child_id  uuid NOT NULL,
  PRIMARY KEY (parent_id, child_id)
);

-- The trigger's function is defined in functions.sql, which migrate() applies right after this
-- migration; CREATE TRIGGER needs one to exist, so this placeholder stands in until then. It can only
-- run for a job with has_children, which no job has before the code that sets it is running (that code
-- starts after migrate() has returned): if it ever runs, it fails loudly rather than drop a release.
CREATE FUNCTION jobq.settle_children() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'jobq.settle_children: functions.sql has not been applied';
END
$$;

-- Fires only for a job some other job waits for (has_children), when it reaches a terminal status.
-- For every other job, WHEN is false: no function call, nothing queued.
CREATE TRIGGER jobs_settle_children
  AFTER UPDATE OF status ON jobq.jobs
  FOR EACH ROW
  WHEN (NEW.has_children AND OLD.status IS DISTINCT FROM NEW.status AND NEW.status IN ('succeeded', 'failed_permanent', 'cancelled'))
  EXECUTE FUNCTION jobq.settle_children();
