-- The log store's jobs as the API sees them (migrations/0019_log.sql; the claims, transitions and
-- generations are in functions.sql beside this file): a job derived from its entries, the operator's
-- cancel and retry, a queue's counts and waiting entries, and the move of a queue's waiting jobs to the
-- row store. Applied with src/queue/functions.sql after the migrations, as one file, and written as that
-- file is (each definition as pg_get_functiondef prints it).

-- The oldest generation that can hold an entry of job `id`: a job id is a UUIDv7 (src/queue/ids.ts)
-- whose first 48 bits are its creation time, and every entry, batch, done and fail row of a job is
-- written in the generation current then or later. So reads by id look only at generations made since
-- an hour before it (for clocks that disagree), instead of every archived one: with 200 generations
-- kept, a GET took 30-50 ms, not 0.5. 0 (all of them) for an id that is not a UUIDv7.
CREATE OR REPLACE FUNCTION jobq.log_gen_floor(id uuid)
 RETURNS integer
 LANGUAGE sql
 STABLE
AS $function$
  SELECT CASE WHEN substr(id::text, 15, 1) <> '7' THEN 0
              ELSE coalesce((SELECT max(g.gen) FROM jobq.log_gen g
                              WHERE g.created_at <= to_timestamp(('x' || lpad(substr(replace(id::text, '-', ''), 1, 12), 16, '0'))::bit(64)::bigint / 1000.0)
                                                    - interval '1 hour'), 0) END
$function$;

-- A job's error history as a row keeps it: its last 10 errors (src/limits.ts ERROR_HISTORY), oldest
-- first, from the fail rows that carry one (a retry, a failure for good, a lost lease).
-- The reads by id over the archived generations are plpgsql with generic plans: a plan made for one
-- call (as a SQL function's, or a custom plan) weighs every partition, 8 ms for 200 generations, and
-- a generic one prunes those below jobq.log_gen_floor when it starts.
CREATE OR REPLACE FUNCTION jobq.log_errors(job uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 STABLE
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
BEGIN
  RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('at', e.at, 'attempt', e.attempt, 'error', e.error) ORDER BY e.at), '[]')
            FROM (SELECT x.at, x.attempt, x.error FROM jobq.log_fail_all x
                   WHERE x.id = job AND x.gen >= jobq.log_gen_floor(job) AND x.status IN ('retrying', 'failed_permanent', 'lost') AND x.error IS NOT NULL
                   ORDER BY x.at DESC LIMIT 10) e);
END $function$;

