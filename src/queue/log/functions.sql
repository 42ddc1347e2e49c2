-- The log store's functions (migrations/0019_log.sql has its tables and what each holds; README of
-- src/queue/log/ its design). Applied with src/queue/functions.sql after the migrations, as one file,
-- and written as that file is (each definition as pg_get_functiondef prints it).

-- How many lanes each queue's log has: claims of one queue run in parallel, one per lane. (Also in
-- migrations/0019, whose defaults call it.)
CREATE OR REPLACE FUNCTION jobq.log_lanes()
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE
AS $function$ SELECT 4 $function$;

-- The generation inserts go to: the newest. (Also in migrations/0019, whose defaults call it.)
CREATE OR REPLACE FUNCTION jobq.log_current_gen()
 RETURNS integer
 LANGUAGE sql
 STABLE
AS $function$ SELECT max(gen) FROM jobq.log_gen $function$;

-- Makes a new generation current: a partition of each generational table, attached (not created as
-- PARTITION OF, which would lock the parents exclusively), with a CHECK of its generation so that
-- attaching it under a history parent later need not scan it. Returns it. (Also in migrations/0019.)
CREATE OR REPLACE FUNCTION jobq.log_rotate()
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
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
END $function$;

-- Moves generation g out of the hot parents into the history ones (retention.ts decides when: every
-- entry finished, and no transaction that could still insert with g). DETACH takes the hot parents'
-- AccessExclusive lock for a moment.
CREATE OR REPLACE FUNCTION jobq.log_archive(g integer)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['log', 'log_batch', 'log_done', 'log_fail'] LOOP
    EXECUTE format('ALTER TABLE jobq.%I DETACH PARTITION jobq.%I', t, t || '_g' || g);
    EXECUTE format('ALTER TABLE jobq.%I ATTACH PARTITION jobq.%I FOR VALUES IN (%s)', t || '_old', t || '_g' || g, g);
  END LOOP;
  UPDATE jobq.log_gen SET archived = true, archived_at = now() WHERE gen = g;
END $function$;

-- A queue's cursor rows, one per lane (made by its first enqueue into the log).
CREATE OR REPLACE FUNCTION jobq.log_add_queue(q text)
 RETURNS void
 LANGUAGE sql
AS $function$
  INSERT INTO jobq.log_cursor SELECT q, l FROM generate_series(0, jobq.log_lanes() - 1) l ON CONFLICT DO NOTHING
$function$;

-- Moves queue q's due scheduled entries into the log (in the caller's transaction: they join a later window).
CREATE OR REPLACE FUNCTION jobq.log_move_due(q text, p_now timestamp with time zone)
 RETURNS void
 LANGUAGE sql
AS $function$
  WITH due AS (
    DELETE FROM jobq.log_scheduled s WHERE s.queue = q AND s.run_at <= p_now RETURNING s.*
  )
  INSERT INTO jobq.log (pos, id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at, trace_context)
  SELECT pos, id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at, trace_context FROM due
$function$;

-- Up to lim entries of queue q's lane ln in window (prev, cur) after (hx, hp), in (xid, pos) order,
-- skipping entries with a log_fail row (cancelled before their claim). PgQ's rule, as two
-- index-ordered parts: the xids in prev's in-progress list that cur sees (one scan each), then the xid
-- range [prev.xmax, cur.xmax). Its plans are pinned to index scans by jobq.log_claim's SET clauses.
CREATE OR REPLACE FUNCTION jobq.log_slice(q text, ln smallint, prev pg_snapshot, cur pg_snapshot, hx xid8, hp bigint, lim integer)
 RETURNS jobq.log[]
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
  xa xid8[];
  x xid8;
  res jobq.log[] := '{}';
  part jobq.log[];
  pmax xid8 := pg_snapshot_xmax(prev);
