-- split: GET /v1/jobs/{id}: the hot table, then the history, visiting only the days that can hold the
-- job (it finished at most a day of clock slack before its id was made: setup.sql split_id_time).
\set i random(1, :nids)
SELECT * FROM jobq.jobs WHERE id = (SELECT id FROM jobq.bench_ids WHERE i = :i)
UNION ALL
SELECT * FROM jobq.jobs_done
 WHERE id = (SELECT id FROM jobq.bench_ids WHERE i = :i)
   AND finished_at >= jobq.split_id_time((SELECT id FROM jobq.bench_ids WHERE i = :i)) - interval '1 day'
LIMIT 1;
