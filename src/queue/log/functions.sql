-- The log store's claims, transitions and generations (migrations/0019_log.sql has its tables and what
-- each holds; jobs.sql beside this file, the jobs as the API sees them; docs/design/storage.md, the
-- design). Applied with src/queue/functions.sql after the migrations, as one file, and written as that
-- file is (each definition as pg_get_functiondef prints it).

-- How many lanes each queue's log has: claims of one queue run in parallel, one per lane. (Also in
-- migrations/0019, whose defaults call it.)
CREATE OR REPLACE FUNCTION jobq.log_lanes()
 RETURNS integer
 LANGUAGE sql
 IMMUTABLE
AS $function$ SELECT 4 $function$;

-- The generation inserts go to: the newest. (Also in migrations/0019, whose defaults call it.)
-- plpgsql, whose plan a session keeps: as a SQL function, every statement that inserted a row planned
-- it again (70 µs a statement, measured: an enqueue, a claim and a completion each pay it).
CREATE OR REPLACE FUNCTION jobq.log_current_gen()
 RETURNS integer
 LANGUAGE plpgsql
 STABLE
AS $function$ BEGIN RETURN (SELECT max(g.gen) FROM jobq.log_gen g); END $function$;

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
CREATE OR REPLACE FUNCTION jobq.log_archive(g integer, p_now timestamp with time zone)
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
  UPDATE jobq.log_gen SET archived = true, archived_at = p_now WHERE gen = g;
END $function$;

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
  -- The transactions in progress at either snapshot, each looked up by its xid (a probe per
  -- transaction, however many entries the lane holds).
  -- (LIMIT 1 keeps each lookup a nested probe: as a semi-join the planner may hash the whole lane.)
  RETURN EXISTS (SELECT FROM pg_snapshot_xip(win.prev) x
                  CROSS JOIN LATERAL (SELECT FROM jobq.log l
                                       WHERE l.queue = q AND l.lane = ln AND l.xid = x AND (l.xid, l.pos) > (hx, hp)
                                         AND (g IS NULL OR l.gen = g) AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos) LIMIT 1) y
                  WHERE pg_visible_in_snapshot(x, win.cur) AND x >= hx)
      OR EXISTS (SELECT FROM pg_snapshot_xip(win.cur) x
                  CROSS JOIN LATERAL (SELECT FROM jobq.log l
                                       WHERE l.queue = q AND l.lane = ln AND l.xid = x
                                         AND (g IS NULL OR l.gen = g) AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos) LIMIT 1) y);
END $function$;

