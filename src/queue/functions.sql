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
-- Flow control (0011, docs/flow-control.md): jobs that carry a group are never claimed here, nor jobs of
-- the queues in p_exclude (the caller's queues with a policy): claim_limited takes those. Both are
-- filters of the same index walk; for a queue without policies and groups nothing else changes.
CREATE OR REPLACE FUNCTION jobq.claim(
  p_worker text, p_limit integer, p_queues text[], p_kinds text[], p_now timestamp with time zone,
  p_priority integer DEFAULT NULL::integer, p_after_run_at timestamp with time zone DEFAULT NULL::timestamp with time zone,
  p_after_id uuid DEFAULT NULL::uuid, p_started integer DEFAULT NULL::integer, p_async boolean DEFAULT false,
  p_exclude text[] DEFAULT NULL::text[]
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
         AND (p_exclude IS NULL OR queue <> ALL(p_exclude))
         AND group_key IS NULL
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
         AND (p_exclude IS NULL OR queue <> ALL(p_exclude))
         AND group_key IS NULL
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

-- jobq.claim_limited: claims up to p_limit jobs in all from the queues p_queues, each under its policy
-- (jobq.queues) and, where its jobs carry groups, in turns between the groups. What jobq.claim leaves
-- out (docs/flow-control.md has the design):
-- - One claimer per queue at a time: the queues' rows are locked first, in name order (no deadlock
--   between claimers of overlapping sets), until the transaction ends, so that what the previous
--   claimer started is committed and counted before the next one counts. The time is read after the
--   locks (clock_timestamp()), so starts are recorded in the order they happen.
-- - paused: nothing. concurrency: the running jobs of the queue on every worker (locked_at is set
--   exactly on running jobs: jobs_running_has_lease), a lost worker's included until its lease is
--   recovered. rate: the starts recorded in jobq.queue_starts within the last rate_period_ms (a sliding
--   window: older rows are trimmed here), every start counted, retries too.
-- - Groups (jobs_group_idx): round robin from the group after group_cursor, one job per group per
--   turn, groups at group_concurrency running skipped; the cursor is kept for the next claim. In a
--   queue with a policy, the jobs without a group take a turn at the start of each round as one more
--   group; they are found by walking jobs_runnable_idx, so when that walk finds none it is not made
--   again for a second (ungrouped_idle_at). In a queue without a policy they are jobq.claim's.
-- - No buffering: every job claimed here starts now (started_at). claim_seq as jobq.claim.
-- Returns the claimed jobs (job), then for each queue that gave fewer than it was offered a row without
-- a job: flow_state 'empty' (nothing more to claim), or the policy that held jobs back ('paused',
-- 'concurrency', 'rate', 'group') with flow_held, how many (at most what was offered), and for 'rate'
-- flow_wait_ms, when the window next has room. Queues not reached (p_limit taken) get no row.
CREATE OR REPLACE FUNCTION jobq.claim_limited(p_worker text, p_queues text[], p_limit integer, p_kinds text[], p_now timestamp with time zone, p_async boolean DEFAULT false)
 RETURNS TABLE(job jobq.jobs, flow_queue text, flow_state text, flow_wait_ms double precision, flow_held integer)
 LANGUAGE plpgsql
 SET enable_bitmapscan TO 'off'
 SET enable_sort TO 'off'
 SET enable_seqscan TO 'off'
 SET jit TO 'off'
AS $function$
DECLARE
  v_base bigint := nextval('jobq.claims') * 1048576;
  v_n integer := 0;
  v_q text;
  v_pol jobq.queues;
  v_now timestamptz;
  v_policy boolean;
  v_share integer;
  v_allowed integer;
  v_reason text;
  v_count integer;
  v_ids uuid[];
  v_more integer;
  v_took integer;
  v_blocked boolean;
  v_cursor text;
  v_g text;
  v_id uuid;
  v_running jsonb;
  v_progress boolean;
  v_wraps integer;
  v_ungrouped boolean;
  v_idle_at timestamptz;
BEGIN
  IF p_async THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  INSERT INTO jobq.queues (name)
  SELECT q FROM unnest(p_queues) q
   WHERE NOT EXISTS (SELECT 1 FROM jobq.queues e WHERE e.name = q)
   ORDER BY q
  ON CONFLICT (name) DO NOTHING;
  PERFORM 1 FROM jobq.queues WHERE name = ANY(p_queues) ORDER BY name FOR UPDATE;
  FOREACH v_q IN ARRAY p_queues LOOP
    EXIT WHEN v_n >= p_limit;
    SELECT * INTO v_pol FROM jobq.queues WHERE name = v_q;
    v_now := coalesce(p_now, clock_timestamp());
    v_policy := v_pol.paused OR v_pol.concurrency IS NOT NULL OR v_pol.rate_limit IS NOT NULL OR v_pol.group_concurrency IS NOT NULL;
    v_share := p_limit - v_n;
    v_allowed := v_share;
    v_reason := NULL;
    IF v_pol.paused THEN
      v_allowed := 0;
      v_reason := 'paused';
    END IF;
    IF v_allowed > 0 AND v_pol.concurrency IS NOT NULL THEN
      SELECT count(*) INTO v_count FROM jobq.jobs WHERE locked_at IS NOT NULL AND queue = v_q;
      IF v_pol.concurrency - v_count < v_allowed THEN
        v_allowed := greatest(0, v_pol.concurrency - v_count);
        v_reason := 'concurrency';
      END IF;
    END IF;
    IF v_allowed > 0 AND v_pol.rate_limit IS NOT NULL THEN
      DELETE FROM jobq.queue_starts WHERE queue = v_q AND at <= v_now - v_pol.rate_period_ms * interval '1 millisecond';
      SELECT coalesce(sum(n), 0) INTO v_count FROM jobq.queue_starts WHERE queue = v_q;
      IF v_pol.rate_limit - v_count < v_allowed THEN
        v_allowed := greatest(0, v_pol.rate_limit - v_count);
        v_reason := 'rate';
      END IF;
    END IF;
    v_ids := '{}';
    v_more := NULL;
    v_blocked := false;
    IF EXISTS (SELECT 1 FROM jobq.jobs WHERE queue = v_q AND status IN ('queued', 'retrying') AND group_key IS NOT NULL) THEN
      IF v_allowed > 0 THEN
        IF v_pol.group_concurrency IS NOT NULL THEN
          SELECT coalesce(jsonb_object_agg(r.group_key, r.n), '{}'::jsonb) INTO v_running
            FROM (SELECT j.group_key, count(*) AS n FROM jobq.jobs j
                   WHERE j.locked_at IS NOT NULL AND j.queue = v_q AND j.group_key IS NOT NULL
                   GROUP BY j.group_key) r;
        END IF;
        v_cursor := v_pol.group_cursor;
        v_progress := false;
        v_wraps := 0;
        v_idle_at := v_pol.ungrouped_idle_at;
        v_ungrouped := v_policy AND (v_idle_at IS NULL OR v_idle_at <= v_now - interval '1 second');
        WHILE cardinality(v_ids) < v_allowed LOOP
          IF v_cursor IS NULL THEN
            v_cursor := '';
            IF v_ungrouped THEN
              SELECT j.id INTO v_id FROM jobq.jobs j
               WHERE j.status IN ('queued', 'retrying') AND j.run_at <= v_now AND j.queue = v_q AND j.group_key IS NULL
                 AND (p_kinds IS NULL OR j.kind = ANY(p_kinds)) AND j.id <> ALL(v_ids)
               ORDER BY j.priority DESC, j.run_at, j.id
               LIMIT 1
               FOR UPDATE SKIP LOCKED;
              IF FOUND THEN
                v_ids := v_ids || v_id;
                v_progress := true;
                v_idle_at := NULL;
              ELSE
                v_ungrouped := false;
                v_idle_at := v_now;
              END IF;
              CONTINUE;
            END IF;
          END IF;
          SELECT j.group_key INTO v_g FROM jobq.jobs j
           WHERE j.queue = v_q AND j.group_key > v_cursor AND j.status IN ('queued', 'retrying') AND j.group_key IS NOT NULL
           ORDER BY j.queue, j.group_key
           LIMIT 1;
          IF v_g IS NULL THEN
            EXIT WHEN v_wraps > 0 AND NOT v_progress;
            v_wraps := v_wraps + 1;
            v_progress := false;
            v_cursor := NULL;
            CONTINUE;
          END IF;
          v_cursor := v_g;
          IF v_pol.group_concurrency IS NOT NULL AND coalesce((v_running ->> v_g)::integer, 0) >= v_pol.group_concurrency THEN
            v_blocked := true;
            CONTINUE;
          END IF;
          SELECT j.id INTO v_id FROM jobq.jobs j
           WHERE j.queue = v_q AND j.group_key = v_g AND j.status IN ('queued', 'retrying') AND j.run_at <= v_now
             AND (p_kinds IS NULL OR j.kind = ANY(p_kinds)) AND j.id <> ALL(v_ids)
           ORDER BY j.queue, j.group_key, j.priority DESC, j.run_at, j.id
           LIMIT 1
           FOR UPDATE SKIP LOCKED;
          IF FOUND THEN
            v_ids := v_ids || v_id;
            v_progress := true;
            IF v_pol.group_concurrency IS NOT NULL THEN
              v_running := jsonb_set(v_running, ARRAY[v_g], to_jsonb(coalesce((v_running ->> v_g)::integer, 0) + 1));
            END IF;
          END IF;
        END LOOP;
        UPDATE jobq.queues SET group_cursor = nullif(v_cursor, ''), ungrouped_idle_at = v_idle_at WHERE name = v_q;
      END IF;
      IF cardinality(v_ids) < v_share AND (cardinality(v_ids) = v_allowed OR v_blocked) THEN
        SELECT count(*) INTO v_more FROM (
          SELECT 1 FROM jobq.jobs j
           WHERE j.queue = v_q AND j.status IN ('queued', 'retrying') AND j.group_key IS NOT NULL AND j.run_at <= v_now
             AND (p_kinds IS NULL OR j.kind = ANY(p_kinds)) AND j.id <> ALL(v_ids)
           LIMIT v_share - cardinality(v_ids)
        ) w;
      END IF;
    ELSIF v_policy THEN
      -- Candidates for the whole share, in claim order, and the first v_allowed of them claimed; the
      -- others' locks go with this transaction, and claimers of this queue wait for its row anyway.
      SELECT coalesce(array_agg(c.id ORDER BY c.priority DESC, c.run_at, c.id), '{}') INTO v_ids FROM (
        SELECT j.id, j.priority, j.run_at FROM jobq.jobs j
         WHERE j.status IN ('queued', 'retrying') AND j.run_at <= v_now AND j.queue = v_q AND j.group_key IS NULL
           AND (p_kinds IS NULL OR j.kind = ANY(p_kinds))
         ORDER BY j.priority DESC, j.run_at, j.id
         LIMIT v_share
         FOR UPDATE SKIP LOCKED
      ) c;
      v_more := cardinality(v_ids) - least(cardinality(v_ids), v_allowed);
      v_ids := v_ids[1:v_allowed];
    END IF;
    v_took := cardinality(v_ids);
    IF v_took > 0 THEN
      RETURN QUERY
      UPDATE jobq.jobs j
         SET status = 'running', attempts = j.attempts + 1, locked_by = p_worker, locked_at = v_now, updated_at = v_now,
             started_at = v_now, claim_seq = v_base + v_n + t.n
        FROM unnest(v_ids) WITH ORDINALITY AS t(id, n)
       WHERE j.id = t.id
      RETURNING j, NULL::text, NULL::text, NULL::double precision, NULL::integer;
      v_n := v_n + v_took;
      IF v_pol.rate_limit IS NOT NULL THEN
        INSERT INTO jobq.queue_starts (queue, at, n) VALUES (v_q, v_now, v_took);
      END IF;
    END IF;
    IF v_took < v_share THEN
      job := NULL;
      flow_queue := v_q;
      flow_wait_ms := NULL;
      flow_held := NULL;
      IF coalesce(v_more, 0) > 0 THEN
        flow_state := CASE WHEN v_took < v_allowed THEN 'group' ELSE v_reason END;
        flow_held := v_more;
        IF flow_state = 'rate' THEN
          SELECT greatest(1, extract(epoch FROM min(s.at) + v_pol.rate_period_ms * interval '1 millisecond' - v_now) * 1000)
            INTO flow_wait_ms FROM jobq.queue_starts s WHERE s.queue = v_q;
        END IF;
      ELSE
        flow_state := 'empty';
      END IF;
      RETURN NEXT;
    END IF;
  END LOOP;
END
$function$;

-- jobq.settle_children_of: the children of parent p_id, which has just settled as p_status at v_now. The
-- trigger jobs_settle_children (migration 0015; docs/flows.md) runs it when a job that has children
-- (has_children) reaches a terminal status, inside the statement that took it there, and the log
-- store's triggers (log/parents.sql) when a log job that children wait for does: the children it releases are released in the same transaction as the parent's completion, and
-- a crash before the commit undoes both. Each query of a PL/pgSQL function takes a snapshot of its own,
-- so the edges it reads include those of an enqueue that committed while the completion waited for the
-- parent's row lock (the enqueue holds it until it commits: docs/flows.md, "Why no child waits forever").
-- - Takes (deletes) the parent's edges, and locks the waiting children in id order (two parents settling
--   at once, with children in common, then lock them in one order: no deadlock).
-- - Succeeded, or failed/cancelled for a child with on_parent_failure 'run': the parent is settled for the
--   child; its last unsettled parent makes it queued, runnable from the later of its run_at and now.
-- - Failed or cancelled, for a child with 'cancel': the child is cancelled, and with it, transitively,
--   its waiting descendants that say 'cancel', in one recursive query (no trigger recursion: a deep
--   chain cannot exhaust the stack). Each of those that has children of its own fires this trigger in
--   turn, once, when the cancelling statement ends: it finds its 'cancel' children cancelled already
--   and settles its 'run' children. So calls nest two deep at most.
-- "Now" is when the parent settled (its updated_at: the statement's clock, which tests fake).
-- Released children wake their queue's workers (channel jobq_jobs, payload as src/queue/channels.ts
-- jobsPayloadSql). While a listener of job events is live (jobq.event_listeners), the children released
-- and cancelled are published on jobq_events as src/queue/events/types.ts describes ({"n", "e"}, chunks
-- of at most 7,900 bytes): the one place an event is published from inside a transaction, because no
-- process knows of these changes.
CREATE OR REPLACE FUNCTION jobq.settle_children_of(p_id uuid, p_status text, v_now timestamp with time zone)
 RETURNS void
 LANGUAGE plpgsql