-- Jobs as their entries say, in the order of `ids` (ids with no entry give no row): each one's newest
-- entry (scheduled, else logged), the batch that claimed it, and the derived status: queued (not in a
-- batch yet, or scheduled, for attempt 1), retrying (the same, for a later attempt), running (in a
-- batch, no outcome), succeeded (in a done row), or what its log_fail row says ('released' and 'lost'
-- entries always have a newer one).
-- One plan for a whole page, its lookups as lateral joins; plpgsql so that the plan is kept. Each
-- lookup of a generational table reads the generations from the job's jobq.log_gen_floor on (computed
-- once per job: OFFSET 0 keeps it from being inlined into every reference), and from `lo`, the page's
-- lowest floor, on: a per-row floor only prunes as each row is read, after every partition's scan was
-- set up, while `lo` prunes when the plan starts. With 200 generations kept a page of 21 new jobs took
-- 40 ms (most of it setting up some 800 partitions' scans, a log_seq call per job that did not need
-- one, and log_errors' own plan per job), 1.3 ms now; 501 jobs 5,000 down 980 ms, 135 now. jit off:
-- the sort by `o` that OFFSET 0 leaves is priced at enable_sort's 1e10, and JIT compiling it took
-- 0.5 s a call (and the session's memory grew with every one).
CREATE OR REPLACE FUNCTION jobq.log_jobs(ids uuid[])
 RETURNS SETOF jobq.log_derived
 LANGUAGE plpgsql
 STABLE
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_bitmapscan TO 'off'
 SET enable_sort TO 'off'
 SET enable_seqscan TO 'off'
 SET jit TO 'off'
AS $function$
#variable_conflict use_column
DECLARE
  lo int := coalesce((SELECT min(jobq.log_gen_floor(u.id)) FROM unnest(ids) u(id)), 0);
BEGIN
  RETURN QUERY
  SELECT e.id, e.queue, e.kind, e.payload,
         CASE WHEN e.scheduled THEN CASE WHEN e.attempt > 1 THEN 'retrying' ELSE 'queued' END
              WHEN f.status IS NOT NULL THEN f.status
              WHEN b.batch_id IS NULL THEN CASE WHEN e.attempt > 1 THEN 'retrying' ELSE 'queued' END
              WHEN d.finished_at IS NULL THEN 'running' ELSE 'succeeded' END,
         CASE WHEN e.scheduled OR (f.status = 'cancelled' AND f.batch_id IS NULL) OR (f.status IS NULL AND b.batch_id IS NULL) THEN e.attempt - 1
              WHEN f.status IS NOT NULL THEN f.attempt ELSE e.attempt END,
         e.max_attempts, e.run_at, e.timeout_ms, e.backoff_ms,
         CASE WHEN f.status IS NULL AND d.finished_at IS NULL THEN b.worker END,
         CASE WHEN f.status IS NULL AND d.finished_at IS NULL THEN b.locked_at END,
         d.result, e.created_at, coalesce(f.at, d.finished_at), e.pos, errs.errors,
         EXISTS (SELECT FROM jobq.log_cancel c WHERE c.id = e.id), (SELECT p.progress FROM jobq.log_progress p WHERE p.id = e.id), e.trace_context,
         b.batch_id,
         CASE WHEN f.status IS NOT NULL THEN f.started_at WHEN d.finished_at IS NOT NULL THEN d.started_at
              WHEN b.started IS NULL OR sq.seq < b.started THEN coalesce(b.claimed_at, b.locked_at) END,
         (-(b.batch_id * 1024 + sq.seq))::float8
    FROM (SELECT u.id, u.o, jobq.log_gen_floor(u.id) AS floor FROM unnest(ids) WITH ORDINALITY AS u(id, o) OFFSET 0) i
    CROSS JOIN LATERAL (
      (SELECT true AS scheduled, sc.pos, NULL::xid8 AS xid, NULL::smallint AS lane, sc.id, sc.queue, sc.kind, sc.payload, sc.attempt,
              sc.max_attempts, sc.run_at, sc.timeout_ms, sc.backoff_ms, sc.created_at, sc.trace_context
         FROM jobq.log_scheduled sc WHERE sc.id = i.id LIMIT 1)
      UNION ALL
      (SELECT false, l.pos, l.xid, l.lane, l.id, l.queue, l.kind, l.payload, l.attempt, l.max_attempts, l.run_at, l.timeout_ms,
              l.backoff_ms, l.created_at, l.trace_context
         FROM jobq.log_all l WHERE l.id = i.id AND l.gen >= i.floor AND l.gen >= lo ORDER BY l.pos DESC LIMIT 1)
      LIMIT 1) e
    LEFT JOIN LATERAL (SELECT x.status, x.attempt, x.at, x.batch_id, x.started_at FROM jobq.log_fail_all x
                        WHERE NOT e.scheduled AND x.pos = e.pos AND x.gen >= i.floor AND x.gen >= lo LIMIT 1) f ON true
    LEFT JOIN LATERAL (SELECT w.window_id FROM jobq.log_window w
                        WHERE NOT e.scheduled AND f.status IS NULL AND w.queue = e.queue AND w.lane = e.lane AND w.cur_xmax > e.xid
                          AND pg_visible_in_snapshot(e.xid, w.cur)
                        ORDER BY w.cur_xmax, w.window_id LIMIT 1) w ON true
    LEFT JOIN LATERAL (SELECT bt.batch_id, bt.worker, bt.locked_at, bt.claimed_at, bt.started FROM jobq.log_batch_all bt
                        WHERE bt.window_id = w.window_id AND bt.gen >= i.floor AND bt.gen >= lo AND (bt.hi_xid, bt.hi_pos) >= (e.xid, e.pos)
                        ORDER BY bt.hi_xid, bt.hi_pos LIMIT 1) b ON true
    LEFT JOIN LATERAL (SELECT dn.finished_at, dn.started_at, dn.results -> (array_position(dn.pos, e.pos) - 1) AS result FROM jobq.log_done_all dn
                        WHERE dn.batch_id = b.batch_id AND dn.gen >= i.floor AND dn.gen >= lo AND e.pos = ANY (dn.pos) LIMIT 1) d ON true
    -- A running entry's place in its batch (its claim number, and whether it started with the claim),
    -- asked only of a running one: as a WHERE, the planner filtered after calling it for every job.
    CROSS JOIN LATERAL (SELECT CASE WHEN f.status IS NULL AND d.finished_at IS NULL AND b.batch_id IS NOT NULL
                                    THEN jobq.log_seq(b.batch_id, e.xid, e.pos) END AS seq OFFSET 0) sq
    -- Its errors as jobq.log_errors reads them, in this plan rather than in a call per job.
    CROSS JOIN LATERAL (SELECT coalesce(jsonb_agg(jsonb_build_object('at', r.at, 'attempt', r.attempt, 'error', r.error) ORDER BY r.at), '[]') AS errors
                          FROM (SELECT x.at, x.attempt, x.error FROM jobq.log_fail_all x
                                 WHERE x.id = e.id AND x.gen >= i.floor AND x.gen >= lo AND x.status IN ('retrying', 'failed_permanent', 'lost')
                                   AND x.error IS NOT NULL
                                 ORDER BY x.at DESC LIMIT 10) r) errs
   ORDER BY i.o;
END $function$;

-- One job as jobq.log_jobs derives it, its statements run only as far as the job needs (a scheduled
-- or failed job stops early): 0.59 ms a GET against 0.86. The two must agree (the tests compare them).
CREATE OR REPLACE FUNCTION jobq.log_job(job uuid)
 RETURNS SETOF jobq.log_derived
 LANGUAGE plpgsql
 STABLE
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_bitmapscan TO 'off'
 SET enable_sort TO 'off'
 SET enable_seqscan TO 'off'
AS $function$
#variable_conflict use_column
DECLARE
  e record;
  f record;
  win bigint;
  b jobq.log_batch;
  d_at timestamptz;
  d_started timestamptz;
  seq int;
  lo int := jobq.log_gen_floor(job);
  d_result jsonb;
  errs jsonb;
  cr boolean;
  pr jsonb;
BEGIN
  errs := jobq.log_errors(job);
  cr := EXISTS (SELECT FROM jobq.log_cancel c WHERE c.id = job);
  SELECT p.progress INTO pr FROM jobq.log_progress p WHERE p.id = job;
  SELECT * INTO e FROM jobq.log_scheduled s WHERE s.id = job;
  IF FOUND THEN
    RETURN QUERY SELECT e.id, e.queue, e.kind, e.payload, CASE WHEN e.attempt > 1 THEN 'retrying' ELSE 'queued' END, e.attempt - 1,
      e.max_attempts, e.run_at, e.timeout_ms, e.backoff_ms, NULL::text, NULL::timestamptz, NULL::jsonb, e.created_at, NULL::timestamptz,
      e.pos, errs, cr, pr, e.trace_context, NULL::bigint, NULL::timestamptz, NULL::float8;
    RETURN;
  END IF;
  SELECT * INTO e FROM jobq.log_all l WHERE l.id = job AND l.gen >= lo ORDER BY l.pos DESC LIMIT 1;
  IF NOT FOUND THEN RETURN; END IF;
  SELECT * INTO f FROM jobq.log_fail_all x WHERE x.pos = e.pos AND x.gen >= lo;
  IF FOUND THEN
    RETURN QUERY SELECT e.id, e.queue, e.kind, e.payload, f.status, CASE WHEN f.status = 'cancelled' AND f.batch_id IS NULL THEN e.attempt - 1 ELSE f.attempt END,
      e.max_attempts, e.run_at, e.timeout_ms, e.backoff_ms, NULL::text, NULL::timestamptz, NULL::jsonb, e.created_at, f.at, e.pos, errs, cr, pr,
      e.trace_context, NULL::bigint, f.started_at, NULL::float8;
    RETURN;
  END IF;
  SELECT w.window_id INTO win FROM jobq.log_window w
   WHERE w.queue = e.queue AND w.lane = e.lane AND w.cur_xmax > e.xid AND pg_visible_in_snapshot(e.xid, w.cur)
   ORDER BY w.cur_xmax, w.window_id LIMIT 1;
  IF FOUND THEN
    SELECT * INTO b FROM jobq.log_batch_all bt WHERE bt.window_id = win AND bt.gen >= lo AND (bt.hi_xid, bt.hi_pos) >= (e.xid, e.pos)
     ORDER BY bt.hi_xid, bt.hi_pos LIMIT 1;
  END IF;
  IF b.batch_id IS NULL THEN
    RETURN QUERY SELECT e.id, e.queue, e.kind, e.payload, CASE WHEN e.attempt > 1 THEN 'retrying' ELSE 'queued' END, e.attempt - 1, e.max_attempts, e.run_at, e.timeout_ms, e.backoff_ms,
      NULL::text, NULL::timestamptz, NULL::jsonb, e.created_at, NULL::timestamptz, e.pos, errs, cr, pr, e.trace_context, NULL::bigint, NULL::timestamptz,
      NULL::float8;
    RETURN;
  END IF;
  SELECT dn.finished_at, dn.started_at, dn.results -> (array_position(dn.pos, e.pos) - 1) INTO d_at, d_started, d_result
    FROM jobq.log_done_all dn WHERE dn.batch_id = b.batch_id AND dn.gen >= lo AND e.pos = ANY (dn.pos) LIMIT 1;
  IF d_at IS NULL THEN seq := jobq.log_seq(b.batch_id, e.xid, e.pos); END IF;
  RETURN QUERY SELECT e.id, e.queue, e.kind, e.payload, CASE WHEN d_at IS NULL THEN 'running' ELSE 'succeeded' END, e.attempt,
    e.max_attempts, e.run_at, e.timeout_ms, e.backoff_ms, CASE WHEN d_at IS NULL THEN b.worker END,
    CASE WHEN d_at IS NULL THEN b.locked_at END, d_result, e.created_at, d_at, e.pos, errs, cr, pr, e.trace_context, b.batch_id,
    CASE WHEN d_at IS NOT NULL THEN d_started WHEN b.started IS NULL OR seq < b.started THEN coalesce(b.claimed_at, b.locked_at) END,
    CASE WHEN d_at IS NULL THEN (-(b.batch_id * 1024 + seq))::float8 END;
END $function$;

-- A listing's candidates (log/reads.ts `list`): the ids of the newest `lim` first entries below
-- `after` (all when NULL) of queue q and kind k (any when NULL) among the `scan_rows` newest first
-- entries of the log and, apart, of the scheduled ones; and `edge`, down to where the answer is
-- complete: the highest of its last id when it has `lim` and the lowest id examined by each scan that
-- used its whole budget first; NULL when neither applies (both reached their end). (A page filled
-- partly by one scan is complete only down to where the other stopped, when that is higher.)
-- The log is read newest generation first, not all at once: a generation older than g holds no entry
-- whose id's time (a UUIDv7's first 48 bits, src/queue/ids.ts) is an hour or more (for clocks that
-- disagree, as jobq.log_gen_floor) past g's creation, since every entry is written in the generation
-- current when it is inserted, after its id was made. So the ids from that bound up are all in g and
-- the newer ones, and each step reads them (a newer generation may hold older ids: a delayed job's
-- entry joins the log when due, with its id). Steps take 1, 1, 2, 4... more generations, and stop once
-- the answer is known: a page of the newest jobs reads the newest two or three generations, not every
-- one kept (a listing's first page with 200 generations took 10-40 ms for this). Plans are generic, so
-- the generations below a step's are pruned when it starts. ROWS 1: the default guess of 1000 rows,
-- times log_jobs' 1000, priced the listing above jit_above_cost, and JIT took 280 ms a page.
CREATE OR REPLACE FUNCTION jobq.log_list_ids(after uuid, q text, k text, lim integer, scan_rows integer)
 RETURNS TABLE(ids uuid[], edge uuid)
 LANGUAGE plpgsql
 STABLE ROWS 1
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_bitmapscan TO 'off'
 SET enable_sort TO 'off'
 SET enable_seqscan TO 'off'
 SET jit TO 'off'
AS $function$
DECLARE
  gens int[];
  made timestamptz[];
  oldest timestamptz := 'infinity';
  hi uuid := coalesce(after, 'ffffffff-ffff-ffff-ffff-ffffffffffff');
  hi_ms bigint;
  lo uuid;
  lo_ms bigint;
  j int := 0;
  upto int := 1;
  step int := 1;
  found uuid[] := '{}';
  examined int := 0;
  lowest uuid;
  s_ids uuid[];
  s_n int;
  s_lowest uuid;
  log_edge uuid;
BEGIN
  SELECT array_agg(g.gen ORDER BY g.gen DESC), array_agg(g.created_at ORDER BY g.gen DESC) INTO gens, made FROM jobq.log_gen g;
  hi_ms := ('x' || substr(replace(hi::text, '-', ''), 1, 12))::bit(48)::bigint;
  WHILE j < cardinality(gens) LOOP
    -- The step reads ids in [lo, hi) of generations gens[1..j]: no older one holds an id from lo up
    -- (all of them below the last step's, at 0 when it reads every generation).
    WHILE j < upto LOOP
      j := j + 1;
      oldest := least(oldest, made[j]);
    END LOOP;
    lo_ms := ceil(extract(epoch FROM oldest + interval '1 hour') * 1000)::bigint + 1;
    IF j < cardinality(gens) AND lo_ms > hi_ms THEN
      upto := j + 1; -- nothing from lo up is below hi: the next generation
      CONTINUE;
    END IF;
    lo := CASE WHEN j < cardinality(gens)
               THEN (substr(lpad(to_hex(lo_ms), 12, '0'), 1, 8) || '-' || substr(lpad(to_hex(lo_ms), 12, '0'), 9, 4) || '-0000-0000-000000000000')::uuid
               ELSE '00000000-0000-0000-0000-000000000000' END;
    -- Its first entries newest first, within what is left of the budget, up to the matches still
    -- wanted; of them the matches, how many were examined and the lowest (the rows come back as far
    -- as the last match wanted, or as the last one examined).
    SELECT array_agg(x.id ORDER BY x.id DESC) FILTER (WHERE x.m), max(x.n), (array_agg(x.id ORDER BY x.id))[1] INTO s_ids, s_n, s_lowest
      FROM (SELECT w.id, w.m, w.n FROM (
              SELECT e.id, e.m, row_number() OVER o AS n, lead(e.id) OVER o IS NULL AS final FROM (
                SELECT l.id, (q IS NULL OR l.queue = q) AND (k IS NULL OR l.kind = k) AS m FROM jobq.log_all l
                 WHERE l.gen >= gens[j] AND l.first AND l.id < hi AND l.id >= lo ORDER BY l.id DESC LIMIT scan_rows - examined) e
              WINDOW o AS (ORDER BY e.id DESC)) w
             WHERE w.m OR w.final LIMIT lim - cardinality(found)) x;
    IF s_n IS NOT NULL THEN
      found := found || coalesce(s_ids, '{}');
      examined := examined + s_n;
      lowest := s_lowest;
    END IF;
    EXIT WHEN cardinality(found) = lim OR examined = scan_rows;
    hi := lo;
    hi_ms := lo_ms;
    upto := least(cardinality(gens), j + step);
    step := step * 2;
  END LOOP;
  IF examined = scan_rows THEN log_edge := lowest; END IF;
  -- The scheduled entries, read as the log's.
  SELECT array_agg(x.id ORDER BY x.id DESC) FILTER (WHERE x.m), max(x.n), (array_agg(x.id ORDER BY x.id))[1] INTO s_ids, s_n, s_lowest
    FROM (SELECT w.id, w.m, w.n FROM (
            SELECT e.id, e.m, row_number() OVER o AS n, lead(e.id) OVER o IS NULL AS final FROM (
              SELECT s.id, (q IS NULL OR s.queue = q) AND (k IS NULL OR s.kind = k) AS m FROM jobq.log_scheduled s
               WHERE s.first AND s.id < coalesce(after, 'ffffffff-ffff-ffff-ffff-ffffffffffff') ORDER BY s.id DESC LIMIT scan_rows) e
            WINDOW o AS (ORDER BY e.id DESC)) w
           WHERE w.m OR w.final LIMIT lim) x;
  ids := ARRAY(SELECT u.id FROM unnest(found || coalesce(s_ids, '{}')) u(id) ORDER BY u.id DESC LIMIT lim);
  edge := greatest(CASE WHEN cardinality(ids) = lim THEN ids[lim] END, log_edge, CASE WHEN s_n = scan_rows THEN s_lowest END);
  RETURN NEXT;
END $function$;

-- Moves the scheduled entries of these jobs into the log now, whatever their run_at (a cancel or a move
-- to the row store ends them there: the job's newest entry is then the one that says so).
CREATE OR REPLACE FUNCTION jobq.log_unschedule(ids uuid[])
 RETURNS void
 LANGUAGE sql
AS $function$
  WITH moved AS (DELETE FROM jobq.log_scheduled s WHERE s.id = ANY (ids) RETURNING s.*)
  INSERT INTO jobq.log (pos, id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at, trace_context)
  SELECT pos, id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at, trace_context FROM moved
$function$;

-- Cancels job `job` if the log holds it (NULL when it does not): a queued or retrying job at once (a
-- `cancelled` fail row on its newest entry, a scheduled one moved into the log first), under every
-- lane's cursor lock of its queue so that no claim takes it meanwhile; a running one gets a cancel
-- request (its worker's heartbeat reads it). Returns 'cancelled', 'requested' or 'already_terminal',
-- and the job as it left it; no row when the log does not hold the job.
CREATE OR REPLACE FUNCTION jobq.log_request_cancel(job uuid, p_now timestamp with time zone)
 RETURNS TABLE(outcome text, derived jobq.log_derived)
 LANGUAGE plpgsql
AS $function$
DECLARE
  j jobq.log_derived;
BEGIN
  SELECT * INTO j FROM jobq.log_job(job);
  IF NOT FOUND THEN RETURN; END IF;
  PERFORM FROM jobq.log_cursor c WHERE c.queue = j.queue ORDER BY c.lane FOR UPDATE;
  SELECT * INTO j FROM jobq.log_job(job);
  IF j.status = 'running' THEN
    INSERT INTO jobq.log_cancel (id, at) VALUES (job, p_now) ON CONFLICT DO NOTHING;
    RETURN QUERY SELECT 'requested'::text, d FROM jobq.log_job(job) d;
    RETURN;
  END IF;
  IF j.status NOT IN ('queued', 'retrying') THEN
    RETURN QUERY SELECT 'already_terminal'::text, j;
    RETURN;
  END IF;
  PERFORM jobq.log_unschedule(ARRAY[job]);
  INSERT INTO jobq.log_fail (pos, id, status, attempt, at)
  SELECT l.pos, l.id, 'cancelled', l.attempt, p_now FROM jobq.log l WHERE l.id = job ORDER BY l.pos DESC LIMIT 1;
  RETURN QUERY SELECT 'cancelled'::text, d FROM jobq.log_job(job) d;
END $function$;

-- The operator's retry of job `job` if the log holds it (NULL when it does not): failed_permanent or
-- cancelled becomes queued, a new entry with its attempts reset (its cancel request and progress
-- gone); one retry of a job at a time (entries are only appended: there is no row to lock). Returns
-- 'retried' and the job as the retry left it, or the status that made it do nothing and the job; no
-- row when the log does not hold the job.
CREATE OR REPLACE FUNCTION jobq.log_retry(job uuid, p_now timestamp with time zone)
 RETURNS TABLE(outcome text, derived jobq.log_derived)
 LANGUAGE plpgsql
AS $function$
DECLARE
  j jobq.log_derived;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('jobq.log_retry ' || job::text, 0));
  SELECT * INTO j FROM jobq.log_job(job);
  IF NOT FOUND THEN RETURN; END IF;
  IF j.status NOT IN ('failed_permanent', 'cancelled') THEN
    RETURN QUERY SELECT j.status, j;
    RETURN;
  END IF;
  DELETE FROM jobq.log_cancel c WHERE c.id = job;
  DELETE FROM jobq.log_progress p WHERE p.id = job;
  INSERT INTO jobq.log (id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at, trace_context)
  SELECT l.id, false, l.queue, l.kind, l.payload, 1, l.max_attempts, p_now, l.timeout_ms, NULL, l.created_at, l.trace_context
    FROM jobq.log_all l WHERE l.id = job AND l.pos = j.pos;
  PERFORM pg_notify('jobq_jobs', j.queue);
  RETURN QUERY SELECT 'retried'::text, d FROM jobq.log_job(job) d;
END $function$;

-- Queue q's unfinished log jobs, read per lane and per batch, not per job: `depth` runnable ones (the
-- rest of each lane's newest window past its newest batch, what belongs to later windows, and
-- scheduled entries now due), `later` scheduled ones not due yet, `running` ones (the open entries of
-- the batches after the recovery sweep's mark: every batch up to it finished or was recovered), and
-- the age in seconds of the oldest runnable one.
CREATE OR REPLACE FUNCTION jobq.log_queue_counts(q text, p_now timestamp with time zone)
 RETURNS TABLE(depth integer, later integer, running integer, oldest_age double precision)
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
  ln smallint;
  win jobq.log_window;
  hx xid8;
  hp bigint;
  sx xid8;
  sp bigint;
  n int;
  m timestamptz;
  d int := 0;
  o timestamptz;
BEGIN
  FOR ln IN SELECT c.lane FROM jobq.log_cursor c WHERE c.queue = q LOOP
    hx := '0'; hp := 0; sx := '0'; sp := 0;
    SELECT * INTO win FROM jobq.log_window w0 WHERE w0.queue = q AND w0.lane = ln ORDER BY w0.window_id DESC LIMIT 1;
    IF FOUND THEN
      SELECT b.hi_xid, b.hi_pos INTO hx, hp FROM jobq.log_batch b WHERE b.window_id = win.window_id ORDER BY b.hi_xid DESC, b.hi_pos DESC LIMIT 1;
      hx := coalesce(hx, '0');
      hp := coalesce(hp, 0);
      IF hx < pg_snapshot_xmax(win.prev) THEN sx := pg_snapshot_xmax(win.prev); sp := -1; ELSE sx := hx; sp := hp; END IF;
      SELECT count(*), min(l.run_at) INTO n, m FROM jobq.log l
       WHERE l.queue = q AND l.lane = ln AND (l.xid, l.pos) > (hx, hp)
         AND l.xid >= pg_snapshot_xmin(win.prev) AND l.xid = ANY (ARRAY(SELECT x FROM pg_snapshot_xip(win.prev) x WHERE pg_visible_in_snapshot(x, win.cur)))
         AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos);
      d := d + n;
      o := least(o, m);
      SELECT count(*), min(l.run_at) INTO n, m FROM jobq.log l
       WHERE l.queue = q AND l.lane = ln AND l.xid >= pg_snapshot_xmin(win.cur) AND l.xid = ANY (ARRAY(SELECT pg_snapshot_xip(win.cur)))
         AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos);
      d := d + n;
      o := least(o, m);
    ELSE
      win := NULL;
    END IF;
    SELECT count(*), min(l.run_at) INTO n, m FROM jobq.log l
     WHERE l.queue = q AND l.lane = ln AND (l.xid, l.pos) > (sx, sp)
       AND (win.window_id IS NULL OR NOT l.xid = ANY (ARRAY(SELECT pg_snapshot_xip(win.cur))))
       AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos);
    d := d + n;
    o := least(o, m);
  END LOOP;
  SELECT d + count(*) FILTER (WHERE s.run_at <= p_now), count(*) FILTER (WHERE s.run_at > p_now), least(o, min(s.run_at) FILTER (WHERE s.run_at <= p_now))
    INTO depth, later, o FROM jobq.log_scheduled s WHERE s.queue = q;
  SELECT coalesce(sum(b.n - coalesce((SELECT sum(cardinality(dn.pos)) FROM jobq.log_done dn WHERE dn.batch_id = b.batch_id), 0)
                      - (SELECT count(*) FROM jobq.log_fail f WHERE f.batch_id = b.batch_id)), 0)::int
    INTO running FROM jobq.log_batch b WHERE b.queue = q AND b.lost_at IS NULL AND b.batch_id > (SELECT s.through FROM jobq.log_sweep s);
  oldest_age := extract(epoch FROM p_now - o)::float8;
  RETURN NEXT;
END $function$;

-- The entries of queue q that wait: each lane's unclaimed ones (the rest of its newest window past
-- its newest batch, what its snapshot saw in progress, everything later; as jobq.log_queue_counts
-- counts them), then the scheduled ones. Called with the queue's cursor rows locked.
CREATE OR REPLACE FUNCTION jobq.log_waiting(q text)
 RETURNS SETOF jobq.log
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
  ln smallint;
  win jobq.log_window;
  hx xid8;
  hp bigint;
  sx xid8;
  sp bigint;
