-- Log jobs as parents (migrations/0020_log_parents.sql; docs/flows.md, "Parents in the log store"). A
-- child is always a row; a parent it names by id may be a job of the log store. The child's enqueue
-- takes such parents in first (jobq.log_adopt_parents), and the triggers on jobq.log_done and
-- jobq.log_fail release its children when one that was running settles. Applied with
-- src/queue/functions.sql after the migrations, as one file, and written as that file is.
--
-- Why no child waits forever: the enqueue holds jobq.log_parents in EXCLUSIVE mode from before it reads
-- the parents' states until it commits, and each trigger takes ROW SHARE before it reads the table. So
-- either the trigger waits for the enqueue's commit and then finds its parents (each query of a
-- PL/pgSQL function takes a snapshot of its own), or the enqueue waits for the settling transaction's
-- commit and then reads the parent as settled.

-- Takes in the log jobs among `ids` that a new child names, inside its enqueue, and returns each one
-- found with its status: 'moved' when it is a row now (the caller locks it as a row parent), else its
-- status in the log. A waiting one (queued or retrying: no claim holds it) becomes a row as
-- jobq.log_to_rows makes them; a running one is written to jobq.log_parents; a finished one is left as
-- it is (it decides the child at once). Rows runnable now wake their queue. Locks, in the order claims take them: the parents' scheduled
-- entries, then every lane cursor of their queues (no claim takes them meanwhile), then the table.
CREATE OR REPLACE FUNCTION jobq.log_adopt_parents(ids uuid[], p_now timestamp with time zone)
 RETURNS TABLE(id uuid, status text)
 LANGUAGE plpgsql
AS $function$
#variable_conflict use_column
DECLARE
  found_ids uuid[];
  found_status text[];
  wake text[];
BEGIN
  PERFORM FROM jobq.log_scheduled s WHERE s.id = ANY (ids) ORDER BY s.pos FOR UPDATE;
  PERFORM FROM jobq.log_cursor c
   WHERE c.queue IN (SELECT l.queue FROM jobq.log l WHERE l.id = ANY (ids) UNION SELECT s.queue FROM jobq.log_scheduled s WHERE s.id = ANY (ids))
   ORDER BY c.queue, c.lane FOR UPDATE;
  LOCK TABLE jobq.log_parents IN EXCLUSIVE MODE;
  -- A scheduled entry is waiting: it joins the log first, to be marked moved with the others.
  PERFORM jobq.log_unschedule(ids);
  WITH d AS (
    SELECT * FROM jobq.log_jobs(ids)
  ), waiting AS (
    SELECT * FROM d WHERE d.status = 'queued'
  ), marked AS (
    INSERT INTO jobq.log_fail (pos, id, status, attempt, at)
    SELECT w.pos, w.id, 'moved', w.attempts + 1, p_now FROM waiting w
  ), made AS (
    INSERT INTO jobq.jobs (id, queue, kind, payload, status, attempts, max_attempts, run_at, timeout_ms, backoff_ms, trace_context,
                           errors, last_error, created_at, updated_at)
    SELECT w.id, w.queue, w.kind, w.payload, CASE WHEN w.attempts > 0 THEN 'retrying' ELSE 'queued' END::jobq.job_status, w.attempts,
           w.max_attempts, w.run_at, w.timeout_ms, w.backoff_ms,
           w.trace_context, w.errors, w.errors -> -1 ->> 'error', w.created_at, p_now
      FROM waiting w
    RETURNING queue, run_at
  ), registered AS (
    INSERT INTO jobq.log_parents (id) SELECT d.id FROM d WHERE d.status = 'running' ON CONFLICT DO NOTHING
  )
  SELECT array_agg(d.id), array_agg(CASE WHEN d.status = 'queued' THEN 'moved' ELSE d.status END),
         (SELECT array_agg(DISTINCT m.queue) FROM made m WHERE m.run_at <= p_now)
    INTO found_ids, found_status, wake
    FROM d;
  -- A row runnable now wakes its queue's workers (channel jobq_jobs, as jobq.log_to_rows).
  PERFORM pg_notify('jobq_jobs', q) FROM unnest(wake) AS q;
  RETURN QUERY SELECT * FROM unnest(found_ids, found_status);
END $function$;

-- The trigger log_done_settle (once per statement that writes done rows): the log parents whose newest
-- entry the new done rows name have succeeded; their children are settled as of the done row's time.
CREATE OR REPLACE FUNCTION jobq.log_done_settle()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE
  r record;
BEGIN
  LOCK TABLE jobq.log_parents IN ROW SHARE MODE;
  IF NOT EXISTS (SELECT FROM jobq.log_parents) THEN
    RETURN NULL;
  END IF;
  FOR r IN
    WITH hit AS (
      SELECT p.id, s.finished_at FROM jobq.log_parents p
       CROSS JOIN LATERAL (SELECT l.pos FROM jobq.log l WHERE l.id = p.id ORDER BY l.pos DESC LIMIT 1) e
       JOIN settled s ON e.pos = ANY (s.pos)
    ), gone AS (
      DELETE FROM jobq.log_parents p USING hit WHERE p.id = hit.id RETURNING p.id, hit.finished_at
    )
    SELECT gone.id, gone.finished_at FROM gone ORDER BY gone.id
  LOOP
    PERFORM jobq.settle_children_of(r.id, 'succeeded', r.finished_at);
  END LOOP;
  RETURN NULL;
END
$function$;

-- The trigger log_fail_settle (once per statement that writes fail rows): a log parent that failed for
-- good or was cancelled settles its children; one that became a row (moved: its queue got a policy)
-- keeps them as a row parent (has_children, whose trigger settles them). Statements that write only
-- retries, releases and losses take no lock.
CREATE OR REPLACE FUNCTION jobq.log_fail_settle()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE
  r record;
BEGIN
  IF NOT EXISTS (SELECT FROM settled s WHERE s.status IN ('failed_permanent', 'cancelled', 'moved')) THEN
    RETURN NULL;
  END IF;
  LOCK TABLE jobq.log_parents IN ROW SHARE MODE;
  IF NOT EXISTS (SELECT FROM jobq.log_parents) THEN
    RETURN NULL;
  END IF;
  FOR r IN
    WITH gone AS (
      DELETE FROM jobq.log_parents p USING settled s
       WHERE p.id = s.id AND s.status IN ('failed_permanent', 'cancelled', 'moved')
      RETURNING p.id, s.status, s.at
    )
    SELECT gone.id, gone.status, gone.at FROM gone ORDER BY gone.id
  LOOP
    IF r.status = 'moved' THEN
      UPDATE jobq.jobs j SET has_children = true WHERE j.id = r.id;
    ELSE
      PERFORM jobq.settle_children_of(r.id, r.status, r.at);
    END IF;
  END LOOP;
  RETURN NULL;
END
$function$;
