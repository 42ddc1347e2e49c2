-- GET /v1/jobs?limit=50 and its next page: newest first by id (the primary key walked backwards).
SELECT id AS last FROM (SELECT id FROM jobq.jobs ORDER BY id DESC LIMIT 50) p ORDER BY id LIMIT 1 \gset
SELECT * FROM jobq.jobs WHERE id < :last::uuid ORDER BY id DESC LIMIT 51;