AS $function$
DECLARE
  v_at text := to_char(v_now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
  v_children uuid[];
  v_wake text[];
  v_events text[];
  v_cancelled text[];
  v_event text;
  v_chunk text := '';
BEGIN
  WITH taken AS (
    DELETE FROM jobq.dependencies WHERE parent_id = p_id RETURNING child_id
  )
  SELECT array_agg(child_id ORDER BY child_id) INTO v_children FROM taken;
  IF v_children IS NULL THEN
    RETURN;
  END IF;
  PERFORM 1 FROM jobq.jobs WHERE id = ANY(v_children) AND status = 'waiting' ORDER BY id FOR NO KEY UPDATE;

  WITH settled AS (
    UPDATE jobq.jobs c
       SET pending_parents = c.pending_parents - 1,
           status = CASE WHEN c.pending_parents = 1 THEN 'queued' ELSE 'waiting' END::jobq.job_status,
           run_at = CASE WHEN c.pending_parents = 1 THEN greatest(c.run_at, v_now) ELSE c.run_at END,
           updated_at = v_now
     WHERE c.id = ANY(v_children) AND c.status = 'waiting' AND (p_status = 'succeeded' OR c.on_parent_failure = 'run')
    RETURNING c.id, c.queue, c.kind, c.group_key, c.status, c.attempts, c.run_at
  )
  SELECT array_agg(DISTINCT CASE WHEN group_key IS NULL THEN queue ELSE queue || ' grouped' END) FILTER (WHERE run_at <= v_now),
         array_agg(json_build_object('type', 'released', 'id', id, 'queue', queue, 'kind', kind, 'group', group_key,
                                     'status', status, 'attempt', attempts, 'at', v_at)::text ORDER BY id)
    INTO v_wake, v_events
    FROM settled
   WHERE status = 'queued';
  IF v_wake IS NOT NULL THEN
    PERFORM pg_notify('jobq_jobs', q) FROM unnest(v_wake) AS q;
  END IF;

  IF p_status <> 'succeeded' THEN
    WITH RECURSIVE doomed(id, via, via_status) AS (
      SELECT c.id, p_id, p_status FROM jobq.jobs c
       WHERE c.id = ANY(v_children) AND c.status = 'waiting' AND c.on_parent_failure = 'cancel'
      UNION
      SELECT g.id, x.id, 'cancelled'::text FROM doomed x
        JOIN jobq.dependencies d ON d.parent_id = x.id
        JOIN jobq.jobs g ON g.id = d.child_id
       WHERE g.status = 'waiting' AND g.on_parent_failure = 'cancel'
    ), cancelled AS (
      UPDATE jobq.jobs j
         SET status = 'cancelled', finished_at = v_now, updated_at = v_now,
             last_error = 'cancelled: parent ' || doomed.via || ' ended ' || doomed.via_status
        FROM doomed
       WHERE j.id = doomed.id AND j.status = 'waiting'
      RETURNING j.id, j.queue, j.kind, j.group_key, j.attempts
    )
    SELECT array_agg(json_build_object('type', 'cancelled', 'id', id, 'queue', queue, 'kind', kind, 'group', group_key,
                                       'status', 'cancelled', 'attempt', attempts, 'at', v_at)::text ORDER BY id)
      INTO v_cancelled
      FROM cancelled;
    v_events := coalesce(v_events, '{}') || coalesce(v_cancelled, '{}');
  END IF;

  IF cardinality(v_events) > 0 AND EXISTS (SELECT 1 FROM jobq.event_listeners WHERE expires_at > now()) THEN
    FOREACH v_event IN ARRAY v_events LOOP
      IF v_chunk <> '' AND octet_length(v_chunk) + octet_length(v_event) + 3 > 7900 THEN
        PERFORM pg_notify('jobq_events', '{"n":' || nextval('jobq.event_ids') || ',"e":[' || v_chunk || ']}');
        v_chunk := '';
      END IF;
      v_chunk := CASE WHEN v_chunk = '' THEN v_event ELSE v_chunk || ',' || v_event END;
    END LOOP;
    PERFORM pg_notify('jobq_events', '{"n":' || nextval('jobq.event_ids') || ',"e":[' || v_chunk || ']}');
  END IF;
END
$function$;

-- The trigger jobs_settle_children: jobq.settle_children_of for the job that settled, at its updated_at.
CREATE OR REPLACE FUNCTION jobq.settle_children()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
  PERFORM jobq.settle_children_of(NEW.id, NEW.status::text, NEW.updated_at);
  RETURN NULL;
END
$function$;