BEGIN
  FOR ln IN SELECT c.lane FROM jobq.log_cursor c WHERE c.queue = q LOOP
    hx := '0'; hp := 0; sx := '0'; sp := 0;
    SELECT * INTO win FROM jobq.log_window w0 WHERE w0.queue = q AND w0.lane = ln ORDER BY w0.window_id DESC LIMIT 1;
    IF FOUND THEN
      SELECT b.hi_xid, b.hi_pos INTO hx, hp FROM jobq.log_batch b WHERE b.window_id = win.window_id ORDER BY b.hi_xid DESC, b.hi_pos DESC LIMIT 1;
      hx := coalesce(hx, '0');
      hp := coalesce(hp, 0);
      IF hx < pg_snapshot_xmax(win.prev) THEN sx := pg_snapshot_xmax(win.prev); sp := -1; ELSE sx := hx; sp := hp; END IF;
      RETURN QUERY SELECT l.* FROM jobq.log l
       WHERE l.queue = q AND l.lane = ln AND (l.xid, l.pos) > (hx, hp)
         AND l.xid >= pg_snapshot_xmin(win.prev) AND l.xid = ANY (ARRAY(SELECT x FROM pg_snapshot_xip(win.prev) x WHERE pg_visible_in_snapshot(x, win.cur)))
         AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos);
      RETURN QUERY SELECT l.* FROM jobq.log l
       WHERE l.queue = q AND l.lane = ln AND l.xid >= pg_snapshot_xmin(win.cur) AND l.xid = ANY (ARRAY(SELECT pg_snapshot_xip(win.cur)))
         AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos);
    ELSE
      win := NULL;
    END IF;
    RETURN QUERY SELECT l.* FROM jobq.log l
     WHERE l.queue = q AND l.lane = ln AND (l.xid, l.pos) > (sx, sp)
       AND (win.window_id IS NULL OR NOT l.xid = ANY (ARRAY(SELECT pg_snapshot_xip(win.cur))))
       AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos);
  END LOOP;
