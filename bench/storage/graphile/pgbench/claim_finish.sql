-- graphile-worker 0.18's hot path under its "best" preset (bench/systems/graphile.ts), statement for
-- statement: the local queue's batch fetch, dist/sql/getJobs.js `batchGetJobs` as it builds it for a
-- batch above 1 without flags or Node time (named-queue strategy 2, one job per named queue kept; the
-- task ids it passes are [1], bench_noop's), wrapped only to \gset the ids it returns (its `returning *`
-- returns j's columns too, so the id is named apart); then the batched completion of jobs without a
-- named queue, dist/sql/completeJobs.js `batchCompleteJobs`.
-- The LIMIT is the literal 50, the contract's :batch (measure.ts BATCH), because graphile writes its
-- batch size as a literal into a named prepared statement: as a parameter, PostgreSQL re-plans it at
-- every execution (the generic plan of LIMIT $n hash-joins the whole table), a cost graphile never pays.
-- Unlike this script, the real worker fetches its local queue's size (500) at once and deletes in one
-- statement only the jobs that finish in the same tick (at most its concurrency).
with j_raw as (
  select jobs.job_queue_id, jobs.priority, jobs.run_at, jobs.id
    from "graphile_worker"._private_jobs as jobs
    where jobs.is_available = true
    and run_at <= now()
    and task_id = any('{1}'::int[])
    and (
      jobs.job_queue_id is null
      or
      jobs.job_queue_id in (
        select id
        from "graphile_worker"._private_job_queues as job_queues
        where job_queues.is_available = true
        for update
        skip locked
      )
    )
    order by priority asc, run_at asc
    limit 50
    for update
    skip locked
),
j as (
  select distinct on (job_queue_id, case when job_queue_id is null then id end)
      job_queue_id, priority, run_at, id
    from j_raw
    order by job_queue_id, case when job_queue_id is null then id end, priority asc, run_at asc
),
q as (
  update "graphile_worker"._private_job_queues as job_queues
    set
      locked_by = ('pgbench-' || :client_id)::text,
      locked_at = now()
    from j
    where job_queues.id = j.job_queue_id
),
claimed as (
  update "graphile_worker"._private_jobs as jobs
    set
      attempts = jobs.attempts + 1,
      locked_by = ('pgbench-' || :client_id)::text,
      locked_at = now()
    from j
    where jobs.id = j.id
    returning *, jobs.id as claimed_id
)
select coalesce(array_agg(claimed_id), '{}') as ids from claimed \gset
delete from "graphile_worker"._private_jobs as jobs
using unnest(:ids::bigint[]) n(n)
where id = n;
