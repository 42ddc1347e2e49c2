-- Log jobs as parents (migrations/0020_log_parents.sql; docs/flows.md, "Parents in the log store"). A
-- child is always a row; a parent it names by id may be a job of the log store. The child's enqueue
-- takes such parents in first (jobq.log_adopt_parents); the row triggers on jobq.log_done and
-- jobq.log_fail, which fire only for rows of a marked batch, settle the children of one that was
-- running. Applied with src/queue/functions.sql after the migrations, as one file, and written as that
-- file is.
--
-- Why no child waits forever: the enqueue marks a running parent's batch (an UPDATE, under the batch's
-- row lock) before it reads the parent's state, and every statement that writes an outcome of a batch
-- locks its row (FOR SHARE) and copies its mark to the outcome rows. So either that statement waits
-- for the enqueue's commit and then reads the mark from the batch's new version (READ COMMITTED
-- follows an updated row it waited for), or the enqueue waits for that statement's commit and then
-- reads the parent as it ended.

-- Makes the waiting log jobs among `ids` rows, as jobq.log_to_rows makes a queue's (attempts, run_at,
-- errors kept; the entry marked `moved`), with has_children when a child waits for one. The caller
-- makes sure that no claim takes them meanwhile. Returns the ids moved; rows runnable now wake their
-- queue's workers.
CREATE OR REPLACE FUNCTION jobq.log_move_to_rows(ids uuid[], p_now timestamp with time zone)
 RETURNS SETOF uuid
 LANGUAGE plpgsql
AS $function$
DECLARE
  wake text[];
  moved uuid[];
BEGIN
  -- A scheduled entry is waiting: it joins the log first, to be marked moved with the others.
  PERFORM jobq.log_unschedule(ids);
  WITH waiting AS (
    SELECT * FROM jobq.log_jobs(ids) d WHERE d.status IN ('queued', 'retrying')
  ), marked AS (
    INSERT INTO jobq.log_fail (pos, id, status, attempt, at)
    SELECT w.pos, w.id, 'moved', w.attempts + 1, p_now FROM waiting w
  ), made AS (
    INSERT INTO jobq.jobs (id, queue, kind, payload, status, attempts, max_attempts, run_at, timeout_ms, backoff_ms, trace_context,
                           errors, last_error, has_children, created_at, updated_at)
    SELECT w.id, w.queue, w.kind, w.payload, CASE WHEN w.attempts > 0 THEN 'retrying' ELSE 'queued' END::jobq.job_status, w.attempts,
           w.max_attempts, w.run_at, w.timeout_ms, w.backoff_ms, w.trace_context, w.errors, w.errors -> -1 ->> 'error',
           EXISTS (SELECT FROM jobq.dependencies dp WHERE dp.parent_id = w.id), w.created_at, p_now
      FROM waiting w
    RETURNING id, queue, run_at
  )
  SELECT array_agg(m.id), array_agg(DISTINCT m.queue) FILTER (WHERE m.run_at <= p_now) INTO moved, wake FROM made m;
  PERFORM pg_notify('jobq_jobs', q) FROM unnest(wake) AS q;
  RETURN QUERY SELECT unnest(moved);
END $function$;

-- Takes in the log jobs among `ids` that a new child names, inside its enqueue, and returns each one
-- found with its status: 'moved' when it is a row now (the caller locks it as a row parent), else its
-- status in the log. A waiting one (queued or retrying: no claim holds it) becomes a row; a running
-- one is written to jobq.log_parents and its batch marked; a finished one is left as it is (it decides
-- the child at once). Locks, in the order claims take them: the parents' scheduled entries, then every
-- lane cursor of their queues (no claim takes them meanwhile), then the running ones' batches.
CREATE OR REPLACE FUNCTION jobq.log_adopt_parents(ids uuid[], p_now timestamp with time zone)
 RETURNS TABLE(id uuid, status text)
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
DECLARE
  found_ids uuid[];
  found_status text[];
BEGIN
  PERFORM FROM jobq.log_scheduled s WHERE s.id = ANY (ids) ORDER BY s.pos FOR UPDATE;
  PERFORM FROM jobq.log_cursor c
   WHERE c.queue IN (SELECT l.queue FROM jobq.log l WHERE l.id = ANY (ids) UNION SELECT s.queue FROM jobq.log_scheduled s WHERE s.id = ANY (ids))
   ORDER BY c.queue, c.lane FOR UPDATE;
  UPDATE jobq.log_batch b SET parents = true
    FROM (SELECT DISTINCT d.batch_id FROM jobq.log_jobs(ids) d WHERE d.status = 'running' ORDER BY d.batch_id) r
   WHERE b.batch_id = r.batch_id;
  -- Read again after the marks: a parent whose outcome was being written is read as it ended.
  SELECT array_agg(d.id), array_agg(d.status) INTO found_ids, found_status FROM jobq.log_jobs(ids) d;
  INSERT INTO jobq.log_parents (id)
  SELECT f.id FROM unnest(found_ids, found_status) AS f(id, status) WHERE f.status = 'running' ON CONFLICT DO NOTHING;
  PERFORM jobq.log_move_to_rows(ids, p_now);
  RETURN QUERY SELECT f.id, CASE WHEN f.status IN ('queued', 'retrying') THEN 'moved' ELSE f.status END
                 FROM unnest(found_ids, found_status) AS f(id, status);
END $function$;

-- The trigger log_done_settle, for a done row of a marked batch: the registered parents whose newest
-- entry it names have succeeded; their children are settled as of the done row's time.
CREATE OR REPLACE FUNCTION jobq.log_done_settle()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE
  r record;
BEGIN
  FOR r IN
    WITH hit AS (
      SELECT p.id FROM jobq.log_parents p
       CROSS JOIN LATERAL (SELECT l.pos FROM jobq.log l WHERE l.id = p.id ORDER BY l.pos DESC LIMIT 1) e
       WHERE e.pos = ANY (NEW.pos)
    ), gone AS (
      DELETE FROM jobq.log_parents p USING hit WHERE p.id = hit.id RETURNING p.id
    )
    SELECT gone.id FROM gone ORDER BY gone.id
  LOOP
    PERFORM jobq.settle_children_of(r.id, 'succeeded', NEW.finished_at);
  END LOOP;
  RETURN NULL;
END
$function$;

-- The trigger log_fail_settle, for a fail row of a marked batch, when its job is a registered parent:
-- failed for good or cancelled, it settles its children; given another attempt (retrying, released,
-- lost), it becomes a row with its children (its new entry, appended by the same statement, is not
-- committed yet: no claim has it), so that no batch that knows nothing of them claims it.
CREATE OR REPLACE FUNCTION jobq.log_fail_settle()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  DELETE FROM jobq.log_parents p WHERE p.id = NEW.id;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF NEW.status IN ('failed_permanent', 'cancelled') THEN
    PERFORM jobq.settle_children_of(NEW.id, NEW.status, NEW.at);
  ELSE
    PERFORM jobq.log_move_to_rows(ARRAY[NEW.id], NEW.at);
  END IF;
  RETURN NULL;
END
$function$;