BEGIN
  SELECT coalesce(array_agg(t ORDER BY t), '{}') INTO xa FROM pg_snapshot_xip(prev) t WHERE pg_visible_in_snapshot(t, cur);
  FOREACH x IN ARRAY xa LOOP
    CONTINUE WHEN x < hx;
    SELECT array_agg(s ORDER BY s.pos) INTO part
      FROM (SELECT l.* FROM jobq.log l
             WHERE l.queue = q AND l.lane = ln AND l.xid = x AND l.pos > CASE WHEN x = hx THEN hp ELSE 0 END
               AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos)
             ORDER BY l.pos LIMIT lim - cardinality(res)) s;
    res := res || coalesce(part, '{}');
    IF cardinality(res) >= lim THEN RETURN res; END IF;
  END LOOP;
  IF hx < pmax THEN hx := pmax; hp := -1; END IF;
  SELECT array_agg(s ORDER BY s.xid, s.pos) INTO part
    FROM (SELECT l.* FROM jobq.log l
           WHERE l.queue = q AND l.lane = ln AND (l.xid, l.pos) > (hx, hp) AND l.xid < pg_snapshot_xmax(cur)
             AND pg_visible_in_snapshot(l.xid, cur)
             AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos)
           ORDER BY l.xid, l.pos LIMIT lim - cardinality(res)) s;
  RETURN res || coalesce(part, '{}');
END $function$;

-- Whether lane ln of queue q holds entries (of generation g, or any) that no claim took and no cancel
-- ended: the rest of the lane's newest window W (after its newest batch) and what belongs to later
-- windows. Entries of earlier windows were all claimed (a window is opened only when the one before is
-- used up). A few index probes, cheaper than a slice.
CREATE OR REPLACE FUNCTION jobq.log_lane_busy(q text, ln smallint, g integer DEFAULT NULL::integer)
 RETURNS boolean
 LANGUAGE plpgsql
 STABLE
AS $function$
DECLARE
  win jobq.log_window;
  hx xid8 := '0';
  hp bigint := 0;
  sx xid8 := '0';
  sp bigint := 0;
BEGIN
  SELECT * INTO win FROM jobq.log_window w0 WHERE w0.queue = q AND w0.lane = ln ORDER BY w0.window_id DESC LIMIT 1;
  IF FOUND THEN
    SELECT b.hi_xid, b.hi_pos INTO hx, hp FROM jobq.log_batch b WHERE b.window_id = win.window_id ORDER BY b.hi_xid DESC, b.hi_pos DESC LIMIT 1;
    hx := coalesce(hx, '0');
    hp := coalesce(hp, 0);
    IF hx < pg_snapshot_xmax(win.prev) THEN sx := pg_snapshot_xmax(win.prev); sp := -1; ELSE sx := hx; sp := hp; END IF;
  END IF;
  IF EXISTS (SELECT FROM jobq.log l WHERE l.queue = q AND l.lane = ln AND (l.xid, l.pos) > (sx, sp)
                AND (g IS NULL OR l.gen = g) AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos)) THEN
    RETURN true;
  END IF;
  IF win.window_id IS NULL THEN RETURN false; END IF;
  RETURN EXISTS (SELECT FROM jobq.log l
                  WHERE l.queue = q AND l.lane = ln AND (l.xid, l.pos) > (hx, hp)
                    AND l.xid = ANY (ARRAY(SELECT x FROM pg_snapshot_xip(win.prev) x WHERE pg_visible_in_snapshot(x, win.cur)))
                    AND (g IS NULL OR l.gen = g) AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos))
      OR EXISTS (SELECT FROM jobq.log l
                  WHERE l.queue = q AND l.lane = ln AND l.xid = ANY (ARRAY(SELECT pg_snapshot_xip(win.cur)))
                    AND (g IS NULL OR l.gen = g) AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos));
END $function$;

