-- Candidate `log` of the storage study (issue #22; README.md beside this file): append-only jobs with
-- their state derived, in the PgQ lineage. Applied after jobq's migrate(); jobq's own tables stay but
-- are not used for jobs.
--
-- A job is only ever INSERTed into jobq.log (one row per attempt: a retry, a release or a recovery
-- appends a new entry of the same id). A claim, serialised on the queue's cursor row (FOR UPDATE, no
-- update), takes the entries of the queue's current WINDOW, the transactions committed between two
-- snapshots (PgQ's rule: xid visible in `cur`, not in `prev`), in (xid, pos) order, in slices of at most
-- `lim`, and INSERTs one jobq.log_batch row naming the slice: (window, from (xid, pos) exclusive, to
-- (xid, pos) inclusive, worker, locked_at). A completion INSERTs one jobq.log_done row per claim batch
-- it covers (the positions done); a failure, cancellation, release or loss one jobq.log_fail row per
-- entry. A queue's log is split into LANES (jobq.log_lanes(); an entry's lane is drawn at random), each with
-- its own cursor row and windows: a claim takes the first lane it can lock (SKIP LOCKED), so claims of
-- one queue run in parallel, each reading its lane in order. Delayed jobs and retries wait in jobq.log_scheduled (the one table rows are deleted from) and
-- are moved into the log when due, by the claim. Only priority 0.
--
-- Retention: jobq.log, log_batch, log_done and log_fail are partitioned by generation (`gen`);
-- jobq.log_rotate() attaches a new generation (ShareUpdateExclusive on the parents). The hot path
-- reads only these four parents, and every partition under them is one more for each of its statements
-- to open and probe: so a generation all of whose entries are finished is ARCHIVED (jobq.log_archive:
-- its four partitions detached and attached under the history parents jobq.log_old, log_batch_old,
-- log_done_old, log_fail_old), and the hot parents keep the current generation and the few with
-- unfinished entries, whatever the retention keeps. Reads look in both (the *_all views). Retention
-- drops archived generations whose entries all finished before the cutoff (retention.ts).

-- The log store jobq adopted from this prototype (migrations/0019_log.sql, src/queue/log/) has the
-- same names: the prototype's own definitions, as the study measured them, replace it here.
DROP TABLE IF EXISTS jobq.log, jobq.log_old, jobq.log_batch, jobq.log_batch_old, jobq.log_done, jobq.log_done_old, jobq.log_fail,
  jobq.log_fail_old, jobq.log_scheduled, jobq.log_cursor, jobq.log_window, jobq.log_cancel, jobq.log_progress, jobq.log_sweep,
  jobq.log_gen CASCADE;
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_proc p WHERE p.pronamespace = 'jobq'::regnamespace AND (p.proname LIKE 'log\_%' OR p.proname = 'claim_all') LOOP
    EXECUTE format('DROP FUNCTION %s CASCADE', f);
  END LOOP;
END $$;
DROP TYPE IF EXISTS jobq.log_derived, jobq.log_claimed CASCADE;
DROP SEQUENCE IF EXISTS jobq.log_pos_seq, jobq.log_batch_seq, jobq.log_window_seq;

CREATE SEQUENCE jobq.log_pos_seq;
CREATE SEQUENCE jobq.log_batch_seq;
CREATE SEQUENCE jobq.log_window_seq;

-- One row per generation; the newest is where inserts go. rotated_xid: the transaction that made it
-- current (a generation is dropped only once every transaction up to it has ended).
CREATE TABLE jobq.log_gen (
  gen int PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  rotated_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  archived boolean NOT NULL DEFAULT false,
  -- When it was archived: every entry of it had finished by then, so retention drops it by this time
  -- (a sweep's interval later than its last outcome, at most) rather than by reading its outcomes.
  archived_at timestamptz
);

-- A time-ordered (version 7 layout) uuid made by the server: for bulk seeds and pgbench, where the
-- client would make one (src/queue/ids.ts).
CREATE FUNCTION jobq.log_uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING
           substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

-- How many lanes each queue's log has (a constant, folded into the insert's default; the bench's
-- JOBQ_LOG_LANES replaces it before any queue exists).
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
  run_at timestamptz NOT NULL DEFAULT now(),
  timeout_ms int,
  backoff_ms int,
  created_at timestamptz NOT NULL DEFAULT now(),
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
  created_at timestamptz NOT NULL
);
CREATE INDEX log_scheduled_due_idx ON jobq.log_scheduled (queue, run_at);
CREATE INDEX log_scheduled_id_idx ON jobq.log_scheduled (id);

