-- POST /v1/jobs/{id}/retry of a failed job, graphile-worker 0.18's way: WorkerUtils rescheduleJobs
-- (dist/workerUtils.js: the SQL function reschedule_jobs) with run_at now and attempts 0. Called as SQL:
-- WorkerUtils itself turns `attempts: 0` into NULL (`options.attempts || null`), which leaves a failed
-- job failed.
\set i random(1, :nids)
select * from "graphile_worker".reschedule_jobs(
  array[(select id from "graphile_worker".bench_ids where i = :i)]::bigint[],
  run_at := now(),
  priority := null::int,
  attempts := 0,
  max_attempts := null::int
);
