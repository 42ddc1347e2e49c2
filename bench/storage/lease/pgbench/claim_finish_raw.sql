-- Candidate `lease`, the statements of claim_finish.sql written out (no plpgsql function, no planner
-- pins), as bench/pgbench/claim_finish_batched.sql writes out today's: what the design's SQL costs
-- apart from the function call. Same transactions: claim (DELETE + one lease row), then one completion.
WITH locked AS (
  SELECT id FROM jobq.jobs
   WHERE status IN ('queued', 'retrying') AND run_at <= now() AND kind = ANY ('{bench_noop}'::text[]) AND group_key IS NULL
   ORDER BY priority DESC, run_at, id
   LIMIT :batch
   FOR UPDATE SKIP LOCKED
), gone AS (
  DELETE FROM jobq.jobs j USING locked WHERE j.id = locked.id RETURNING j.*
), numbered AS (
  SELECT g.*, row_number() OVER (ORDER BY g.priority DESC, g.run_at, g.id) AS n FROM gone g
), lease AS (
  INSERT INTO jobq.leases (id, worker, locked_at, ids, jobs, pending)
  SELECT nextval('jobq.claims'), 'pgbench-' || :client_id, now(), array_agg(c.id ORDER BY c.n),
         array_agg(ROW(c.id, c.queue, c.kind, c.payload, 'running', c.priority, c.attempts + 1, c.max_attempts, c.run_at,
                       c.timeout_ms, 'pgbench-' || :client_id, now(), c.cancel_requested, c.idempotency_key, c.last_error, c.errors,
                       c.backoff_ms, c.result, c.created_at, now(), NULL, now(), NULL,
                       c.group_key, c.singleton_key, c.debounce_key, c.progress, c.depends_on, c.on_parent_failure,
                       c.pending_parents, c.has_children, c.trace_context)::jobq.jobs ORDER BY c.n),
         array_agg(c.n::integer ORDER BY c.n)
    FROM numbered c
  HAVING count(*) > 0
  RETURNING id
)
SELECT coalesce((SELECT id FROM lease), 0) AS lease \gset
WITH l AS (
  DELETE FROM jobq.leases WHERE id = :lease AND worker = 'pgbench-' || :client_id RETURNING jobs, pending
), fin AS (
  SELECT u.* FROM l CROSS JOIN LATERAL unnest(l.jobs) WITH ORDINALITY u WHERE u.ordinality = ANY (l.pending)
)
INSERT INTO jobq.jobs_done
SELECT f.id, f.queue, f.kind, f.payload, 'succeeded', f.priority, f.attempts, f.max_attempts, f.run_at, f.timeout_ms,
       NULL, NULL, f.cancel_requested, f.idempotency_key, f.last_error, f.errors, f.backoff_ms, NULL, f.created_at, now(), now(),
       f.started_at, f.claim_seq, f.group_key, f.singleton_key, f.debounce_key, f.progress, f.depends_on, f.on_parent_failure,
       f.pending_parents, f.has_children, f.trace_context
  FROM fin f;