-- A lane's claim cursor: only locked (FOR UPDATE), never updated; the position is the newest batch.
CREATE TABLE jobq.log_cursor (queue text NOT NULL, lane smallint NOT NULL, PRIMARY KEY (queue, lane));
CREATE FUNCTION jobq.log_add_queue(q text) RETURNS void LANGUAGE sql AS $$
  INSERT INTO jobq.log_cursor SELECT q, l FROM generate_series(0, jobq.log_lanes() - 1) l ON CONFLICT DO NOTHING
$$;
SELECT jobq.log_add_queue('default');

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
-- it); lost_at: recovered (its unfinished entries appended again).
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
  -- The oldest generation of its entries: retention finds the batches that took a generation's
  -- entries by this, and checks those batches, not each entry.
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
  finished_at timestamptz NOT NULL DEFAULT now()
) PARTITION BY LIST (gen);
CREATE INDEX log_done_batch_idx ON jobq.log_done (batch_id);

-- An entry that ended otherwise: failed (retrying, failed_permanent), cancelled before its claim,
-- released (given back unrun) or lost (its worker's lease lapsed). One row per entry.
CREATE TABLE jobq.log_fail (
  gen int NOT NULL DEFAULT jobq.log_current_gen(),
  pos bigint NOT NULL,
  id uuid NOT NULL,
  batch_id bigint,
  status text NOT NULL CHECK (status IN ('retrying', 'failed_permanent', 'cancelled', 'released', 'lost')),
  attempt int NOT NULL,
  error text,
  at timestamptz NOT NULL DEFAULT now()
) PARTITION BY LIST (gen);
CREATE INDEX log_fail_pos_idx ON jobq.log_fail (pos);
CREATE INDEX log_fail_id_idx ON jobq.log_fail (id, at);
CREATE INDEX log_fail_batch_idx ON jobq.log_fail (batch_id) WHERE batch_id IS NOT NULL;

-- Where recovery resumes: every batch up to `through` was examined once stale (index.ts, recoverStale).
CREATE TABLE jobq.log_sweep (through bigint NOT NULL);
INSERT INTO jobq.log_sweep VALUES (0);

-- The history parents: the archived generations (jobq.log_archive), the same columns and indexes.
CREATE TABLE jobq.log_old (LIKE jobq.log INCLUDING DEFAULTS) PARTITION BY LIST (gen);
CREATE INDEX log_old_window_idx ON jobq.log_old (queue, lane, xid, pos);
CREATE INDEX log_old_id_idx ON jobq.log_old (id, pos);
CREATE TABLE jobq.log_batch_old (LIKE jobq.log_batch INCLUDING DEFAULTS) PARTITION BY LIST (gen);
CREATE INDEX log_batch_old_id_idx ON jobq.log_batch_old (batch_id);
CREATE INDEX log_batch_old_slice_idx ON jobq.log_batch_old (window_id, hi_xid, hi_pos);
CREATE TABLE jobq.log_done_old (LIKE jobq.log_done INCLUDING DEFAULTS) PARTITION BY LIST (gen);
CREATE INDEX log_done_old_batch_idx ON jobq.log_done_old (batch_id);
CREATE TABLE jobq.log_fail_old (LIKE jobq.log_fail INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY LIST (gen);
CREATE INDEX log_fail_old_pos_idx ON jobq.log_fail_old (pos);
CREATE INDEX log_fail_old_id_idx ON jobq.log_fail_old (id, at);
CREATE INDEX log_fail_old_batch_idx ON jobq.log_fail_old (batch_id) WHERE batch_id IS NOT NULL;

-- What reads see: the hot generations and the archived ones.
CREATE VIEW jobq.log_all AS SELECT * FROM jobq.log UNION ALL SELECT * FROM jobq.log_old;
CREATE VIEW jobq.log_batch_all AS SELECT * FROM jobq.log_batch UNION ALL SELECT * FROM jobq.log_batch_old;
CREATE VIEW jobq.log_done_all AS SELECT * FROM jobq.log_done UNION ALL SELECT * FROM jobq.log_done_old;
CREATE VIEW jobq.log_fail_all AS SELECT * FROM jobq.log_fail UNION ALL SELECT * FROM jobq.log_fail_old;

-- Makes a new generation current: a partition of each generational table, attached (not created as
-- PARTITION OF, which would lock the parents exclusively), with a CHECK of its generation so that
-- attaching it under a history parent later need not scan it. Returns it.
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

-- Moves generation g out of the hot parents into the history ones (retention.ts decides when: every
-- entry finished, and no transaction that could still insert with g). DETACH takes the hot parents'
-- AccessExclusive lock for a moment (DETACH ... CONCURRENTLY would not, outside a transaction block).
CREATE FUNCTION jobq.log_archive(g int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['log', 'log_batch', 'log_done', 'log_fail'] LOOP
    EXECUTE format('ALTER TABLE jobq.%I DETACH PARTITION jobq.%I', t, t || '_g' || g);
    EXECUTE format('ALTER TABLE jobq.%I ATTACH PARTITION jobq.%I FOR VALUES IN (%s)', t || '_old', t || '_g' || g, g);
  END LOOP;
  UPDATE jobq.log_gen SET archived = true, archived_at = now() WHERE gen = g;
END $$;


-- Moves queue q's due scheduled entries into the log (in the caller's transaction: they join a later window).
CREATE FUNCTION jobq.log_move_due(q text) RETURNS void LANGUAGE sql AS $$
  WITH due AS (
    DELETE FROM jobq.log_scheduled s WHERE s.queue = q AND s.run_at <= now() RETURNING s.*
  )
  INSERT INTO jobq.log (pos, id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at)
  SELECT pos, id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at FROM due
$$;

-- Up to lim entries of queue q's lane ln in window (prev, cur) after (hx, hp), in (xid, pos) order, skipping
-- entries with a log_fail row (cancelled before their claim). PgQ's rule, as two index-ordered parts:
-- the xids in prev's in-progress list that cur sees (one scan each), then the xid range [prev.xmax, cur.xmax).
-- Its plans are pinned to index scans by its caller (jobq.log_claim's SET clauses), as jobq.claim's are:
-- generations without statistics (a new partition, a bulk insert not analysed yet) otherwise get an
-- Append and a sort of the whole window.
CREATE FUNCTION jobq.log_slice(q text, ln smallint, prev pg_snapshot, cur pg_snapshot, hx xid8, hp bigint, lim int)
RETURNS jobq.log[] LANGUAGE plpgsql STABLE AS $$
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
END $$;

-- One lane's claim: up to lim entries of queue q's lane ln for worker w, as one batch, the lane's cursor
-- row locked by the caller. Continues the lane's newest window; when it is exhausted, opens the next
-- (prev = its cur, cur = now's snapshot), written only when it holds entries. seq: the entry's place in
-- the batch (the claim's `claimSeq` is batch_id * 1024 + seq).
CREATE FUNCTION jobq.log_claim_lane(q text, ln smallint, w text, lim int)
RETURNS TABLE (batch_id bigint, seq int, pos bigint, id uuid, queue text, kind text, payload jsonb, attempt int,
               max_attempts int, run_at timestamptz, timeout_ms int, backoff_ms int)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
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
  VALUES (bid, q, win.window_id, hx, hp, picked[cardinality(picked)].xid, picked[cardinality(picked)].pos, cardinality(picked), w, now(),
          (SELECT min(t.gen) FROM unnest(picked) t));
  RETURN QUERY
    SELECT bid, (t.o - 1)::int, t.pos, t.id, t.queue, t.kind, t.payload, t.attempt, t.max_attempts, t.run_at, t.timeout_ms, t.backoff_ms
      FROM unnest(picked) WITH ORDINALITY AS t(gen, pos, xid, id, first, queue, kind, payload, attempt, max_attempts, run_at, timeout_ms, backoff_ms, created_at, lane, o);
END $$;

-- Whether lane ln of queue q holds entries (of generation g, or any) that no claim took and no cancel
-- ended: the rest of the lane's newest window W (after its newest batch: the in-progress xids of
-- W.prev that W.cur sees, and the xids from W.prev's xmax on), and what belongs to later windows (xids
-- W.cur saw in progress, and every later one). Entries of earlier windows (visible in W.prev) were all
-- claimed: a window is opened only when the one before is used up. A few index probes, cheaper than a
-- slice: a claim visits only lanes with work (an idle worker's claim asks for all its free slots, and
-- looked through every lane for them), and retention asks it of each lane before archiving g.
CREATE FUNCTION jobq.log_lane_busy(q text, ln smallint, g int DEFAULT NULL) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
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
    -- From W.prev's xmax on (what W's second part and later windows read), past the newest batch.
    IF hx < pg_snapshot_xmax(win.prev) THEN sx := pg_snapshot_xmax(win.prev); sp := -1; ELSE sx := hx; sp := hp; END IF;
  END IF;
  IF EXISTS (SELECT FROM jobq.log l WHERE l.queue = q AND l.lane = ln AND (l.xid, l.pos) > (sx, sp)
                AND (g IS NULL OR l.gen = g) AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos)) THEN
    RETURN true; -- the common answer under load, from one probe
  END IF;
  IF win.window_id IS NULL THEN RETURN false; END IF;
  -- W's first part (W.prev's in-progress xids that W.cur sees) past the newest batch, and the xids W.cur
  -- saw in progress: one index scan over an array of xids each (most are claims', with no entries).
  RETURN EXISTS (SELECT FROM jobq.log l
                  WHERE l.queue = q AND l.lane = ln AND (l.xid, l.pos) > (hx, hp)
                    AND l.xid = ANY (ARRAY(SELECT x FROM pg_snapshot_xip(win.prev) x WHERE pg_visible_in_snapshot(x, win.cur)))
                    AND (g IS NULL OR l.gen = g) AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos))
      OR EXISTS (SELECT FROM jobq.log l
                  WHERE l.queue = q AND l.lane = ln AND l.xid = ANY (ARRAY(SELECT pg_snapshot_xip(win.cur)))
                    AND (g IS NULL OR l.gen = g) AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos));
