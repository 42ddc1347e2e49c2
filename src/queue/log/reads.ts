/**
 * The log store's reads (migrations/0019_log.sql, log/jobs.sql): a job as the log derives it,
 * listings' candidates, counts per status and per queue, and which ids it holds. Its writes are
 * statements.ts.
 */
import { NOW, statement } from '../statements/statement.ts';

/** What the derivation of a job (jobq.log_job, jobq.log_jobs) gives. */
export interface DerivedRow {
  id: string;
  queue: string;
  kind: string;
  payload: unknown;
  /** `moved`: the job is a row now (jobq.log_to_rows): reads take the row. */
  status: 'queued' | 'retrying' | 'running' | 'succeeded' | 'failed_permanent' | 'cancelled' | 'moved';
  attempts: number;
  max_attempts: number;
  run_at: Date;
  timeout_ms: number | null;
  backoff_ms: number | null;
  locked_by: string | null;
  locked_at: Date | null;
  /** When its attempt started: the claim, or the worker's start for a job that waited in its buffer (migrations/0022). */
  started_at: Date | null;
  /** A running job's claim: -(batch_id * 1024 + its place in the batch); null otherwise. */
  claim_seq: number | null;
  result: unknown;
  created_at: Date;
  finished_at: Date | null;
  pos: string;
  errors: { at: string; attempt: number; error: string }[];
  cancel_requested: boolean;
  progress: unknown;
}

export const get = statement<{ id: string }, DerivedRow>('log_get', 'SELECT * FROM jobq.log_job(:id::uuid)');

export interface LogListParams {
  after: string | null;
  queue: string | null;
  kind: string | null;
  limit: number;
  pageBytes: number;
  /** Jobs a page examines at most in each of the log and its scheduled entries (list.ts LIST_SCAN_ROWS). */
  scanRows: number;
}

/** A row of `list`: a candidate job; or, when there is none, one row of nulls but `edge`. */
export type LogListRow = { edge: string | null } & ((DerivedRow & { fits: boolean }) | { [C in keyof DerivedRow | 'fits']: null });

/** Whether a row of `list` is a job (not the row of nulls that only says the edge). */
export const isCandidate = (r: LogListRow): r is DerivedRow & { fits: boolean; edge: string | null } => r.id !== null;

/**
 * A listing's candidates from the log: the newest first jobs (by id, below `after`) of `queue` and
 * `kind` when given, among the `scanRows` newest of the log (hot and archived) and of the scheduled
 * entries, derived in one call. `edge` (on every row) is down to where the candidates are complete:
 * the last one when there are `limit`, or higher, where a scan stopped having used its budget; null
 * when they are complete all the way (jobq.log_list_ids, which reads the log's generations newest
 * first, only as far as the page needs).
 * Once their payloads, results and errors add up to `pageBytes`, later ones come back without those
 * (`fits` false: the caller ends the page before them), as the rows' listing does (statements/reads.ts).
 */
export const list = statement<LogListParams, LogListRow>(
  'log_list',
  `SELECT c.edge, w.id, w.queue, w.kind, w.payload, w.status, w.attempts, w.max_attempts, w.run_at, w.timeout_ms, w.backoff_ms,
          w.locked_by, w.locked_at, w.result, w.created_at, w.finished_at, w.pos, w.errors, w.cancel_requested, w.progress,
          w.trace_context, w.started_at, w.claim_seq, w.fits
     FROM jobq.log_list_ids(:after::uuid, :queue::text, :kind::text, :limit::int, :scanRows::int) c
     LEFT JOIN LATERAL (
       SELECT m.id, m.queue, m.kind, CASE WHEN m.fits THEN m.payload END AS payload, m.status, m.attempts, m.max_attempts, m.run_at,
              m.timeout_ms, m.backoff_ms, m.locked_by, m.locked_at, CASE WHEN m.fits THEN m.result END AS result, m.created_at,
              m.finished_at, m.pos, CASE WHEN m.fits THEN m.errors ELSE '[]' END AS errors, m.cancel_requested, m.progress,
              m.trace_context, m.started_at, m.claim_seq, m.fits
         FROM (
           SELECT d.*, d.upto = d.size OR d.upto <= :pageBytes AS fits
             FROM (
               SELECT x.*, sum(x.size) OVER (ORDER BY x.id DESC) AS upto
                 FROM (
                   SELECT j.*, 512 + octet_length(j.payload::text) + coalesce(octet_length(j.result::text), 0) + octet_length(j.errors::text) AS size
                     FROM jobq.log_jobs(c.ids) j
                 ) x
             ) d
         ) m
     ) w ON true
    ORDER BY w.id DESC`,
);