-- One lane's claim: up to lim entries of queue q's lane ln for worker w, as one batch, the lane's cursor
-- row locked by the caller. Continues the lane's newest window; when it is exhausted, opens the next
-- (prev = its cur, cur = now's snapshot), written only when it holds entries. seq: the entry's place in
-- the batch. Entries of a kind not in `kinds` (a worker without its handler) are given back at once: a
-- `released` fail row and the same attempt scheduled again a second later, for a worker that has it.
-- The first p_started entries it returns start now (NULL: all); the batch records how many by seq
-- (migrations/0021), so that losing the worker gives the others their attempt back.
CREATE OR REPLACE FUNCTION jobq.log_claim_lane(q text, ln smallint, w text, lim integer, kinds text[], p_now timestamp with time zone, p_started integer)
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
  INSERT INTO jobq.log_batch (batch_id, queue, window_id, lo_xid, lo_pos, hi_xid, hi_pos, n, worker, locked_at, claimed_at, lo_gen, started)
  VALUES (bid, q, win.window_id, hx, hp, picked[cardinality(picked)].xid, picked[cardinality(picked)].pos, cardinality(picked), w, p_now, p_now,
          (SELECT min(t.gen) FROM unnest(picked) t),
          CASE WHEN p_started IS NULL OR p_started >= cardinality(picked) THEN NULL
               WHEN p_started <= 0 THEN 0
               WHEN kinds IS NULL THEN p_started
               ELSE (SELECT coalesce(max(x.o), 0) FROM (SELECT t.o FROM unnest(picked) WITH ORDINALITY AS t(gen, pos, xid, id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at, trace_context, lane, o)
                                                          WHERE t.kind = ANY (kinds) ORDER BY t.o LIMIT p_started) x) END);
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
-- that depends on the session (so that claimers spread), each cursor row FOR UPDATE SKIP LOCKED, and
-- only lanes with work (jobq.log_lane_busy: an idle claim opens no window on an empty lane). Only when
-- every lane with work is held does a claim wait, for one (holding none, it cannot deadlock). Only
-- entries of `kinds` (null: any). The first p_started entries it returns start now (NULL: all).
CREATE OR REPLACE FUNCTION jobq.log_claim(q text, w text, lim integer, kinds text[], p_now timestamp with time zone, p_started integer)
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
  busy smallint[];
BEGIN
  -- The lanes with work, found once (an idle queue costs a claim no more than this).
  busy := ARRAY(SELECT c.lane FROM jobq.log_cursor c WHERE c.queue = q AND jobq.log_lane_busy(q, c.lane));
  IF cardinality(busy) = 0 THEN
    -- A queue with entries and no cursor rows (no policy took them: an enqueue routed a job to the log
    -- while the sweep found the queue quiet and took them, log/busy.ts): made again, and looked at again.
    IF NOT EXISTS (SELECT FROM jobq.log_cursor c WHERE c.queue = q) AND NOT EXISTS (SELECT FROM jobq.queues p WHERE p.name = q) THEN
      INSERT INTO jobq.log_cursor (queue, lane) SELECT q, l FROM generate_series(0, lanes - 1) l ON CONFLICT DO NOTHING;
      busy := ARRAY(SELECT c.lane FROM jobq.log_cursor c WHERE c.queue = q AND jobq.log_lane_busy(q, c.lane));
    END IF;
    IF cardinality(busy) = 0 THEN RETURN; END IF;
  END IF;
  WHILE got < lim LOOP
    SELECT c.lane INTO ln FROM jobq.log_cursor c
     WHERE c.queue = q AND c.lane = ANY (busy) AND NOT c.lane = ANY (tried)
     ORDER BY (c.lane - first + lanes) % lanes LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      EXIT WHEN cardinality(tried) > 0;
      -- Every lane with work is held by another claim: wait for one, holding none.
      SELECT c.lane INTO ln FROM jobq.log_cursor c WHERE c.queue = q AND c.lane = ANY (busy)
       ORDER BY (c.lane - first + lanes) % lanes LIMIT 1 FOR UPDATE;
      IF NOT FOUND THEN RETURN; END IF;
    END IF;
    tried := tried || ln;
    RETURN QUERY SELECT * FROM jobq.log_claim_lane(q, ln, w, least(lim - got, 1000), kinds, p_now, CASE WHEN p_started IS NULL THEN NULL ELSE greatest(p_started - got, 0) END);
    GET DIAGNOSTICS n = ROW_COUNT;
    got := got + n;
    EXIT WHEN cardinality(tried) >= lanes;
  END LOOP;
END $function$;

-- A worker's claim across both stores, one statement: the log's entries (one batch per lane of each
-- queue with a log, at most 1,000 entries a batch; their claim_seq is negative,
-- -(batch_id * 1024 + seq)), then what is left from the row store (jobq.claim,
-- whose cost on an empty row store is one index probe); the rows first when a runnable one has a
-- priority above the log's 0. Runnable rows of priority 0 share the claim with the log: up to half of
-- it goes to them first (one claim in two, for a claim of one job), so that a backlog in either store
-- does not starve the other. The log's queues are taken in an order drawn for each claim, so that one
-- queue's backlog does not starve the others. The cursor (p_priority, p_after_*) applies to the rows
-- only. The first p_started jobs it returns start now (NULL: all), the rest wait in the worker's buffer.
-- A claim that moved a queue's due scheduled entries into the log ends with a row of nulls.
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
  moved boolean := false;
  hint_at float8;
  idle text[] := '{}';
  was text[];
  empty text[] := '{}';
  gave text[] := '{}';
  -- The session's idle hint's setting, one per installation (a setting's name cannot hold a quoted
  -- schema name, so it names the schema by its log table's oid).
  hint_name text := 'jobq_claim.idle_' || 'jobq.log'::regclass::oid;
  -- The log's jobs have priority 0: runnable rows of a higher one go before them, of 0 share with them.
  top int := (
    SELECT j.priority FROM jobq.jobs j
     WHERE j.status IN ('queued', 'retrying') AND j.run_at <= v_now AND j.group_key IS NULL
       AND (p_queues IS NULL OR j.queue = ANY (p_queues)) AND (p_exclude IS NULL OR j.queue <> ALL (p_exclude))
       AND (p_kinds IS NULL OR j.kind = ANY (p_kinds))
     ORDER BY j.priority DESC LIMIT 1);
  rows_first boolean := top > 0;
  share int := CASE WHEN top = 0 THEN CASE WHEN p_limit > 1 THEN (p_limit + 1) / 2 WHEN random() < 0.5 THEN 1 ELSE 0 END ELSE 0 END;
BEGIN
  IF p_async THEN PERFORM set_config('synchronous_commit', 'off', true); END IF;
  IF rows_first OR share > 0 THEN
    RETURN QUERY
      SELECT j.id, j.queue, j.kind, j.payload, j.priority, j.attempts, j.max_attempts, j.timeout_ms, j.backoff_ms,
             (extract(epoch FROM j.started_at) * 1000)::float8, (extract(epoch FROM j.run_at) * 1000)::float8, j.claim_seq::float8, j.trace_context, NULL::bigint
        FROM jobq.claim(p_worker, CASE WHEN rows_first THEN p_limit ELSE share END, p_queues, p_kinds, p_now, p_priority, p_after_run_at, p_after_id,
                        p_started, false, p_exclude) j;
    GET DIAGNOSTICS got = ROW_COUNT;
  END IF;
  IF got < p_limit THEN
    -- The queues with entries in the hot generations or scheduled ones (a queue idle since its jobs'
    -- generation was archived costs nothing), each found by one index probe, in an order drawn for
    -- each claim; those this session found empty in the last second after the others (hint_name:
    -- '<epoch ms> <queues>'), so that a claim looks at idle queues once a second, not every time.
    hint_at := nullif(split_part(current_setting(hint_name, true), ' ', 1), '')::float8;
    IF hint_at IS NOT NULL AND extract(epoch FROM v_now) * 1000 - hint_at BETWEEN 0 AND 1000 THEN
      idle := substr(current_setting(hint_name, true), length(split_part(current_setting(hint_name, true), ' ', 1)) + 2)::text[];
    ELSE
      hint_at := extract(epoch FROM v_now) * 1000;
    END IF;
    was := idle;
    FOR q IN WITH RECURSIVE hot(q) AS (
                 (SELECT l.queue FROM jobq.log l ORDER BY l.queue LIMIT 1)
                 UNION ALL
                 SELECT (SELECT l.queue FROM jobq.log l WHERE l.queue > hot.q ORDER BY l.queue LIMIT 1) FROM hot WHERE hot.q IS NOT NULL
               ), later(q) AS (
                 (SELECT s.queue FROM jobq.log_scheduled s ORDER BY s.queue LIMIT 1)
                 UNION ALL
                 SELECT (SELECT s.queue FROM jobq.log_scheduled s WHERE s.queue > later.q ORDER BY s.queue LIMIT 1) FROM later WHERE later.q IS NOT NULL
               )
             SELECT c.q FROM (SELECT hot.q FROM hot UNION SELECT later.q FROM later) c
               LEFT JOIN (SELECT DISTINCT u.q FROM unnest(idle) AS u(q)) i ON i.q = c.q
              WHERE c.q IS NOT NULL AND (p_queues IS NULL OR c.q = ANY (p_queues)) AND (p_exclude IS NULL OR c.q <> ALL (p_exclude))
              ORDER BY i.q IS NOT NULL, random() LOOP
      -- Due entries join a later window (this claim's snapshot cannot see its own inserts): the queue's
      -- workers are told to claim again once this commits, and so is the caller (below).
      IF EXISTS (SELECT FROM jobq.log_scheduled s WHERE s.queue = q AND s.run_at <= v_now) THEN
        PERFORM jobq.log_move_due(q, v_now);
        PERFORM pg_notify('jobq_jobs', q);
        moved := true;
      END IF;
      RETURN QUERY
        SELECT c.id, c.queue, c.kind, c.payload, 0, c.attempt, c.max_attempts, c.timeout_ms, c.backoff_ms,
               CASE WHEN p_started IS NULL OR got + c.o <= p_started THEN (extract(epoch FROM v_now) * 1000)::float8 END,
               (extract(epoch FROM c.run_at) * 1000)::float8, (-(c.batch_id * 1024 + c.seq))::float8, c.trace_context, c.pos
          FROM jobq.log_claim(q, p_worker, p_limit - got, p_kinds, v_now, CASE WHEN p_started IS NULL THEN NULL ELSE greatest(p_started - got, 0) END)
               WITH ORDINALITY AS c(batch_id, seq, pos, id, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, trace_context, o);
      GET DIAGNOSTICS n = ROW_COUNT;
      got := got + n;
      IF n = 0 THEN empty := empty || q; ELSE gave := gave || q; END IF;
      EXIT WHEN got >= p_limit;
    END LOOP;
    -- The idle set, in one pass (a membership test per queue was quadratic: 5.6 s at 10,000 queues),
    -- at most 1,000 of them (beyond, a claim looks at the rest in any order).
    IF cardinality(empty) > 0 OR cardinality(gave) > 0 THEN
      idle := ARRAY(SELECT x.q FROM (SELECT unnest(idle) AS q UNION SELECT unnest(empty) EXCEPT SELECT unnest(gave)) x LIMIT 1000);
    END IF;
    IF idle IS DISTINCT FROM was THEN PERFORM set_config(hint_name, hint_at::text || ' ' || idle::text, false); END IF;
  END IF;
  IF got < p_limit AND NOT rows_first THEN
    RETURN QUERY
      SELECT j.id, j.queue, j.kind, j.payload, j.priority, j.attempts, j.max_attempts, j.timeout_ms, j.backoff_ms,
             (extract(epoch FROM j.started_at) * 1000)::float8, (extract(epoch FROM j.run_at) * 1000)::float8, j.claim_seq::float8, j.trace_context, NULL::bigint
        FROM jobq.claim(p_worker, p_limit - got, p_queues, p_kinds, p_now, p_priority, p_after_run_at, p_after_id,
                        CASE WHEN p_started IS NULL THEN NULL ELSE greatest(p_started - got, 0) END, false, p_exclude) j;
  END IF;
  -- A row of nulls: entries became due here, which a claim after this one's commit takes.
  IF moved THEN
    RETURN QUERY SELECT NULL::uuid, NULL::text, NULL::text, NULL::jsonb, NULL::int, NULL::int, NULL::int, NULL::int, NULL::int, NULL::float8,
                        NULL::float8, NULL::float8, NULL::jsonb, NULL::bigint;
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
            WHERE b.lo_gen <= g AND b.gen >= g AND b.lost_at IS NULL
              AND b.n > coalesce((SELECT sum(cardinality(d.pos)) FROM jobq.log_done d WHERE d.batch_id = b.batch_id), 0)
                        + (SELECT count(*) FROM jobq.log_fail f WHERE f.batch_id = b.batch_id))
$function$;

-- The entries of batch b that are unfinished (no done row, no fail row of its own): what a recovery
-- appends again. (Its window function needs a sort that enable_sort off prices at 1e10: without jit
-- off, every call compiled some 70 functions, 0.7 s each, and stats took 90 s with 129 open batches.) seq: the entry's place in the batch, as its claim numbered it (entries cancelled
-- before the claim, whose fail rows name no batch, were skipped by it and are not counted).
CREATE OR REPLACE FUNCTION jobq.log_batch_open(b bigint)
 RETURNS TABLE(seq integer, gen integer, pos bigint, xid xid8, id uuid, first boolean, queue text, kind text, payload jsonb, attempt integer, max_attempts integer, run_at timestamp with time zone, timeout_ms integer, backoff_ms integer, created_at timestamp with time zone, trace_context jsonb, lane smallint)
 LANGUAGE sql
 STABLE
 SET enable_bitmapscan TO 'off'
 SET enable_sort TO 'off'
 SET enable_seqscan TO 'off'
 SET jit TO 'off'
AS $function$
  SELECT x.* FROM (
    SELECT (row_number() OVER (ORDER BY l.xid, l.pos) - 1)::int AS seq, l.*
      FROM jobq.log_batch bt JOIN jobq.log_window w ON w.window_id = bt.window_id
      JOIN jobq.log l ON l.queue = bt.queue AND l.lane = w.lane AND (l.xid, l.pos) > (bt.lo_xid, bt.lo_pos) AND (l.xid, l.pos) <= (bt.hi_xid, bt.hi_pos)
     WHERE bt.batch_id = b
       AND pg_visible_in_snapshot(l.xid, w.cur) AND NOT pg_visible_in_snapshot(l.xid, w.prev)
       AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos AND f.batch_id IS NULL)
  ) x
   WHERE NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = x.pos)
     AND NOT EXISTS (SELECT FROM jobq.log_done d WHERE d.batch_id = b AND x.pos = ANY (d.pos))
