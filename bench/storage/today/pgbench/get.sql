-- GET /v1/jobs/{id}: the whole row, by primary key.
\set i random(1, :nids)
SELECT * FROM jobq.jobs WHERE id = (SELECT id FROM jobq.bench_ids WHERE i = :i);