END $$;

-- Whether every entry of generation g has finished (retention.ts archives it then), per lane and per
-- batch rather than per entry: no lane of any queue holds an entry of g that no claim took
-- (jobq.log_lane_busy), and every batch that took one of g's entries (lo_gen <= g: older generations
-- are archived first, so no batch of theirs is open) has an outcome for each of its n entries (done
-- positions, fail rows; a batch recovery marked lost has them). The caller has made sure that no
-- transaction can still insert with g.
CREATE FUNCTION jobq.log_gen_finished(g int) RETURNS boolean LANGUAGE sql STABLE
SET enable_bitmapscan = off SET enable_sort = off SET enable_seqscan = off AS $$
  SELECT NOT EXISTS (SELECT FROM jobq.log_cursor c WHERE jobq.log_lane_busy(c.queue, c.lane, g))
     AND NOT EXISTS (
           SELECT FROM jobq.log_batch b
            WHERE b.lo_gen <= g AND b.lost_at IS NULL
              AND b.n > coalesce((SELECT sum(cardinality(d.pos)) FROM jobq.log_done d WHERE d.batch_id = b.batch_id), 0)
                        + (SELECT count(*) FROM jobq.log_fail f WHERE f.batch_id = b.batch_id))
$$;

-- The claim: up to lim entries of queue q for worker w, one batch per lane. Tries the lanes from one
-- that depends on the session (so that claimers spread), each cursor row FOR UPDATE SKIP LOCKED: a lane
-- another claim holds is passed over; lanes give batches until lim entries. Only when every lane is
-- held does a claim wait, for one (it holds none then, so it cannot deadlock), so that ten claimers on
-- four lanes queue up rather than spin. A short claim means that every lane it could lock is drained
-- (a lane held by another claim may still have entries: that claim's worker takes them).
CREATE FUNCTION jobq.log_claim(q text, w text, lim int, async boolean DEFAULT false)
RETURNS TABLE (batch_id bigint, seq int, pos bigint, id uuid, queue text, kind text, payload jsonb, attempt int,
               max_attempts int, run_at timestamptz, timeout_ms int, backoff_ms int)
LANGUAGE plpgsql
-- The plans of everything it calls (the lane check, the slice) are pinned to index scans here, once per
-- claim, not by a SET clause on each of them (which sets and restores the GUCs on every call).
SET enable_bitmapscan = off SET enable_sort = off SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
  lanes int := jobq.log_lanes();
  first int := pg_backend_pid() % lanes;
  tried smallint[] := '{}';
  ln smallint;
  n int;
  got int := 0;
BEGIN
  IF lim < 1 OR lim > 1000 THEN RAISE EXCEPTION 'log prototype: a claim takes 1..1000 jobs'; END IF;
  -- As jobq.claim (migration 0008): a claim that is its caller's whole transaction commits without
  -- waiting for the flush (a claim lost in a crash is claimed again; the durable completion flushes it
  -- first). SET LOCAL: it outlasts this function's own SET clauses.
  IF async THEN PERFORM set_config('synchronous_commit', 'off', true); END IF;
  IF EXISTS (SELECT FROM jobq.log_scheduled s WHERE s.queue = q AND s.run_at <= now()) THEN PERFORM jobq.log_move_due(q); END IF;
  WHILE got < lim LOOP
    -- The first lane is taken as it comes (under load it fills the claim); the others only if they
    -- have work (jobq.log_lane_busy), so that a claim with room left does not read drained lanes.
    SELECT c.lane INTO ln FROM jobq.log_cursor c
     WHERE c.queue = q AND NOT c.lane = ANY (tried) AND (cardinality(tried) = 0 OR jobq.log_lane_busy(q, c.lane))
     ORDER BY (c.lane - first + lanes) % lanes LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      EXIT WHEN cardinality(tried) > 0;
      -- Every lane is held by another claim: wait for one (holding none, this claim cannot deadlock).
      SELECT c.lane INTO ln FROM jobq.log_cursor c WHERE c.queue = q ORDER BY (c.lane - first + lanes) % lanes LIMIT 1 FOR UPDATE;
      IF NOT FOUND THEN RETURN; END IF;
    END IF;
    tried := tried || ln;
    RETURN QUERY SELECT * FROM jobq.log_claim_lane(q, ln, w, lim - got);
    GET DIAGNOSTICS n = ROW_COUNT;
    got := got + n;
  END LOOP;
END $$;

-- The claim across queues: one batch per queue (qs, or every queue with a cursor; not those in ex), in
-- name order, until lim jobs.
CREATE FUNCTION jobq.log_claim_any(qs text[], ex text[], w text, lim int, async boolean DEFAULT false)
RETURNS TABLE (batch_id bigint, seq int, pos bigint, id uuid, queue text, kind text, payload jsonb, attempt int,
               max_attempts int, run_at timestamptz, timeout_ms int, backoff_ms int)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  q text;
  got int := 0;
  n int;
BEGIN
  FOR q IN SELECT DISTINCT c.queue FROM jobq.log_cursor c WHERE (qs IS NULL OR c.queue = ANY (qs)) AND NOT c.queue = ANY (ex) ORDER BY c.queue LOOP
    RETURN QUERY SELECT * FROM jobq.log_claim(q, w, lim - got, async);
    GET DIAGNOSTICS n = ROW_COUNT;
    got := got + n;
    EXIT WHEN got >= lim;
  END LOOP;
END $$;

-- The entries of batch b that are unfinished (no done row, no fail row): what a recovery appends again.
CREATE FUNCTION jobq.log_batch_open(b bigint) RETURNS SETOF jobq.log LANGUAGE sql STABLE SET enable_bitmapscan = off SET enable_sort = off SET enable_seqscan = off AS $$
  SELECT l.* FROM jobq.log_batch bt JOIN jobq.log_window w ON w.window_id = bt.window_id
    JOIN jobq.log l ON l.queue = bt.queue AND l.lane = w.lane AND (l.xid, l.pos) > (bt.lo_xid, bt.lo_pos) AND (l.xid, l.pos) <= (bt.hi_xid, bt.hi_pos)
   WHERE bt.batch_id = b
     AND pg_visible_in_snapshot(l.xid, w.cur) AND NOT pg_visible_in_snapshot(l.xid, w.prev)
     AND NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos)
     AND NOT EXISTS (SELECT FROM jobq.log_done d WHERE d.batch_id = b AND l.pos = ANY (d.pos))