$function$;

-- The place in batch b of its entry at (e_xid, e_pos), as jobq.log_batch_open numbers them (the
-- entries of its slice before it, those cancelled before the claim not counted): a running log job's
-- claim is -(b * 1024 + seq), and it started with its claim when seq < the batch's `started`
-- (migrations/0021; NULL: all did).
CREATE OR REPLACE FUNCTION jobq.log_seq(b bigint, e_xid xid8, e_pos bigint)
 RETURNS integer
 LANGUAGE sql
 STABLE
 SET enable_bitmapscan TO 'off'
 SET enable_sort TO 'off'
 SET enable_seqscan TO 'off'
AS $function$
  SELECT (SELECT count(*) FROM jobq.log l
           WHERE l.queue = bt.queue AND l.lane = w.lane AND (l.xid, l.pos) > (bt.lo_xid, bt.lo_pos) AND (l.xid, l.pos) < (e_xid, e_pos)
             AND pg_visible_in_snapshot(l.xid, w.cur) AND NOT pg_visible_in_snapshot(l.xid, w.prev)
             AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos AND f.batch_id IS NULL))::int
    FROM jobq.log_batch_all bt JOIN jobq.log_window w ON w.window_id = bt.window_id
   WHERE bt.batch_id = b
$function$;

-- Drops archived generations `gens` whole (their four partitions each), the cancel requests and
-- progress of jobs that had no entry after them, and the windows no batch names any more, in one call
-- (a retention sweep drops a day of generations at once: each statement over the history is planned
-- once, with the generations as constants). Their finished jobs that a status keeps longer than the
-- generations were kept (`keep`: {status: milliseconds after finishing, or null for ever}) become
-- finished rows first, as the log derived them, to be pruned as rows at their own time (jobs whose
-- newest entry is in them; one that went on in a later generation goes with that one). The ended ones
-- among them are found by their fail rows, written while a generation took entries (created_at to
-- archived_at), so that the usual retention reads only the fail rows of that time. Returns how many
-- entries they held.
CREATE OR REPLACE FUNCTION jobq.log_drop(gens integer[], keep jsonb, p_now timestamp with time zone)
 RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
  n int := 0;
  c int;
  t text;
  g int;
  lo int := (SELECT min(x) FROM unnest(gens) x);
  ids uuid[];
  these text := format('%L::int[]', gens);
