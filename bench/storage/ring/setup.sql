-- Storage candidate `ring` (issue #22, bench/storage/ring/README.md): `lease` (bench/storage/lease/) with
-- a generational ready table, so that the dead tuples a held xmin keeps are thrown away with their generation.
--
-- - jobq.ready: runnable jobs (queued, retrying; delayed ones too), the columns of jobq.jobs plus `gen`,
--   LIST-partitioned by gen over a ring of 4 slots. A job's gen is the 5-second slot of the inserting
--   transaction's now() (a column default: no table read, no UPDATE per job). A claim DELETEs the rows
--   it takes from their own partitions (by gen and id).
-- - jobq.ring_rotate (called by every claim, cheap when nothing is due): once per 5-second slot, each
--   non-current slot that holds no runnable row gets its delayed rows moved into the current slot and
--   is TRUNCATEd, under a 50 ms lock_timeout (tried again at the next slot if it times out).
-- - jobq.jobs: only a transient stage for jobq's own single-job transitions (failure, release,
--   recovery), as in `lease`; the rows leave it in the same transaction (jobq.ring_settle).
-- - jobq.leases and jobq.jobs_done: as in `lease`.
-- Applied after jobq's migrate() on a fresh database.

-- jobq.ring_slot: the ring slot (0-3) of time p_at: 5-second generations, reused every 20 s.
CREATE FUNCTION jobq.ring_slot(p_at timestamptz) RETURNS smallint
 LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $function$
  SELECT (floor(extract(epoch FROM p_at) / 5)::bigint % 4)::smallint
$function$;

CREATE TABLE jobq.ready (LIKE jobq.jobs INCLUDING DEFAULTS, gen smallint NOT NULL DEFAULT jobq.ring_slot(now()))
  PARTITION BY LIST (gen);
