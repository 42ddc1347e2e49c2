-- POST /v1/jobs/{id}/cancel of a queued job, graphile-worker 0.18's way by id: WorkerUtils
-- permanentlyFailJobs (dist/workerUtils.js: the SQL function permanently_fail_jobs, an UPDATE that sets
-- attempts = max_attempts, skipping a job locked less than 4 hours ago). Its other way, remove_job,
-- deletes by job key, and these jobs have none.
\set i random(1, :nids)
select * from "graphile_worker".permanently_fail_jobs(array[(select id from "graphile_worker".bench_ids where i = :i)]::bigint[], 'cancelled'::text);