BEGIN
  IF lo IS NULL THEN RETURN 0; END IF;
  IF keep IS NOT NULL AND keep <> '{}' THEN
    EXECUTE format(
      'SELECT array_agg(DISTINCT c.id) FROM (
         SELECT f.id FROM jobq.log_fail_all f JOIN jobq.log_gen gn ON gn.gen = ANY (%1$s)
          WHERE f.gen >= %2$s AND f.status IN (''failed_permanent'', ''cancelled'') AND $1 ? f.status
            AND f.at >= gn.created_at AND f.at <= coalesce(gn.archived_at, $2)
         UNION ALL
         SELECT l.id FROM jobq.log_all l WHERE l.gen = ANY (%1$s) AND $1 ? ''succeeded'') c', these, lo)
      INTO ids USING keep, p_now;
    EXECUTE format(
      'INSERT INTO jobq.jobs (id, queue, kind, payload, status, attempts, max_attempts, run_at, timeout_ms, backoff_ms, trace_context, errors,
                              last_error, result, progress, created_at, updated_at, started_at, finished_at)
       SELECT d.id, d.queue, d.kind, d.payload, d.status::jobq.job_status, d.attempts, d.max_attempts, d.run_at, d.timeout_ms, d.backoff_ms,
              d.trace_context, d.errors, d.errors -> -1 ->> ''error'', d.result, CASE WHEN d.status = ''succeeded'' THEN d.progress END,
              d.created_at, d.finished_at, d.started_at, d.finished_at
         FROM jobq.log_jobs($3) d
        WHERE $1 ? d.status
          AND ($1 ->> d.status IS NULL OR d.finished_at >= $2 - ($1 ->> d.status)::bigint * interval ''1 ms'')
          AND EXISTS (SELECT FROM jobq.log_all l WHERE l.gen = ANY (%1$s) AND l.id = d.id AND l.pos = d.pos)
       ON CONFLICT (id) DO NOTHING', these)
      USING keep, p_now, ids;
  END IF;
  EXECUTE format(
    'DELETE FROM jobq.log_cancel c
      WHERE EXISTS (SELECT FROM jobq.log_all l WHERE l.id = c.id AND l.gen = ANY (%1$s))
        AND NOT EXISTS (SELECT FROM jobq.log_all l WHERE l.id = c.id AND l.gen > %2$s AND NOT l.gen = ANY (%1$s))
        AND NOT EXISTS (SELECT FROM jobq.log_scheduled s WHERE s.id = c.id)', these, lo);
  EXECUTE format(
    'DELETE FROM jobq.log_progress p
      WHERE EXISTS (SELECT FROM jobq.log_all l WHERE l.id = p.id AND l.gen = ANY (%1$s))
        AND NOT EXISTS (SELECT FROM jobq.log_all l WHERE l.id = p.id AND l.gen > %2$s AND NOT l.gen = ANY (%1$s))
        AND NOT EXISTS (SELECT FROM jobq.log_scheduled s WHERE s.id = p.id)', these, lo);
  FOREACH g IN ARRAY gens LOOP
    EXECUTE format('SELECT count(*)::int FROM jobq.%I', 'log_g' || g) INTO c;
    n := n + c;
    FOREACH t IN ARRAY ARRAY['log', 'log_batch', 'log_done', 'log_fail'] LOOP
      EXECUTE format('DROP TABLE jobq.%I', t || '_g' || g);
    END LOOP;
  END LOOP;
  DELETE FROM jobq.log_gen WHERE gen = ANY (gens);
  DELETE FROM jobq.log_window WHERE window_id < coalesce((SELECT min(window_id) FROM jobq.log_batch_all), 0);
  RETURN n;
END $function$;