CREATE TABLE jobq.ready_0 PARTITION OF jobq.ready FOR VALUES IN (0);
CREATE TABLE jobq.ready_1 PARTITION OF jobq.ready FOR VALUES IN (1);
CREATE TABLE jobq.ready_2 PARTITION OF jobq.ready FOR VALUES IN (2);
CREATE TABLE jobq.ready_3 PARTITION OF jobq.ready FOR VALUES IN (3);
-- jobq.jobs's runnable index (jobq.claim's walk), and the id (get, cancel, the claim's DELETE with gen).
CREATE INDEX ready_runnable_idx ON jobq.ready (priority DESC, run_at, id) WHERE status IN ('queued', 'retrying');
CREATE INDEX ready_id_idx ON jobq.ready (id);

-- jobq.ready_jobs: the ready table's rows as jobq.jobs rows (without gen), for reads that return jobq.jobs.
CREATE VIEW jobq.ready_jobs AS
  SELECT id, queue, kind, payload, status, priority, attempts, max_attempts, run_at, timeout_ms, locked_by, locked_at,
         cancel_requested, idempotency_key, last_error, errors, backoff_ms, result, created_at, updated_at, finished_at,
         started_at, claim_seq, group_key, singleton_key, debounce_key, progress, depends_on, on_parent_failure,
         pending_parents, has_children, trace_context
    FROM jobq.ready;

-- The slot whose turn jobq.ring_rotate last took (its 5-second epoch): one row, written once per slot.
CREATE TABLE jobq.ring_state (turn bigint NOT NULL);
INSERT INTO jobq.ring_state VALUES (0);

-- jobq.ring_rotate: at most once per 5-second slot (the first claim of a slot takes the turn; the others
-- read one row and return), for each slot but the current one: if no transaction holds it (lock_timeout
-- 50 ms, so that the claims queued behind the lock request wait at most that; a timeout leaves the
-- slot for the next turn) and it holds no runnable row (a backlog drains where it is: moving it would
-- write every job again), its remaining rows (delayed jobs) move to the current slot and it is
-- TRUNCATEd: its heap and indexes, dead tuples included, are thrown away whatever the xmin horizon.
-- TRUNCATE is not MVCC-safe: a transaction with an older snapshot would then see the slot empty;
-- acceptable for a ready table, whose readers (claims) take fresh snapshots. For the same reason the
-- rotation runs only in a READ COMMITTED transaction: its check for runnable rows must see every
-- committed row (a claim inside a caller's REPEATABLE READ transaction leaves the turn to another).
-- Returns the slots truncated.
CREATE FUNCTION jobq.ring_rotate(p_now timestamptz) RETURNS integer
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_turn bigint := floor(extract(epoch FROM p_now) / 5)::bigint;
  v_cur smallint := jobq.ring_slot(p_now);
  v_timeout text;
  v_done integer := 0;
  s smallint;
BEGIN
  IF (SELECT turn FROM jobq.ring_state) >= v_turn OR current_setting('transaction_isolation') <> 'read committed' THEN
    RETURN 0;
  END IF;
  IF NOT pg_try_advisory_xact_lock(hashtext('jobq.ring_rotate')) THEN
    RETURN 0;
  END IF;
  UPDATE jobq.ring_state SET turn = v_turn WHERE turn < v_turn;
  IF NOT FOUND THEN
    RETURN 0;
  END IF;
  v_timeout := current_setting('lock_timeout');
  FOR s IN SELECT g FROM generate_series(0, 3) g WHERE g <> v_cur LOOP
    BEGIN
      PERFORM set_config('lock_timeout', '50ms', true);
      EXECUTE format('LOCK TABLE jobq.%I IN ACCESS EXCLUSIVE MODE', 'ready_' || s);
      PERFORM set_config('lock_timeout', v_timeout, true);
      CONTINUE WHEN EXISTS (SELECT 1 FROM jobq.ready r
                             WHERE r.gen = s AND r.status IN ('queued', 'retrying') AND r.run_at <= p_now);
      UPDATE jobq.ready r SET gen = v_cur WHERE r.gen = s; -- a new partition key: the rows move
      EXECUTE format('TRUNCATE jobq.%I', 'ready_' || s);
      v_done := v_done + 1;
    EXCEPTION WHEN lock_not_available THEN
      PERFORM set_config('lock_timeout', v_timeout, true);
    END;
  END LOOP;
  RETURN v_done;
END
$function$;

CREATE TABLE jobq.leases (
  id bigint PRIMARY KEY,
  worker text NOT NULL,
  locked_at timestamptz NOT NULL,
  ids uuid[] NOT NULL,
  jobs jobq.jobs[] NOT NULL, -- compressed with lz4 where the server has it (below)
  pending integer[] NOT NULL,
  cancel integer[] NOT NULL DEFAULT '{}'
) WITH (fillfactor = 50); -- room on the page for the HOT updates of renewals and completions
-- pglz cost ~6 µs per job to compress (auto_explain of the claim); lz4 far less. A server built without
-- lz4 (jobq's embedded PostgreSQL) refuses it: pglz there.
DO $$ BEGIN
  ALTER TABLE jobq.leases ALTER COLUMN jobs SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN NULL;
END $$;

CREATE TABLE jobq.jobs_done (LIKE jobq.jobs INCLUDING DEFAULTS) PARTITION BY RANGE (finished_at);
ALTER TABLE jobq.jobs_done ALTER COLUMN finished_at SET NOT NULL;
CREATE INDEX jobs_done_id_idx ON jobq.jobs_done (id);
-- A safety net for a day whose partition was not made ahead; retention never drops it.
CREATE TABLE jobq.jobs_done_default PARTITION OF jobq.jobs_done DEFAULT;

-- jobq.done_partitions: makes the daily partitions of jobq.jobs_done from p_from's day to p_to's (UTC).
CREATE FUNCTION jobq.done_partitions(p_from timestamptz, p_to timestamptz) RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE
  d date := (p_from AT TIME ZONE 'UTC')::date;
BEGIN
  WHILE d <= (p_to AT TIME ZONE 'UTC')::date LOOP
    IF to_regclass(format('jobq.jobs_done_%s', to_char(d, 'YYYYMMDD'))) IS NULL THEN
      EXECUTE format('CREATE TABLE jobq.%I PARTITION OF jobq.jobs_done FOR VALUES FROM (%L) TO (%L)',
                     'jobs_done_' || to_char(d, 'YYYYMMDD'), d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
    END IF;
    d := d + 1;
  END LOOP;
END
$function$;

-- jobq.done_drop_before: drops the daily partitions that end at or before p_before; returns the rows
-- they held (counted before the drop).
CREATE FUNCTION jobq.done_drop_before(p_before timestamptz) RETURNS bigint
 LANGUAGE plpgsql
AS $function$
DECLARE
  r record;
  n bigint;
  total bigint := 0;
BEGIN
  FOR r IN
    SELECT c.oid::regclass AS part
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'jobq.jobs_done'::regclass AND c.relname ~ '^jobs_done_[0-9]{8}$'
       AND (to_date(substr(c.relname, 11), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= p_before
  LOOP
    EXECUTE format('SELECT count(*) FROM %s', r.part) INTO n;
    EXECUTE format('DROP TABLE %s', r.part);
    total := total + n;
  END LOOP;
  RETURN total;
END
$function$;

-- jobq.uuid7_time: when a UUIDv7 (src/queue/ids.ts) was made. A job finishes after it was made, so
-- GET by id reads only the history partitions from that day on.
CREATE FUNCTION jobq.uuid7_time(u uuid) RETURNS timestamptz
 LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $function$
  SELECT to_timestamp(('x' || lpad(substr(replace(u::text, '-', ''), 1, 12), 16, '0'))::bit(64)::bigint / 1000.0)
$function$;

-- jobq.uuid7: a UUIDv7 made at p_at (for seeding history and backlogs in SQL).
CREATE FUNCTION jobq.uuid7(p_at timestamptz) RETURNS uuid
 LANGUAGE sql VOLATILE
AS $function$
  SELECT (lpad(to_hex((extract(epoch FROM p_at) * 1000)::bigint), 12, '0')
          || '7' || substr(md5(random()::text), 1, 3) || to_hex(8 + floor(random() * 4)::int) || substr(md5(random()::text), 1, 15))::uuid
$function$;

-- jobq.lease_claim: first jobq.ring_rotate (one row read, unless a new 5-second slot began); then jobq.claim's walk (same filters, order, cursor p_priority/p_after_run_at/p_after_id:
-- the last job of the worker's previous claim, so that the walk starts after the dead entries of the
-- jobs it deleted instead of stepping over them from the front) and planner pins (see
-- src/queue/functions.sql, jobq.claim) over jobq.ready (a Merge Append of the slots' runnable indexes), but the
-- rows are DELETEd, each from its own slot (by gen and id), and ONE lease row
-- holds them: one heap tuple and one index entry per claim instead of a new version of every job.
-- Returns what a worker runs a job with (the columns of jobq's claim statement), not whole rows: expanding
-- a composite per column cost CPU. plan_cache_mode: the statement is planned once per session
-- (with custom plans, PostgreSQL planned this large statement again on every call: its planning
-- showed in perf profiles of the backend).
CREATE FUNCTION jobq.lease_claim(
  p_worker text, p_limit integer, p_queues text[], p_kinds text[], p_now timestamp with time zone,
  p_started integer, p_async boolean, p_exclude text[],
  p_priority integer DEFAULT NULL, p_after_run_at timestamp with time zone DEFAULT NULL, p_after_id uuid DEFAULT NULL
)
 RETURNS TABLE(id uuid, queue text, kind text, payload jsonb, priority integer, attempts integer, max_attempts integer,
               timeout_ms integer, backoff_ms integer, started_at timestamp with time zone, run_at timestamp with time zone,
               claim_seq bigint, trace_context jsonb)
 LANGUAGE plpgsql
 SET enable_bitmapscan TO 'off'
 SET enable_sort TO 'off'
 SET enable_seqscan TO 'off'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_lease bigint := nextval('jobq.claims');
  v_ids uuid[];
  v_gens smallint[];
BEGIN
  IF p_async THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  PERFORM jobq.ring_rotate(v_now);
  IF p_after_id IS NULL THEN
    SELECT array_agg(j.id), array_agg(j.gen) INTO v_ids, v_gens FROM (
      SELECT j.id, j.gen FROM jobq.ready j
       WHERE j.status IN ('queued', 'retrying')
         AND j.run_at <= v_now
         AND (p_queues IS NULL OR j.queue = ANY(p_queues))
         AND (p_kinds IS NULL OR j.kind = ANY(p_kinds))
         AND (p_exclude IS NULL OR j.queue <> ALL(p_exclude))
         AND j.group_key IS NULL
       ORDER BY j.priority DESC, j.run_at, j.id
       LIMIT p_limit
       FOR UPDATE SKIP LOCKED
    ) j;
  ELSE
    SELECT array_agg(j.id), array_agg(j.gen) INTO v_ids, v_gens FROM (
      SELECT j.id, j.gen FROM jobq.ready j
       WHERE j.status IN ('queued', 'retrying')
         AND j.priority = p_priority
         AND (j.run_at, j.id) > (p_after_run_at, p_after_id)
         AND j.run_at <= v_now
         AND (p_queues IS NULL OR j.queue = ANY(p_queues))
         AND (p_kinds IS NULL OR j.kind = ANY(p_kinds))
         AND (p_exclude IS NULL OR j.queue <> ALL(p_exclude))
         AND j.group_key IS NULL
       ORDER BY j.priority DESC, j.run_at, j.id
       LIMIT p_limit
       FOR UPDATE SKIP LOCKED
    ) j;
  END IF;
  IF v_ids IS NULL THEN
    RETURN;
  END IF;
  RETURN QUERY
  WITH gone AS (
    DELETE FROM jobq.ready j USING unnest(v_gens, v_ids) x(gen, id) WHERE j.gen = x.gen AND j.id = x.id RETURNING j.*
  ), numbered AS (
    SELECT g.*, row_number() OVER (ORDER BY g.priority DESC, g.run_at, g.id) AS n FROM gone g
  ), claimed AS (
    SELECT c.n, ROW(c.id, c.queue, c.kind, c.payload, 'running', c.priority, c.attempts + 1, c.max_attempts, c.run_at,
                    c.timeout_ms, p_worker, v_now, c.cancel_requested, c.idempotency_key, c.last_error, c.errors,
                    c.backoff_ms, c.result, c.created_at, v_now, NULL,
                    CASE WHEN c.n <= coalesce(p_started, p_limit) THEN v_now END, v_lease * 1048576 + c.n,
                    c.group_key, c.singleton_key, c.debounce_key, c.progress, c.depends_on, c.on_parent_failure,
                    c.pending_parents, c.has_children, c.trace_context)::jobq.jobs AS j
      FROM numbered c
  ), lease AS (
    INSERT INTO jobq.leases (id, worker, locked_at, ids, jobs, pending)
    SELECT v_lease, p_worker, v_now, array_agg((c.j).id ORDER BY c.n), array_agg(c.j ORDER BY c.n), array_agg(c.n::integer ORDER BY c.n)
      FROM claimed c
    HAVING count(*) > 0
  )
  SELECT c.id, c.queue, c.kind, c.payload, c.priority, c.attempts + 1, c.max_attempts, c.timeout_ms, c.backoff_ms,
         CASE WHEN c.n <= coalesce(p_started, p_limit) THEN v_now END, c.run_at, v_lease * 1048576 + c.n, c.trace_context
    FROM numbered c;
END
$function$;

-- jobq.lease_complete: running → succeeded for the claims p_seqs (claim_seq values) that p_worker
-- still holds, with their results (p_results, in the same order; NULL: none) and, for buffered jobs,
-- when they started (p_started: {"claim_seq": epoch ms}). Appends them to jobq.jobs_done and takes
-- their positions out of their leases; a lease with none left is deleted. Returns the claims completed.
-- A generic plan, as jobq.lease_claim, pinned to the leases' primary key: the leases table is tiny in
-- the statistics, and a sequential scan of it (measured: a quarter of the backend's CPU in perf) walks
-- every dead lease row that autovacuum has not yet removed, or that a held xmin keeps.
CREATE FUNCTION jobq.lease_complete(p_worker text, p_seqs bigint[], p_results jsonb[], p_started jsonb, p_now timestamp with time zone, p_async boolean)
 RETURNS SETOF bigint
 LANGUAGE plpgsql
 SET enable_bitmapscan TO 'off'
 SET enable_seqscan TO 'off'
 SET jit TO 'off'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
BEGIN
  IF p_async THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  RETURN QUERY
  WITH c AS (
    SELECT t.s / 1048576 AS lease, (t.s % 1048576)::integer AS n, t.s, p_results[t.i] AS r
      FROM unnest(p_seqs) WITH ORDINALITY AS t(s, i)
  ), l AS (
    SELECT l.id, l.jobs, l.pending,
           ARRAY(SELECT p FROM unnest(l.pending) p WHERE p <> ALL (ARRAY(SELECT c.n FROM c WHERE c.lease = l.id))) AS rest
      FROM jobq.leases l
     WHERE l.id = ANY (ARRAY(SELECT DISTINCT c.lease FROM c)) AND l.worker = p_worker
       FOR UPDATE
  ), del AS (
    DELETE FROM jobq.leases d USING l WHERE d.id = l.id AND cardinality(l.rest) = 0
  ), upd AS (
    UPDATE jobq.leases u SET pending = l.rest FROM l WHERE u.id = l.id AND cardinality(l.rest) > 0
  ), held AS MATERIALIZED (
    -- Each lease's array is read (decompressed) once, not once per job: materialised, so that the
    -- planner cannot put the unnest inside a join loop over the completions (seen: 50 unnests per lease).
    SELECT l.id AS lease, u.* FROM l CROSS JOIN LATERAL unnest(l.jobs) WITH ORDINALITY u WHERE u.ordinality = ANY (l.pending)
  ), fin AS (
    SELECT c.s, c.r, h.* FROM c JOIN held h ON h.lease = c.lease AND h.ordinality = c.n
  ), ins AS (
    INSERT INTO jobq.jobs_done
    SELECT f.id, f.queue, f.kind, f.payload, 'succeeded', f.priority, f.attempts, f.max_attempts, f.run_at, f.timeout_ms,
           NULL, NULL, f.cancel_requested, f.idempotency_key, f.last_error, f.errors, f.backoff_ms, f.r, f.created_at, v_now, v_now,
           coalesce(f.started_at, to_timestamp((p_started ->> f.s::text)::float8 / 1000)), f.claim_seq, f.group_key,
           f.singleton_key, f.debounce_key, f.progress, f.depends_on, f.on_parent_failure, f.pending_parents, f.has_children,
           f.trace_context
      FROM fin f
  )
  SELECT f.s FROM fin f;
END
$function$;

-- jobq.lease_take: takes the claims p_seqs of p_worker (NULL: any worker; with p_stale_before, only
-- from leases not renewed since then: recovery) out of their leases (deleting a lease left
-- empty) and puts their jobs back into jobq.jobs as they ran (status running, under their claim, locked_at
-- the lease's last renewal), so that jobq's own single-job transitions (failure, retry, cancel,
-- release) apply to them unchanged; the caller then moves them on (jobq.ring_settle). The rare paths
-- pay extra writes; the hot path (jobq.lease_complete) does not. Returns the ids of the jobs taken.
CREATE FUNCTION jobq.lease_take(p_worker text, p_seqs bigint[], p_stale_before timestamp with time zone)
 RETURNS SETOF uuid
 LANGUAGE plpgsql
AS $function$
BEGIN
  RETURN QUERY
  WITH c AS (
    SELECT s / 1048576 AS lease, (s % 1048576)::integer AS n, s FROM unnest(p_seqs) s
  ), l AS (
    SELECT l.id, l.jobs, l.pending, l.cancel, l.locked_at,
           ARRAY(SELECT p FROM unnest(l.pending) p WHERE p <> ALL (ARRAY(SELECT c.n FROM c WHERE c.lease = l.id))) AS rest
      FROM jobq.leases l
     WHERE l.id = ANY (ARRAY(SELECT DISTINCT c.lease FROM c)) AND (p_worker IS NULL OR l.worker = p_worker)
       AND (p_stale_before IS NULL OR l.locked_at < p_stale_before)
       FOR UPDATE
  ), del AS (
    DELETE FROM jobq.leases d USING l WHERE d.id = l.id AND cardinality(l.rest) = 0
  ), upd AS (
    UPDATE jobq.leases u SET pending = l.rest FROM l WHERE u.id = l.id AND cardinality(l.rest) > 0
  ), back AS (
    INSERT INTO jobq.jobs
    SELECT (x.j).id, (x.j).queue, (x.j).kind, (x.j).payload, (x.j).status, (x.j).priority, (x.j).attempts, (x.j).max_attempts,
           (x.j).run_at, (x.j).timeout_ms, (x.j).locked_by, x.locked_at, x.cancel, (x.j).idempotency_key, (x.j).last_error,
           (x.j).errors, (x.j).backoff_ms, (x.j).result, (x.j).created_at, (x.j).updated_at, (x.j).finished_at,
           (x.j).started_at, (x.j).claim_seq, (x.j).group_key, (x.j).singleton_key, (x.j).debounce_key, (x.j).progress,
           (x.j).depends_on, (x.j).on_parent_failure, (x.j).pending_parents, (x.j).has_children, (x.j).trace_context
      FROM (SELECT l.jobs[c.n] AS j, l.locked_at, c.n = ANY (l.cancel) AS cancel FROM c JOIN l ON l.id = c.lease WHERE c.n = ANY (l.pending)) x
    RETURNING id
  )
  SELECT id FROM back;
END
$function$;

-- jobq.ring_settle: the jobs p_ids leave the transient stage jobq.jobs after jobq's own transition ran
-- on them: finished ones (a terminal status) to jobq.jobs_done, the others (queued, retrying) to the
-- ready table's current slot. Returns how many went to the history.
CREATE FUNCTION jobq.ring_settle(p_ids uuid[]) RETURNS bigint
 LANGUAGE sql
AS $function$
  WITH gone AS (
    DELETE FROM jobq.jobs WHERE id = ANY (p_ids) RETURNING *
  ), back AS (
    INSERT INTO jobq.ready SELECT * FROM gone WHERE status NOT IN ('succeeded', 'failed_permanent', 'cancelled')
  ), ins AS (
    INSERT INTO jobq.jobs_done SELECT * FROM gone WHERE status IN ('succeeded', 'failed_permanent', 'cancelled') RETURNING 1
  )
  SELECT count(*) FROM ins
$function$;

-- jobq.lease_stale: the claims of leases not renewed since p_before (their worker is lost). Recovery
-- takes them back (jobq.lease_take) and runs jobq's own recovery statement on them.
CREATE FUNCTION jobq.lease_stale(p_before timestamptz) RETURNS SETOF bigint
 LANGUAGE sql STABLE
AS $function$
  SELECT l.id * 1048576 + p FROM jobq.leases l, unnest(l.pending) p WHERE l.locked_at < p_before
$function$;

SELECT jobq.done_partitions(now() - interval '8 days', now() + interval '7 days');

-- jobq.lease_get: job p_id wherever it is: the ready table (an id probe per slot), a lease (running: the lease whose ids hold
-- it, a scan of the small leases table), or the history (only the partitions from the day its UUIDv7
-- was made, less an hour for clocks apart, up to now: not the days made ahead). A running job's
-- cancel_requested comes from its lease.
CREATE FUNCTION jobq.lease_get(p_id uuid) RETURNS SETOF jobq.jobs
 LANGUAGE plpgsql STABLE
 SET jit TO 'off'
AS $function$
BEGIN
  RETURN QUERY SELECT * FROM jobq.ready_jobs WHERE id = p_id;
  IF FOUND THEN RETURN; END IF;
  RETURN QUERY
  SELECT j.id, j.queue, j.kind, j.payload, j.status, j.priority, j.attempts, j.max_attempts, j.run_at, j.timeout_ms,
         j.locked_by, l.locked_at, x.p = ANY (l.cancel), j.idempotency_key, j.last_error, j.errors, j.backoff_ms, j.result,
         j.created_at, j.updated_at, j.finished_at, j.started_at, j.claim_seq, j.group_key, j.singleton_key, j.debounce_key,
         j.progress, j.depends_on, j.on_parent_failure, j.pending_parents, j.has_children, j.trace_context
    FROM jobq.leases l
    CROSS JOIN LATERAL (SELECT array_position(l.ids, p_id) AS p) x
    CROSS JOIN LATERAL unnest(l.jobs[x.p:x.p]) j
   WHERE p_id = ANY (l.ids) AND x.p = ANY (l.pending);
  IF FOUND THEN RETURN; END IF;
  RETURN QUERY SELECT * FROM jobq.jobs_done
   WHERE id = p_id AND finished_at >= jobq.uuid7_time(p_id) - interval '1 hour' AND finished_at <= now() + interval '1 hour';
END
$function$;

-- jobq.lease_list: up to p_limit jobs with an id below p_after (NULL: from the newest), newest first,
-- from the three tables: each gives its newest p_limit (the ready table's slots and the history walk their id
-- indexes backwards; of the leases every `ids` array is read, and only the p_limit rows kept are taken
-- out of their `jobs` arrays), then the merge keeps the newest p_limit. The id never
-- changes as a job moves, so a cursor (the last id) pages stably.
CREATE FUNCTION jobq.lease_list(p_after uuid, p_limit integer) RETURNS SETOF jobq.jobs
 LANGUAGE sql STABLE
AS $function$
  SELECT * FROM (
    (SELECT * FROM jobq.ready_jobs WHERE id < coalesce(p_after, 'ffffffff-ffff-ffff-ffff-ffffffffffff') ORDER BY id DESC LIMIT p_limit)
    UNION ALL
    (SELECT j.* FROM (
       SELECT l.id AS lease, i.id, i.p FROM jobq.leases l CROSS JOIN LATERAL unnest(l.ids) WITH ORDINALITY i(id, p)
        WHERE i.p = ANY (l.pending) AND i.id < coalesce(p_after, 'ffffffff-ffff-ffff-ffff-ffffffffffff')
        ORDER BY i.id DESC LIMIT p_limit
     ) t
     JOIN jobq.leases l ON l.id = t.lease
     CROSS JOIN LATERAL unnest(l.jobs[t.p:t.p]) j)
    UNION ALL
    (SELECT * FROM jobq.jobs_done WHERE id < coalesce(p_after, 'ffffffff-ffff-ffff-ffff-ffffffffffff') ORDER BY id DESC LIMIT p_limit)
  ) a
  ORDER BY id DESC
  LIMIT p_limit
$function$;

-- jobq.lease_cancel: cancels job p_id: a queued or retrying one moves to the history as cancelled; a
-- running one gets its position in its lease's `cancel` (the worker's renewal reports it) and a
-- NOTIFY; a finished one is reported. Returns (outcome, the job); no row: not found.
CREATE FUNCTION jobq.lease_cancel(p_id uuid, p_now timestamp with time zone)
 RETURNS TABLE(outcome text, job jobq.jobs)
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_job jobq.jobs;
BEGIN
  WITH gone AS (
    DELETE FROM jobq.ready WHERE id = p_id AND status IN ('queued', 'retrying') RETURNING *
  ), ins AS (
    INSERT INTO jobq.jobs_done
    SELECT g.id, g.queue, g.kind, g.payload, 'cancelled', g.priority, g.attempts, g.max_attempts, g.run_at, g.timeout_ms,
           NULL, NULL, false, g.idempotency_key, g.last_error, g.errors, g.backoff_ms, g.result, g.created_at, v_now, v_now,
           g.started_at, g.claim_seq, g.group_key, g.singleton_key, g.debounce_key, g.progress, g.depends_on,
           g.on_parent_failure, g.pending_parents, g.has_children, g.trace_context
      FROM gone g
    RETURNING *
  )
  SELECT * INTO v_job FROM ins;
  IF v_job.id IS NOT NULL THEN
    RETURN QUERY SELECT 'cancelled', v_job;
    RETURN;
  END IF;
  WITH upd AS (
    UPDATE jobq.leases l SET cancel = l.cancel || array_position(l.ids, p_id)
     WHERE p_id = ANY (l.ids) AND array_position(l.ids, p_id) = ANY (l.pending)
    RETURNING l.jobs[array_position(l.ids, p_id)] AS j
  )
  SELECT (upd.j).* INTO v_job FROM upd;
  IF v_job.id IS NOT NULL THEN
    PERFORM pg_notify('jobq_cancel', p_id::text);
    v_job.cancel_requested := true;
    RETURN QUERY SELECT 'cancel_requested', v_job;
    RETURN;
  END IF;
  RETURN QUERY SELECT 'already_terminal', ROW(d.*)::jobq.jobs FROM jobq.jobs_done d
   WHERE d.id = p_id AND d.finished_at >= jobq.uuid7_time(p_id) - interval '1 hour';
END
$function$;

-- jobq.lease_retry: failed_permanent or cancelled → queued with a fresh set of attempts, as jobq's
-- retry (src/queue/statements/transitions.ts): the job moves from the history back to the ready table.
CREATE FUNCTION jobq.lease_retry(p_id uuid, p_now timestamp with time zone) RETURNS SETOF jobq.jobs
 LANGUAGE sql
AS $function$
  WITH gone AS (
    DELETE FROM jobq.jobs_done
     WHERE id = p_id AND status IN ('failed_permanent', 'cancelled') AND finished_at >= jobq.uuid7_time(p_id) - interval '1 hour'
    RETURNING *
  ), ins AS (
    INSERT INTO jobq.ready
    SELECT g.id, g.queue, g.kind, g.payload, 'queued', g.priority, 0, g.max_attempts, coalesce(p_now, now()), g.timeout_ms,
           NULL, NULL, false, g.idempotency_key, g.last_error, g.errors, NULL, NULL, g.created_at, coalesce(p_now, now()), NULL,
           NULL, NULL, g.group_key, g.singleton_key, g.debounce_key, NULL, g.depends_on, g.on_parent_failure,
           CASE WHEN g.pending_parents IS NOT NULL THEN 0 END, g.has_children, g.trace_context
      FROM gone g
    RETURNING *
  )
  SELECT ins.id, ins.queue, ins.kind, ins.payload, ins.status, ins.priority, ins.attempts, ins.max_attempts, ins.run_at,
         ins.timeout_ms, ins.locked_by, ins.locked_at, ins.cancel_requested, ins.idempotency_key, ins.last_error, ins.errors,
         ins.backoff_ms, ins.result, ins.created_at, ins.updated_at, ins.finished_at, ins.started_at, ins.claim_seq,
         ins.group_key, ins.singleton_key, ins.debounce_key, ins.progress, ins.depends_on, ins.on_parent_failure,
         ins.pending_parents, ins.has_children, ins.trace_context
    FROM ins LEFT JOIN LATERAL (SELECT pg_notify('jobq_jobs', ins.queue)) n ON true
$function$;