END $function$;

-- Queue q got a policy (jobq.queues): the log's claim leaves such queues to the row store's, so its
-- waiting jobs become rows, as they were (attempts, run_at, errors, trace context), each entry given a
-- `moved` fail row (new jobs of q are rows: the enqueue routes by jobq.queues). Jobs of q running
-- from the log finish there, and what they append again (a retry, a release, a recovery) is moved by
-- the sweep's next call: the cursor rows stay for that, and the Worker's claim leaves q out (exclude).
-- Under the cursor rows' locks: no claim takes an entry meanwhile. Returns how many jobs moved.
CREATE OR REPLACE FUNCTION jobq.log_to_rows(q text, p_now timestamp with time zone)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
  n int;
BEGIN
  PERFORM FROM jobq.log_cursor c WHERE c.queue = q ORDER BY c.lane FOR UPDATE;
  IF NOT FOUND THEN RETURN 0; END IF;
  WITH waiting AS (
    SELECT w.*, false AS scheduled FROM jobq.log_waiting(q) w
    UNION ALL
    SELECT s.gen, s.pos, NULL, s.id, s.first, s.queue, s.kind, s.payload, s.attempt, s.max_attempts, s.run_at, s.timeout_ms, s.backoff_ms,
           s.created_at, s.trace_context, NULL, true
      FROM (SELECT NULL::int AS gen, x.* FROM jobq.log_scheduled x WHERE x.queue = q) s
  ), unscheduled AS (
    -- A scheduled entry joins the log, marked moved with the others: the job's newest entry says so.
    DELETE FROM jobq.log_scheduled x WHERE x.queue = q RETURNING x.*
  ), logged AS (
    INSERT INTO jobq.log (pos, id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at, trace_context)
    SELECT u.pos, u.id, u.first, u.queue, u.kind, u.payload, u.attempt, u.max_attempts, u.run_at, u.timeout_ms, u.backoff_ms, u.created_at, u.trace_context
      FROM unscheduled u
  ), marked AS (
    INSERT INTO jobq.log_fail (pos, id, status, attempt, at)
    SELECT w.pos, w.id, 'moved', w.attempt, p_now FROM waiting w
  ), made AS (
    INSERT INTO jobq.jobs (id, queue, kind, payload, status, attempts, max_attempts, run_at, timeout_ms, backoff_ms, trace_context,
                           errors, last_error, created_at, updated_at)
    SELECT w.id, w.queue, w.kind, w.payload, CASE WHEN w.attempt > 1 THEN 'retrying' ELSE 'queued' END::jobq.job_status, w.attempt - 1,
           w.max_attempts, w.run_at, w.timeout_ms, w.backoff_ms, w.trace_context, e.errors, e.errors -> -1 ->> 'error', w.created_at, p_now
      FROM waiting w
      CROSS JOIN LATERAL (SELECT jobq.log_errors(w.id) AS errors) e
    RETURNING 1
  )
  SELECT count(*) INTO n FROM made;
  IF n > 0 THEN PERFORM pg_notify('jobq_jobs', q); END IF;
  RETURN n;
END $function$;
