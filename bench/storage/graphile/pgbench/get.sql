-- GET /v1/jobs/{id}'s closest equivalent in graphile-worker 0.18, which has no "get a job" call: its
-- public view graphile_worker.jobs (the job row with its task identifier and queue name) by id. Only
-- jobs not yet completed can be found: completion deletes the row.
\set i random(1, :nids)
select * from "graphile_worker".jobs where id = (select id from "graphile_worker".bench_ids where i = :i);