-- One lane's claim: up to lim entries of queue q's lane ln for worker w, as one batch, the lane's cursor
-- row locked by the caller. Continues the lane's newest window; when it is exhausted, opens the next
-- (prev = its cur, cur = now's snapshot), written only when it holds entries. seq: the entry's place in
-- the batch. Entries of a kind not in `kinds` (a worker without its handler) are given back at once: a
-- `released` fail row and the same attempt scheduled again a second later, for a worker that has it.
CREATE OR REPLACE FUNCTION jobq.log_claim_lane(q text, ln smallint, w text, lim integer, kinds text[], p_now timestamp with time zone)
 RETURNS SETOF jobq.log_claimed
 LANGUAGE plpgsql
AS $function$
DECLARE
  win jobq.log_window;
  hx xid8 := '0';
  hp bigint := 0;
  snap pg_snapshot;
  picked jobq.log[];
  bid bigint;
BEGIN
  SELECT * INTO win FROM jobq.log_window w0 WHERE w0.queue = q AND w0.lane = ln ORDER BY w0.window_id DESC LIMIT 1;
  IF FOUND THEN
    SELECT b.hi_xid, b.hi_pos INTO hx, hp FROM jobq.log_batch b
     WHERE b.window_id = win.window_id ORDER BY b.hi_xid DESC, b.hi_pos DESC LIMIT 1;
    picked := jobq.log_slice(q, ln, win.prev, win.cur, coalesce(hx, '0'), coalesce(hp, 0), lim);
  END IF;
  IF coalesce(cardinality(picked), 0) = 0 THEN
    snap := pg_current_snapshot();
    IF win.window_id IS NOT NULL AND snap::text = win.cur::text THEN RETURN; END IF;
    win.prev := coalesce(win.cur, '1:1:'::pg_snapshot);
    win.cur := snap;
    picked := jobq.log_slice(q, ln, win.prev, snap, '0', 0, lim);
    IF cardinality(picked) = 0 THEN RETURN; END IF;
    INSERT INTO jobq.log_window (queue, lane, prev, cur, cur_xmax) VALUES (q, ln, win.prev, snap, pg_snapshot_xmax(snap))
    RETURNING window_id INTO win.window_id;
    hx := '0';
    hp := 0;
  END IF;
  bid := nextval('jobq.log_batch_seq');
  INSERT INTO jobq.log_batch (batch_id, queue, window_id, lo_xid, lo_pos, hi_xid, hi_pos, n, worker, locked_at, lo_gen)
  VALUES (bid, q, win.window_id, hx, hp, picked[cardinality(picked)].xid, picked[cardinality(picked)].pos, cardinality(picked), w, p_now,
          (SELECT min(t.gen) FROM unnest(picked) t));
  RETURN QUERY
    SELECT bid, (t.o - 1)::int, t.pos, t.id, t.queue, t.kind, t.payload, t.attempt, t.max_attempts, t.run_at, t.timeout_ms, t.backoff_ms, t.trace_context
      FROM unnest(picked) WITH ORDINALITY AS t(gen, pos, xid, id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms,
                                               created_at, trace_context, lane, o)
     WHERE kinds IS NULL OR t.kind = ANY (kinds);
  IF kinds IS NOT NULL AND EXISTS (SELECT FROM unnest(picked) t WHERE NOT t.kind = ANY (kinds)) THEN
    INSERT INTO jobq.log_fail (pos, id, batch_id, status, attempt, at)
    SELECT t.pos, t.id, bid, 'released', t.attempt, p_now FROM unnest(picked) t WHERE NOT t.kind = ANY (kinds);
    INSERT INTO jobq.log_scheduled (id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at, trace_context)
    SELECT t.id, false, t.queue, t.kind, t.payload, t.attempt, t.max_attempts, p_now + interval '1 second', t.timeout_ms, t.backoff_ms, t.created_at, t.trace_context
      FROM unnest(picked) t WHERE NOT t.kind = ANY (kinds);
  END IF;
END $function$;

-- The claim of one queue: up to lim entries for worker w, one batch per lane. Tries the lanes from one
-- that depends on the session (so that claimers spread), each cursor row FOR UPDATE SKIP LOCKED; the
-- first lane is taken as it comes, the others only when they have work. Only when every lane is held
-- does a claim wait, for one (holding none, it cannot deadlock). Only entries of `kinds` (null: any).
CREATE OR REPLACE FUNCTION jobq.log_claim(q text, w text, lim integer, kinds text[], p_now timestamp with time zone)
 RETURNS SETOF jobq.log_claimed
 LANGUAGE plpgsql
AS $function$
DECLARE
  lanes int := jobq.log_lanes();
  first int := pg_backend_pid() % lanes;
  tried smallint[] := '{}';
  ln smallint;
  n int;
  got int := 0;
BEGIN
  -- Due entries join a later window (this claim's snapshot cannot see its own inserts): the queue's
  -- workers are told to claim again once this commits.
  IF EXISTS (SELECT FROM jobq.log_scheduled s WHERE s.queue = q AND s.run_at <= p_now) THEN
    PERFORM jobq.log_move_due(q, p_now);
    PERFORM pg_notify('jobq_jobs', q);
  END IF;
  WHILE got < lim LOOP
    SELECT c.lane INTO ln FROM jobq.log_cursor c
     WHERE c.queue = q AND NOT c.lane = ANY (tried) AND (cardinality(tried) = 0 OR jobq.log_lane_busy(q, c.lane))
     ORDER BY (c.lane - first + lanes) % lanes LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      EXIT WHEN cardinality(tried) > 0;
      SELECT c.lane INTO ln FROM jobq.log_cursor c WHERE c.queue = q ORDER BY (c.lane - first + lanes) % lanes LIMIT 1 FOR UPDATE;
      IF NOT FOUND THEN RETURN; END IF;
    END IF;
    tried := tried || ln;
    RETURN QUERY SELECT * FROM jobq.log_claim_lane(q, ln, w, least(lim - got, 1000), kinds, p_now);
    GET DIAGNOSTICS n = ROW_COUNT;
    got := got + n;
    EXIT WHEN cardinality(tried) >= lanes;
  END LOOP;
END $function$;

-- A worker's claim across both stores, one statement: the log's entries (one batch per lane of each
-- queue with a log, in name order, at most 1,000 entries a batch; their claim_seq is negative,
-- -(batch_id * 1024 + seq), and they start now), then what is left from the row store (jobq.claim,
-- whose cost on an empty row store is one index probe); the rows first when a runnable one has a
-- priority above the log's 0. The cursor (p_priority, p_after_*) applies to the rows only.
CREATE OR REPLACE FUNCTION jobq.claim_all(p_worker text, p_limit integer, p_queues text[], p_kinds text[], p_now timestamp with time zone, p_priority integer, p_after_run_at timestamp with time zone, p_after_id uuid, p_started integer, p_async boolean, p_exclude text[])
 RETURNS TABLE(id uuid, queue text, kind text, payload jsonb, priority integer, attempts integer, max_attempts integer, timeout_ms integer, backoff_ms integer, started_at_ms double precision, run_at_ms double precision, claim_seq double precision, trace_context jsonb, pos bigint)
 LANGUAGE plpgsql
 SET enable_bitmapscan TO 'off'
 SET enable_sort TO 'off'
 SET enable_seqscan TO 'off'
 SET jit TO 'off'
AS $function$
#variable_conflict use_column
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  q text;
  got int := 0;
  n int;
  -- The log's jobs have priority 0: runnable rows of a higher one go before them.
  rows_first boolean := EXISTS (
    SELECT FROM jobq.jobs j
     WHERE j.status IN ('queued', 'retrying') AND j.priority > 0 AND j.run_at <= v_now AND j.group_key IS NULL
       AND (p_queues IS NULL OR j.queue = ANY (p_queues)) AND (p_exclude IS NULL OR j.queue <> ALL (p_exclude))
       AND (p_kinds IS NULL OR j.kind = ANY (p_kinds)));
BEGIN
  IF p_async THEN PERFORM set_config('synchronous_commit', 'off', true); END IF;
  IF rows_first THEN
    RETURN QUERY
      SELECT j.id, j.queue, j.kind, j.payload, j.priority, j.attempts, j.max_attempts, j.timeout_ms, j.backoff_ms,
             (extract(epoch FROM j.started_at) * 1000)::float8, (extract(epoch FROM j.run_at) * 1000)::float8, j.claim_seq::float8, j.trace_context, NULL::bigint
        FROM jobq.claim(p_worker, p_limit, p_queues, p_kinds, p_now, p_priority, p_after_run_at, p_after_id, p_started, false, p_exclude) j;
    GET DIAGNOSTICS got = ROW_COUNT;
  END IF;
  IF got < p_limit THEN
    FOR q IN SELECT DISTINCT c.queue FROM jobq.log_cursor c
              WHERE (p_queues IS NULL OR c.queue = ANY (p_queues)) AND (p_exclude IS NULL OR c.queue <> ALL (p_exclude)) ORDER BY c.queue LOOP
      RETURN QUERY
        SELECT c.id, c.queue, c.kind, c.payload, 0, c.attempt, c.max_attempts, c.timeout_ms, c.backoff_ms,
               (extract(epoch FROM v_now) * 1000)::float8, (extract(epoch FROM c.run_at) * 1000)::float8,
               (-(c.batch_id * 1024 + c.seq))::float8, c.trace_context, c.pos
          FROM jobq.log_claim(q, p_worker, p_limit - got, p_kinds, v_now) c;
      GET DIAGNOSTICS n = ROW_COUNT;
      got := got + n;
      EXIT WHEN got >= p_limit;
    END LOOP;
  END IF;
  IF got < p_limit AND NOT rows_first THEN
    RETURN QUERY
      SELECT j.id, j.queue, j.kind, j.payload, j.priority, j.attempts, j.max_attempts, j.timeout_ms, j.backoff_ms,
             (extract(epoch FROM j.started_at) * 1000)::float8, (extract(epoch FROM j.run_at) * 1000)::float8, j.claim_seq::float8, j.trace_context, NULL::bigint
        FROM jobq.claim(p_worker, p_limit - got, p_queues, p_kinds, p_now, p_priority, p_after_run_at, p_after_id,
                        CASE WHEN p_started IS NULL THEN NULL ELSE greatest(p_started - got, 0) END, false, p_exclude) j;
  END IF;
END $function$;

-- Whether every entry of generation g has finished (retention archives it then), per lane and per
-- batch rather than per entry. The caller has made sure that no transaction can still insert with g.
CREATE OR REPLACE FUNCTION jobq.log_gen_finished(g integer)
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET enable_bitmapscan TO 'off'
 SET enable_sort TO 'off'
 SET enable_seqscan TO 'off'
AS $function$
  SELECT NOT EXISTS (SELECT FROM jobq.log_cursor c WHERE jobq.log_lane_busy(c.queue, c.lane, g))
     AND NOT EXISTS (
           SELECT FROM jobq.log_batch b
            WHERE b.lo_gen <= g AND b.lost_at IS NULL
              AND b.n > coalesce((SELECT sum(cardinality(d.pos)) FROM jobq.log_done d WHERE d.batch_id = b.batch_id), 0)
                        + (SELECT count(*) FROM jobq.log_fail f WHERE f.batch_id = b.batch_id))
$function$;

-- The entries of batch b that are unfinished (no done row, no fail row): what a recovery appends again.
CREATE OR REPLACE FUNCTION jobq.log_batch_open(b bigint)
 RETURNS SETOF jobq.log
 LANGUAGE sql
 STABLE
 SET enable_bitmapscan TO 'off'
 SET enable_sort TO 'off'
 SET enable_seqscan TO 'off'
AS $function$
  SELECT l.* FROM jobq.log_batch bt JOIN jobq.log_window w ON w.window_id = bt.window_id
    JOIN jobq.log l ON l.queue = bt.queue AND l.lane = w.lane AND (l.xid, l.pos) > (bt.lo_xid, bt.lo_pos) AND (l.xid, l.pos) <= (bt.hi_xid, bt.hi_pos)
   WHERE bt.batch_id = b
     AND pg_visible_in_snapshot(l.xid, w.cur) AND NOT pg_visible_in_snapshot(l.xid, w.prev)
     AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos)
     AND NOT EXISTS (SELECT FROM jobq.log_done d WHERE d.batch_id = b AND l.pos = ANY (d.pos))
$function$;

-- Jobs as their entries say, in the order of `ids` (ids with no entry give no row): each one's newest
-- entry (scheduled, else logged) and the derived status: queued (not in a batch yet, or scheduled for
-- attempt 1), retrying (scheduled for a later attempt), running (in a batch, no outcome), succeeded (in
-- a done row), or what its log_fail row says ('released' and 'lost' entries always have a newer one).
-- One plan for a whole page, its lookups as lateral joins; plpgsql so that the plan is kept.
CREATE OR REPLACE FUNCTION jobq.log_jobs(ids uuid[])
 RETURNS SETOF jobq.log_derived
 LANGUAGE plpgsql
 STABLE
 SET enable_bitmapscan TO 'off'
 SET enable_sort TO 'off'
 SET enable_seqscan TO 'off'
AS $function$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  SELECT e.id, e.queue, e.kind, e.payload,
         CASE WHEN e.scheduled THEN CASE WHEN e.attempt > 1 THEN 'retrying' ELSE 'queued' END
              WHEN f.status IS NOT NULL THEN f.status
              WHEN b.batch_id IS NULL THEN 'queued'
              WHEN d.finished_at IS NULL THEN 'running' ELSE 'succeeded' END,
         CASE WHEN e.scheduled OR (f.status = 'cancelled' AND f.batch_id IS NULL) OR (f.status IS NULL AND b.batch_id IS NULL) THEN e.attempt - 1
              WHEN f.status IS NOT NULL THEN f.attempt ELSE e.attempt END,
         e.max_attempts, e.run_at, e.timeout_ms, e.backoff_ms,
         CASE WHEN f.status IS NULL AND d.finished_at IS NULL THEN b.worker END,
         CASE WHEN f.status IS NULL AND d.finished_at IS NULL THEN b.locked_at END,
         d.result, e.created_at, coalesce(f.at, d.finished_at), e.pos, errs.errors,
         EXISTS (SELECT FROM jobq.log_cancel c WHERE c.id = e.id), (SELECT p.progress FROM jobq.log_progress p WHERE p.id = e.id), e.trace_context
    FROM unnest(ids) WITH ORDINALITY AS i(id, o)
    CROSS JOIN LATERAL (
      (SELECT true AS scheduled, sc.pos, NULL::xid8 AS xid, NULL::smallint AS lane, sc.id, sc.queue, sc.kind, sc.payload, sc.attempt,
              sc.max_attempts, sc.run_at, sc.timeout_ms, sc.backoff_ms, sc.created_at, sc.trace_context
         FROM jobq.log_scheduled sc WHERE sc.id = i.id LIMIT 1)
      UNION ALL
      (SELECT false, l.pos, l.xid, l.lane, l.id, l.queue, l.kind, l.payload, l.attempt, l.max_attempts, l.run_at, l.timeout_ms,
              l.backoff_ms, l.created_at, l.trace_context
         FROM jobq.log_all l WHERE l.id = i.id ORDER BY l.pos DESC LIMIT 1)
      LIMIT 1) e
    LEFT JOIN LATERAL (SELECT x.status, x.attempt, x.at, x.batch_id FROM jobq.log_fail_all x WHERE NOT e.scheduled AND x.pos = e.pos LIMIT 1) f ON true
    LEFT JOIN LATERAL (SELECT w.window_id FROM jobq.log_window w
                        WHERE NOT e.scheduled AND f.status IS NULL AND w.queue = e.queue AND w.lane = e.lane AND w.cur_xmax > e.xid
                          AND pg_visible_in_snapshot(e.xid, w.cur)
                        ORDER BY w.cur_xmax, w.window_id LIMIT 1) w ON true
    LEFT JOIN LATERAL (SELECT bt.batch_id, bt.worker, bt.locked_at FROM jobq.log_batch_all bt
                        WHERE bt.window_id = w.window_id AND (bt.hi_xid, bt.hi_pos) >= (e.xid, e.pos)
                        ORDER BY bt.hi_xid, bt.hi_pos LIMIT 1) b ON true
    LEFT JOIN LATERAL (SELECT dn.finished_at, dn.results -> (array_position(dn.pos, e.pos) - 1) AS result FROM jobq.log_done_all dn
                        WHERE dn.batch_id = b.batch_id AND e.pos = ANY (dn.pos) LIMIT 1) d ON true
    CROSS JOIN LATERAL (SELECT coalesce(jsonb_agg(jsonb_build_object('at', x.at, 'attempt', x.attempt, 'error', x.error) ORDER BY x.at), '[]') AS errors
                          FROM jobq.log_fail_all x WHERE x.id = e.id AND x.status IN ('retrying', 'failed_permanent', 'lost') AND x.error IS NOT NULL) errs
   ORDER BY i.o;
END $function$;

-- One job as jobq.log_jobs derives it, its statements run only as far as the job needs (a scheduled
-- or failed job stops early): 0.59 ms a GET against 0.86. The two must agree (the tests compare them).
CREATE OR REPLACE FUNCTION jobq.log_job(job uuid)
 RETURNS SETOF jobq.log_derived
 LANGUAGE plpgsql
 STABLE
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
  d_result jsonb;
  errs jsonb;
  cr boolean;
  pr jsonb;
BEGIN
  SELECT coalesce(jsonb_agg(jsonb_build_object('at', x.at, 'attempt', x.attempt, 'error', x.error) ORDER BY x.at), '[]') INTO errs
    FROM jobq.log_fail_all x WHERE x.id = job AND x.status IN ('retrying', 'failed_permanent', 'lost') AND x.error IS NOT NULL;
  cr := EXISTS (SELECT FROM jobq.log_cancel c WHERE c.id = job);
  SELECT p.progress INTO pr FROM jobq.log_progress p WHERE p.id = job;
  SELECT * INTO e FROM jobq.log_scheduled s WHERE s.id = job;
  IF FOUND THEN
    RETURN QUERY SELECT e.id, e.queue, e.kind, e.payload, CASE WHEN e.attempt > 1 THEN 'retrying' ELSE 'queued' END, e.attempt - 1,
      e.max_attempts, e.run_at, e.timeout_ms, e.backoff_ms, NULL::text, NULL::timestamptz, NULL::jsonb, e.created_at, NULL::timestamptz,
      e.pos, errs, cr, pr, e.trace_context;
    RETURN;
  END IF;
  SELECT * INTO e FROM jobq.log_all l WHERE l.id = job ORDER BY l.pos DESC LIMIT 1;
  IF NOT FOUND THEN RETURN; END IF;
  SELECT * INTO f FROM jobq.log_fail_all x WHERE x.pos = e.pos;
  IF FOUND THEN
    RETURN QUERY SELECT e.id, e.queue, e.kind, e.payload, f.status, CASE WHEN f.status = 'cancelled' AND f.batch_id IS NULL THEN e.attempt - 1 ELSE f.attempt END,
      e.max_attempts, e.run_at, e.timeout_ms, e.backoff_ms, NULL::text, NULL::timestamptz, NULL::jsonb, e.created_at, f.at, e.pos, errs, cr, pr,
      e.trace_context;
    RETURN;
  END IF;
  SELECT w.window_id INTO win FROM jobq.log_window w
   WHERE w.queue = e.queue AND w.lane = e.lane AND w.cur_xmax > e.xid AND pg_visible_in_snapshot(e.xid, w.cur)
   ORDER BY w.cur_xmax, w.window_id LIMIT 1;
  IF FOUND THEN
    SELECT * INTO b FROM jobq.log_batch_all bt WHERE bt.window_id = win AND (bt.hi_xid, bt.hi_pos) >= (e.xid, e.pos)
     ORDER BY bt.hi_xid, bt.hi_pos LIMIT 1;
  END IF;
  IF b.batch_id IS NULL THEN
    RETURN QUERY SELECT e.id, e.queue, e.kind, e.payload, 'queued'::text, e.attempt - 1, e.max_attempts, e.run_at, e.timeout_ms, e.backoff_ms,
      NULL::text, NULL::timestamptz, NULL::jsonb, e.created_at, NULL::timestamptz, e.pos, errs, cr, pr, e.trace_context;
    RETURN;
  END IF;
  SELECT dn.finished_at, dn.results -> (array_position(dn.pos, e.pos) - 1) INTO d_at, d_result
    FROM jobq.log_done_all dn WHERE dn.batch_id = b.batch_id AND e.pos = ANY (dn.pos) LIMIT 1;
  RETURN QUERY SELECT e.id, e.queue, e.kind, e.payload, CASE WHEN d_at IS NULL THEN 'running' ELSE 'succeeded' END, e.attempt,
    e.max_attempts, e.run_at, e.timeout_ms, e.backoff_ms, CASE WHEN d_at IS NULL THEN b.worker END,
    CASE WHEN d_at IS NULL THEN b.locked_at END, d_result, e.created_at, d_at, e.pos, errs, cr, pr, e.trace_context;
END $function$;

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
  WITH moved AS (DELETE FROM jobq.log_scheduled s WHERE s.id = job RETURNING s.*)
  INSERT INTO jobq.log (pos, id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at, trace_context)
  SELECT pos, id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at, trace_context FROM moved;
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

-- Drops archived generation g whole (its four partitions) and the windows no batch names any more.
-- Returns how many entries it held.
CREATE OR REPLACE FUNCTION jobq.log_drop(g integer)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
  n int;
  t text;
BEGIN
  EXECUTE format('SELECT count(*)::int FROM jobq.%I', 'log_g' || g) INTO n;
  FOREACH t IN ARRAY ARRAY['log', 'log_batch', 'log_done', 'log_fail'] LOOP
    EXECUTE format('DROP TABLE jobq.%I', t || '_g' || g);
  END LOOP;
  DELETE FROM jobq.log_gen WHERE gen = g;
  DELETE FROM jobq.log_window WHERE window_id < coalesce((SELECT min(window_id) FROM jobq.log_batch_all), 0);
  RETURN n;
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
         AND l.xid = ANY (ARRAY(SELECT x FROM pg_snapshot_xip(win.prev) x WHERE pg_visible_in_snapshot(x, win.cur)))
         AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos);
      d := d + n;
      o := least(o, m);
      SELECT count(*), min(l.run_at) INTO n, m FROM jobq.log l
       WHERE l.queue = q AND l.lane = ln AND l.xid = ANY (ARRAY(SELECT pg_snapshot_xip(win.cur)))
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
         AND l.xid = ANY (ARRAY(SELECT x FROM pg_snapshot_xip(win.prev) x WHERE pg_visible_in_snapshot(x, win.cur)))
         AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos);
      RETURN QUERY SELECT l.* FROM jobq.log l
       WHERE l.queue = q AND l.lane = ln AND l.xid = ANY (ARRAY(SELECT pg_snapshot_xip(win.cur)))
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
-- `moved` fail row; its cursor rows go (new jobs of q are rows: the enqueue routes by jobq.queues).
-- Jobs of q running from the log finish there. Under the cursor rows' locks: no claim takes an entry
-- meanwhile. Returns how many jobs moved.
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
      CROSS JOIN LATERAL (SELECT coalesce(jsonb_agg(jsonb_build_object('at', x.at, 'attempt', x.attempt, 'error', x.error) ORDER BY x.at), '[]') AS errors
                            FROM jobq.log_fail_all x WHERE x.id = w.id AND x.status IN ('retrying', 'failed_permanent', 'lost') AND x.error IS NOT NULL) e
    RETURNING 1
  )
  SELECT count(*) INTO n FROM made;
  DELETE FROM jobq.log_cursor c WHERE c.queue = q;
  IF n > 0 THEN PERFORM pg_notify('jobq_jobs', q); END IF;
  RETURN n;
END $function$;
