-- Candidate `ring`: GET /v1/jobs?limit=50 newest first across ready table, leases and history, then
-- the next page after its last job (jobq.lease_list; the Queue asks for one more to know a next page).
SELECT id AS last FROM (SELECT id FROM jobq.lease_list(NULL, 51) LIMIT 50) p ORDER BY id LIMIT 1 \gset
SELECT * FROM jobq.lease_list(:last::uuid, 51);