/**
 * The log's jobs counted by queue, kind and status (stats; a scan of the log, as the row store's
 * counts scan its table), and the age of the oldest runnable one of each (seconds). A job is its newest
 * entry (scheduled, else logged); a logged entry's status is its fail row's, else succeeded when a done
 * row names it, running when an open batch holds it (jobq.log_batch_open of the few open batches),
 * else retrying for a later attempt, queued for the first.
 */
export const counts = statement<{ now: Date | null }, { queue: string; kind: string; status: DerivedRow['status']; n: number; age: number | null }>(
  'log_counts',
  `WITH newest AS (
     SELECT l.pos, l.queue, l.kind, l.run_at, l.attempt FROM jobq.log_all l
      WHERE NOT EXISTS (SELECT FROM jobq.log_all n WHERE n.id = l.id AND n.pos > l.pos)
        AND NOT EXISTS (SELECT FROM jobq.log_scheduled s WHERE s.id = l.id)
   ),
   done AS (SELECT unnest(d.pos) AS pos FROM jobq.log_done_all d),
   running AS (
     SELECT o.pos FROM jobq.log_batch b, LATERAL jobq.log_batch_open(b.batch_id) o
      WHERE b.lost_at IS NULL
        AND b.n > coalesce((SELECT sum(cardinality(d.pos)) FROM jobq.log_done d WHERE d.batch_id = b.batch_id), 0)
                  + (SELECT count(*) FROM jobq.log_fail f WHERE f.batch_id = b.batch_id)
   ),
   derived AS (
     SELECT n.queue, n.kind, n.run_at,
            CASE WHEN f.status IS NOT NULL THEN f.status WHEN d.pos IS NOT NULL THEN 'succeeded'
                 WHEN r.pos IS NOT NULL THEN 'running' WHEN n.attempt > 1 THEN 'retrying' ELSE 'queued' END AS status
       FROM newest n
       LEFT JOIN jobq.log_fail_all f ON f.pos = n.pos
       LEFT JOIN done d ON d.pos = n.pos
       LEFT JOIN running r ON r.pos = n.pos
     UNION ALL
     SELECT s.queue, s.kind, s.run_at, CASE WHEN s.attempt > 1 THEN 'retrying' ELSE 'queued' END FROM jobq.log_scheduled s
   )
   SELECT queue, kind, status, count(*)::int AS n,
          extract(epoch FROM ${NOW} - min(run_at) FILTER (WHERE status IN ('queued', 'retrying') AND run_at <= ${NOW}))::float8 AS age
     FROM derived GROUP BY queue, kind, status`,
);

/** The log's queues (those with cursors) by name after `after`, with their unfinished jobs (jobq.log_queue_counts). */
export const queueCounts = statement<{ name: string | null; after: string | null; now: Date | null }, { name: string; depth: number; later: number; running: number; oldest_age: number | null }>(
  'log_queue_counts',
  `SELECT c.queue AS name, n.* FROM (SELECT DISTINCT queue FROM jobq.log_cursor
                                      WHERE (:name::text IS NULL OR queue = :name) AND (:after::text IS NULL OR queue > :after)) c,
          LATERAL jobq.log_queue_counts(c.queue, ${NOW}) n
    ORDER BY c.queue`,
);

/**
 * The log's jobs finished per queue and minute from `since` on (the dashboard's throughput chart, as
 * the rows' finishedPerMinute): succeeded from the done rows (a batch's positions each), failed and
 * cancelled from the fail rows that end a job; by the time indexes of both, so its cost is the window's.
 */
export const finishedPerMinute = statement<{ since: Date }, { queue: string; minute: Date; status: 'succeeded' | 'failed_permanent' | 'cancelled'; n: number }>(
  'log_finished_per_minute',
  `SELECT b.queue, date_trunc('minute', d.finished_at) AS minute, 'succeeded' AS status, sum(cardinality(d.pos))::int AS n
     FROM jobq.log_done_all d JOIN jobq.log_batch_all b ON b.batch_id = d.batch_id
    WHERE d.finished_at >= :since
    GROUP BY 1, 2
   UNION ALL
   SELECT l.queue, date_trunc('minute', f.at), f.status, count(*)::int
     FROM jobq.log_fail_all f JOIN jobq.log_all l ON l.id = f.id AND l.pos = f.pos
    WHERE f.status IN ('failed_permanent', 'cancelled') AND f.at >= :since
    GROUP BY 1, 2, 3`,
);
