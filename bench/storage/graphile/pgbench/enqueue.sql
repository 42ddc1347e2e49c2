-- One job as graphile-worker 0.18's WorkerUtils.addJob adds it (dist/helpers.js `makeAddJob`: the SQL
-- function add_job with every option NULL but the task and payload); add_jobs, which it calls,
-- sends the wake-up (pg_notify 'jobs:insert').
select * from "graphile_worker".add_job(
  identifier => 'bench_noop'::text,
  payload => '{}'::json,
  queue_name => null::text,
  run_at => null::timestamptz,
  max_attempts => null::int,
  job_key => null::text,
  priority => null::int,
  flags => null::text[],
  job_key_mode => null::text
);
