-- The current text of every function in schema jobq: what you read here is what PostgreSQL runs.
--
-- migrate() (migrate.ts) applies this file after the numbered migrations, in one transaction, whenever
-- its checksum differs from the one recorded in jobq.functions_applied or a migration was just applied.
-- The migrations that once defined these functions (0001, 0004, 0005, 0006, 0008) are history: they
-- still run on a fresh database, and this file then replaces what they made.
--
-- To change a function, edit it here; no migration is needed. CREATE OR REPLACE cannot change a
-- function's arguments (their types, names, or defaults removed) or its return type, and would add an
-- overload for a new argument list: for those, add a migration that drops the old function (DROP
-- FUNCTION jobq.f(old argument types)) and write the new definition here. Likewise a function removed
-- from this file needs a migration that drops it. A migration must not depend on a function that only
-- this file defines (on a fresh database the migrations run first).
--
-- Each definition is written as pg_get_functiondef prints it (type names in full, `SET x TO 'v'`,
-- $function$ quotes, default attributes left out), line breaks in the header aside:
-- test/queue/functions.test.ts compares the two, and test/schema.snapshot.txt records the functions
-- as PostgreSQL holds them. Everything here must stay idempotent (CREATE OR REPLACE only).

-- jobq.push_error: appends one attempt's error to a job's error history and keeps the newest `keep`
-- entries (oldest first). A function because two statements write that history (a failed attempt,
-- and the recovery of a job whose worker was lost; src/queue/statements/) and the expression is long: one
-- definition keeps them alike. STABLE, not IMMUTABLE: the timestamp becomes JSON text in the
-- session's TimeZone.
CREATE OR REPLACE FUNCTION jobq.push_error(errors jsonb, at timestamp with time zone, attempt integer, error text, keep integer)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
AS $function$
  SELECT coalesce(jsonb_agg(e ORDER BY i), '[]'::jsonb)
    FROM (
      SELECT e, i
        FROM jsonb_array_elements(
               errors || jsonb_build_array(jsonb_build_object('at', at, 'attempt', attempt, 'error', error))
             ) WITH ORDINALITY AS t(e, i)
       ORDER BY i DESC
       LIMIT keep
    ) newest
$function$;

-- jobq.claim: claims up to p_limit runnable jobs for worker p_worker, in claim order (priority DESC,
-- run_at, id), and returns them running under its lease. The CTE locks exactly the rows it picks (SKIP
-- LOCKED: concurrent claimers never wait for or double-claim a row); the UPDATE marks them running,
-- counts the attempt and takes the lease.
--
-- A function for its settings, which a plain statement cannot scope to itself:
-- - Planner pins (enable_*): the ORDER BY matches jobs_runnable_idx exactly, so walking that index and
--   stopping at LIMIT is always the right plan. Right after a bulk enqueue, before autovacuum has
--   analysed the table, the planner would pick a bitmap scan plus a sort of every runnable row
--   (measured: 5 ms per claim with 20,000 runnable rows, against 0.05 ms). (0001)
-- - jit = off: the pins add PostgreSQL's "disable cost" to the small sort row_number() still needs,
--   far above jit_above_cost, and JIT compiling cost 148 ms of a 150 ms claim. (0005)
-- - p_async: when the claim is the caller's whole transaction (jobq's own claims through its pool),
--   it commits without waiting for its WAL to reach the disk. A claim lost in a crash only returns the
--   job to queued with its attempt uncounted; what depends on the claim is flushed with it, WAL being
--   one sequence. set_config(..., true) is SET LOCAL: it outlives the function's own SET clauses. (0008)
--
-- Parameters: p_queues / p_kinds NULL for any. p_now NULL for now() (tests pass a clock).
-- p_priority, p_after_run_at, p_after_id: a cursor, the last job of the worker's previous claim; the
-- scan starts after it within that priority instead of stepping over the dead index entries at the
-- front (the worker starts from the front again when a cursor claim comes back short, and at every
-- poll tick). (0004)
-- p_started: how many of the claimed jobs start now (the worker's free slots; the rest wait in its
-- buffer); those get started_at. Every job gets claim_seq, the claim's number from jobq.claims times
-- 2^20 plus its position, so a worker records the buffered jobs it started as one watermark
-- (jobq.workers.started_seq). p_limit is at most 2^20 - 1. (0006)
CREATE OR REPLACE FUNCTION jobq.claim(
  p_worker text, p_limit integer, p_queues text[], p_kinds text[], p_now timestamp with time zone,
  p_priority integer DEFAULT NULL::integer, p_after_run_at timestamp with time zone DEFAULT NULL::timestamp with time zone,
  p_after_id uuid DEFAULT NULL::uuid, p_started integer DEFAULT NULL::integer, p_async boolean DEFAULT false
)
 RETURNS SETOF jobq.jobs
 LANGUAGE plpgsql
 SET enable_bitmapscan TO 'off'
 SET enable_sort TO 'off'
 SET enable_seqscan TO 'off'
 SET jit TO 'off'
AS $function$
DECLARE
  v_now timestamptz := coalesce(p_now, now());
  v_base bigint := nextval('jobq.claims') * 1048576;
BEGIN
  IF p_async THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  IF p_after_id IS NULL THEN
    RETURN QUERY
    WITH locked AS (
      SELECT id, priority, run_at FROM jobq.jobs
       WHERE status IN ('queued', 'retrying')
         AND run_at <= v_now
         AND (p_queues IS NULL OR queue = ANY(p_queues))
         AND (p_kinds IS NULL OR kind = ANY(p_kinds))
       ORDER BY priority DESC, run_at, id
       LIMIT p_limit
       FOR UPDATE SKIP LOCKED
    ), next AS (
      SELECT id, row_number() OVER (ORDER BY priority DESC, run_at, id) AS n FROM locked
    )
    UPDATE jobq.jobs j
       SET status = 'running', attempts = j.attempts + 1, locked_by = p_worker, locked_at = v_now, updated_at = v_now,
           started_at = CASE WHEN next.n <= coalesce(p_started, p_limit) THEN v_now END,
           claim_seq = v_base + next.n
      FROM next
     WHERE j.id = next.id
    RETURNING j.*;
  ELSE
    RETURN QUERY
    WITH locked AS (
      SELECT id, priority, run_at FROM jobq.jobs
       WHERE status IN ('queued', 'retrying')
         AND priority = p_priority
         AND (run_at, id) > (p_after_run_at, p_after_id)
         AND run_at <= v_now
         AND (p_queues IS NULL OR queue = ANY(p_queues))
         AND (p_kinds IS NULL OR kind = ANY(p_kinds))
       ORDER BY priority DESC, run_at, id
       LIMIT p_limit
       FOR UPDATE SKIP LOCKED
    ), next AS (
      SELECT id, row_number() OVER (ORDER BY priority DESC, run_at, id) AS n FROM locked
    )
    UPDATE jobq.jobs j
       SET status = 'running', attempts = j.attempts + 1, locked_by = p_worker, locked_at = v_now, updated_at = v_now,
           started_at = CASE WHEN next.n <= coalesce(p_started, p_limit) THEN v_now END,
           claim_seq = v_base + next.n
      FROM next
     WHERE j.id = next.id
    RETURNING j.*;
  END IF;
END
$function$;
