-- GET /v1/jobs?limit=50 and its next page's closest equivalent in graphile-worker 0.18, which has no
-- listing call: its public view graphile_worker.jobs newest first by id (the primary key walked
-- backwards), the next page after the first's last id. Lists only jobs not yet completed.
select id as last from (select id from "graphile_worker".jobs order by id desc limit 50) p order by id limit 1 \gset
select * from "graphile_worker".jobs where id < :last::bigint order by id desc limit 51;
