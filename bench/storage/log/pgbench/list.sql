-- GET /v1/jobs?limit=50, newest first by id across the log and the scheduled entries, each job's
-- status derived (jobq.log_job), then the next page after its last job (LogQueue.list).
SELECT count(j.status) AS n, (array_agg(j.id ORDER BY j.id))[1] AS cur FROM (
  SELECT id FROM (SELECT id FROM jobq.log_all WHERE first ORDER BY id DESC LIMIT 50) a
  UNION ALL SELECT id FROM (SELECT id FROM jobq.log_scheduled WHERE first ORDER BY id DESC LIMIT 50) s
  ORDER BY id DESC LIMIT 50) ids, LATERAL jobq.log_job(ids.id) j \gset
SELECT j.* FROM (
  SELECT id FROM (SELECT id FROM jobq.log_all WHERE first AND id < :cur::uuid ORDER BY id DESC LIMIT 50) a
  UNION ALL SELECT id FROM (SELECT id FROM jobq.log_scheduled WHERE first AND id < :cur::uuid ORDER BY id DESC LIMIT 50) s
  ORDER BY id DESC LIMIT 50) ids, LATERAL jobq.log_job(ids.id) j ORDER BY j.id DESC;
