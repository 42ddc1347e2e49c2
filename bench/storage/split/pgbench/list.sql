-- split: GET /v1/jobs?limit=50, newest first, over both tables, then the page after it: the real
-- listing (src/queue/statements/reads.ts list, bounded scan and bytes) with jobq.jobs replaced by jobq.jobs
-- UNION ALL jobq.jobs_done, which PostgreSQL answers with a Merge Append of backward id scans. \aset keeps
-- the last row's columns: the second page starts after the 51st row (the API's after the 50th: same cost).
SELECT w.id, w.queue, w.kind, w.status, w.priority, w.attempts, w.max_attempts, w.run_at, w.timeout_ms,
          w.locked_by, w.locked_at, w.started_at, w.cancel_requested, w.idempotency_key, w.group_key, w.singleton_key, w.debounce_key, w.depends_on, w.on_parent_failure, w.backoff_ms,
          w.created_at, w.updated_at, w.finished_at, w.progress,
          CASE WHEN w.fits THEN w.payload END AS payload, CASE WHEN w.fits THEN w.result END AS result,
          CASE WHEN w.fits THEN w.errors END AS errors, CASE WHEN w.fits THEN w.last_error END AS last_error,
          w.hit, w.fits, w.n = 10000 AS scan_end
     FROM (
       SELECT m.*, m.upto = m.size OR m.upto <= 8388608 AS fits
         FROM (
           SELECT h.*, sum(h.size) OVER (ORDER BY h.id DESC) AS upto
             FROM (
               SELECT s.*,
                      CASE WHEN s.hit THEN 512 + coalesce(CASE WHEN pg_column_compression(s.payload) IS NULL THEN pg_column_size(s.payload) ELSE octet_length(s.payload::text) END, 0) + coalesce(CASE WHEN pg_column_compression(s.result) IS NULL THEN pg_column_size(s.result) ELSE octet_length(s.result::text) END, 0) + coalesce(CASE WHEN pg_column_compression(s.errors) IS NULL THEN pg_column_size(s.errors) ELSE octet_length(s.errors::text) END, 0)
                                           + coalesce(octet_length(s.last_error), 0)
                           ELSE 0 END AS size
                 FROM (
                   SELECT j.*, row_number() OVER (ORDER BY j.id DESC) AS n,
                          (NULL::jobq.job_status IS NULL OR j.status = NULL) AND (NULL::text IS NULL OR j.kind = NULL)
                            AND (NULL::text IS NULL OR j.queue = NULL) AND (NULL::text IS NULL OR j.group_key = NULL) AS hit
                     FROM (SELECT * FROM jobq.jobs UNION ALL SELECT * FROM jobq.jobs_done) j
                    WHERE j.id < coalesce(NULL::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff')
                    ORDER BY j.id DESC
                    LIMIT 10000
                 ) s
                WHERE s.hit OR s.n = 10000
             ) h
         ) m
     ) w
    ORDER BY w.id DESC
    LIMIT 51 \aset
SELECT w.id, w.queue, w.kind, w.status, w.priority, w.attempts, w.max_attempts, w.run_at, w.timeout_ms,
          w.locked_by, w.locked_at, w.started_at, w.cancel_requested, w.idempotency_key, w.group_key, w.singleton_key, w.debounce_key, w.depends_on, w.on_parent_failure, w.backoff_ms,
          w.created_at, w.updated_at, w.finished_at, w.progress,
          CASE WHEN w.fits THEN w.payload END AS payload, CASE WHEN w.fits THEN w.result END AS result,
          CASE WHEN w.fits THEN w.errors END AS errors, CASE WHEN w.fits THEN w.last_error END AS last_error,
          w.hit, w.fits, w.n = 10000 AS scan_end
     FROM (
       SELECT m.*, m.upto = m.size OR m.upto <= 8388608 AS fits
         FROM (
           SELECT h.*, sum(h.size) OVER (ORDER BY h.id DESC) AS upto
             FROM (
               SELECT s.*,
                      CASE WHEN s.hit THEN 512 + coalesce(CASE WHEN pg_column_compression(s.payload) IS NULL THEN pg_column_size(s.payload) ELSE octet_length(s.payload::text) END, 0) + coalesce(CASE WHEN pg_column_compression(s.result) IS NULL THEN pg_column_size(s.result) ELSE octet_length(s.result::text) END, 0) + coalesce(CASE WHEN pg_column_compression(s.errors) IS NULL THEN pg_column_size(s.errors) ELSE octet_length(s.errors::text) END, 0)
                                           + coalesce(octet_length(s.last_error), 0)
                           ELSE 0 END AS size
                 FROM (
                   SELECT j.*, row_number() OVER (ORDER BY j.id DESC) AS n,
                          (NULL::jobq.job_status IS NULL OR j.status = NULL) AND (NULL::text IS NULL OR j.kind = NULL)
                            AND (NULL::text IS NULL OR j.queue = NULL) AND (NULL::text IS NULL OR j.group_key = NULL) AS hit
                     FROM (SELECT * FROM jobq.jobs UNION ALL SELECT * FROM jobq.jobs_done) j
                    WHERE j.id < coalesce(:id::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff')
                    ORDER BY j.id DESC
                    LIMIT 10000
                 ) s
                WHERE s.hit OR s.n = 10000
             ) h
         ) m
     ) w
    ORDER BY w.id DESC
    LIMIT 51;
