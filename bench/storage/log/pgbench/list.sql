-- GET /v1/jobs?limit=50, newest first by id across the log and the scheduled entries, the page's
-- jobs derived in one call (jobq.log_jobs), then the next page after its last job (LogQueue.list).
SELECT count(j.status) AS n, (array_agg(j.id ORDER BY j.id))[1] AS cur FROM jobq.log_jobs(ARRAY(
  SELECT id FROM (
    SELECT id FROM (SELECT id FROM jobq.log_all WHERE first ORDER BY id DESC LIMIT 50) a
    UNION ALL SELECT id FROM (SELECT id FROM jobq.log_scheduled WHERE first ORDER BY id DESC LIMIT 50) s
  ) u ORDER BY id DESC LIMIT 50)) j \gset
SELECT * FROM jobq.log_jobs(ARRAY(
  SELECT id FROM (
    SELECT id FROM (SELECT id FROM jobq.log_all WHERE first AND id < :cur::uuid ORDER BY id DESC LIMIT 50) a
    UNION ALL SELECT id FROM (SELECT id FROM jobq.log_scheduled WHERE first AND id < :cur::uuid ORDER BY id DESC LIMIT 50) s
  ) u ORDER BY id DESC LIMIT 50));
