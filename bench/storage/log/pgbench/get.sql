-- GET /v1/jobs/{id}: the job's newest entry and its derived status (jobq.log_job: the scheduled
-- entry, else the newest log entry, its fail row, its window and batch, the batch's done rows).
\set i random(1, :nids)
SELECT * FROM jobq.log_job((SELECT id FROM jobq.bench_ids WHERE i = :i));