$$;

-- A job as jobq.log_jobs and jobq.log_job derive it.
CREATE TYPE jobq.log_derived AS (id uuid, queue text, kind text, payload jsonb, status text, attempts int, max_attempts int,
  run_at timestamptz, timeout_ms int, backoff_ms int, locked_by text, locked_at timestamptz, claim_seq bigint, result jsonb,
  created_at timestamptz, finished_at timestamptz, pos bigint, errors jsonb);

-- Jobs as their entries say, in the order of `ids` (ids with no entry give no row): each one's newest
-- entry (scheduled, else logged) and the derived status. status: queued (not in a batch yet, or
-- scheduled for attempt 1), retrying (scheduled for a later attempt), running (in a batch, no outcome),
-- succeeded (in a done row), or what its log_fail row says. One statement for the whole page, its
-- lookups (entry, fail row, window, batch, done row, errors) as lateral joins: a listing derives its
-- jobs in one plan instead of a call of jobq.log_job per job, each opening every partition behind the
-- views again (a listing's two pages: 4.5 ms against 12.1).
-- plpgsql so that the plan is kept for the session (a SQL function's would be planned per call).
CREATE FUNCTION jobq.log_jobs(ids uuid[])
RETURNS SETOF jobq.log_derived
LANGUAGE plpgsql STABLE SET enable_bitmapscan = off SET enable_sort = off SET enable_seqscan = off AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  SELECT e.id, e.queue, e.kind, e.payload,
         CASE WHEN e.scheduled THEN CASE WHEN e.attempt > 1 THEN 'retrying' ELSE 'queued' END
              WHEN f.status IS NOT NULL THEN f.status
              WHEN b.batch_id IS NULL THEN 'queued'
              WHEN d.finished_at IS NULL THEN 'running' ELSE 'succeeded' END,
         CASE WHEN e.scheduled OR f.status = 'cancelled' OR (f.status IS NULL AND b.batch_id IS NULL) THEN e.attempt - 1
              WHEN f.status IS NOT NULL THEN f.attempt ELSE e.attempt END,
         e.max_attempts, e.run_at, e.timeout_ms, e.backoff_ms,
         CASE WHEN f.status IS NULL AND d.finished_at IS NULL THEN b.worker END,
         CASE WHEN f.status IS NULL AND d.finished_at IS NULL THEN b.locked_at END,
         NULL::bigint, d.result, e.created_at, coalesce(f.at, d.finished_at), e.pos, errs.errors
    FROM unnest(ids) WITH ORDINALITY AS i(id, o)
    CROSS JOIN LATERAL (
      (SELECT true AS scheduled, sc.pos, NULL::xid8 AS xid, NULL::smallint AS lane, sc.id, sc.queue, sc.kind, sc.payload, sc.attempt,
              sc.max_attempts, sc.run_at, sc.timeout_ms, sc.backoff_ms, sc.created_at
         FROM jobq.log_scheduled sc WHERE sc.id = i.id LIMIT 1)
      UNION ALL
      (SELECT false, l.pos, l.xid, l.lane, l.id, l.queue, l.kind, l.payload, l.attempt, l.max_attempts, l.run_at, l.timeout_ms,
              l.backoff_ms, l.created_at
         FROM jobq.log_all l WHERE l.id = i.id ORDER BY l.pos DESC LIMIT 1)
      LIMIT 1) e
    LEFT JOIN LATERAL (SELECT x.status, x.attempt, x.at FROM jobq.log_fail_all x WHERE NOT e.scheduled AND x.pos = e.pos LIMIT 1) f ON true
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
                          FROM jobq.log_fail_all x WHERE x.id = e.id AND x.status IN ('retrying', 'failed_permanent')) errs
   ORDER BY i.o;
END $$;

-- A job as its entries say: its newest entry (scheduled, else logged) and the derived status.
-- status: queued (not in a batch yet, or scheduled for attempt 1), retrying (scheduled for a later attempt),
-- running (in a batch, no outcome), succeeded (in a done row), or what its log_fail row says. For one job
-- (GET, cancel, retry): its statements run only as far as the job needs (a scheduled or failed job stops
-- early), where jobq.log_jobs's one plan opens every lookup's partitions: 0.59 ms a GET against 0.86.
-- The two must agree (test/bench/storage-log.test.ts compares them job by job).
CREATE FUNCTION jobq.log_job(job uuid)
RETURNS SETOF jobq.log_derived
LANGUAGE plpgsql STABLE SET enable_bitmapscan = off SET enable_sort = off SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
  e record;
  f record;
  win bigint;
  b jobq.log_batch;
  d_at timestamptz;
  d_result jsonb;
  errs jsonb;
BEGIN
  SELECT coalesce(jsonb_agg(jsonb_build_object('at', x.at, 'attempt', x.attempt, 'error', x.error) ORDER BY x.at), '[]') INTO errs
    FROM jobq.log_fail_all x WHERE x.id = job AND x.status IN ('retrying', 'failed_permanent');
  SELECT * INTO e FROM jobq.log_scheduled s WHERE s.id = job;
  IF FOUND THEN
    RETURN QUERY SELECT e.id, e.queue, e.kind, e.payload, CASE WHEN e.attempt > 1 THEN 'retrying' ELSE 'queued' END, e.attempt - 1,
      e.max_attempts, e.run_at, e.timeout_ms, e.backoff_ms, NULL::text, NULL::timestamptz, NULL::bigint, NULL::jsonb, e.created_at, NULL::timestamptz, e.pos, errs;
    RETURN;
  END IF;
  SELECT * INTO e FROM jobq.log_all l WHERE l.id = job ORDER BY l.pos DESC LIMIT 1;
  IF NOT FOUND THEN RETURN; END IF;
  SELECT * INTO f FROM jobq.log_fail_all x WHERE x.pos = e.pos;
  IF FOUND THEN
    RETURN QUERY SELECT e.id, e.queue, e.kind, e.payload, f.status, CASE WHEN f.status = 'cancelled' THEN e.attempt - 1 ELSE f.attempt END,
      e.max_attempts, e.run_at, e.timeout_ms, e.backoff_ms, NULL::text, NULL::timestamptz, NULL::bigint, NULL::jsonb, e.created_at, f.at, e.pos, errs;
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
      NULL::text, NULL::timestamptz, NULL::bigint, NULL::jsonb, e.created_at, NULL::timestamptz, e.pos, errs;
    RETURN;
  END IF;
  SELECT dn.finished_at, dn.results -> (array_position(dn.pos, e.pos) - 1) INTO d_at, d_result
    FROM jobq.log_done_all dn WHERE dn.batch_id = b.batch_id AND e.pos = ANY (dn.pos) LIMIT 1;
  RETURN QUERY SELECT e.id, e.queue, e.kind, e.payload, CASE WHEN d_at IS NULL THEN 'running' ELSE 'succeeded' END, e.attempt,
    e.max_attempts, e.run_at, e.timeout_ms, e.backoff_ms, CASE WHEN d_at IS NULL THEN b.worker END,
    CASE WHEN d_at IS NULL THEN b.locked_at END, NULL::bigint, d_result, e.created_at, d_at, e.pos, errs;
END $$;
