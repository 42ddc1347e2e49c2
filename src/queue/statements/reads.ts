/** Reads: one job, one page of a listing, and the counts behind stats. */
import type { JobRow } from '../rows.ts';
import type { JobStatus } from '../types.ts';
import { NOW, type NoParams, statement } from './statement.ts';

export const get = statement<{ id: string }, JobRow>('get', `SELECT * FROM jobq.jobs WHERE id = :id`);

/** A job's status alone (why a transition did not apply). */
export const statusOf = statement<{ id: string }, { status: JobStatus }>('status_of', `SELECT status FROM jobq.jobs WHERE id = :id`);

export interface ListParams {
  /** Filters; null: any. */
  status: JobStatus | null;
  kind: string | null;
  queue: string | null;
  group: string | null;
  /** Start after this id (the cursor); null: from the newest. */
  after: string | null;
  /** Rows returned at most (the page size plus one, which says whether more follow). */
  limit: number;
  /** Rows examined at most. */
  scanRows: number;
  /** Bytes of payloads, results and errors at most. */
  pageBytes: number;
}

/** A row of `list`: the job (its large columns null when it did not fit) and where it stands. */
export interface ListRow extends JobRow {
  hit: boolean;
  fits: boolean;
  scan_end: boolean;
}

/**
 * The bytes a column holds once sent as text. For a value stored uncompressed its stored size says so
 * without reading it; a compressed one (a 1 MiB repetitive payload may be stored in 12 kB) is read and
 * measured, so that compression cannot smuggle a huge page past the byte cap.
 */
const WIRE_BYTES = (col: string) =>
  `coalesce(CASE WHEN pg_column_compression(${col}) IS NULL THEN pg_column_size(${col}) ELSE octet_length(${col}::text) END, 0)`;

/**
 * One page of a listing, newest first, keyset-paged on the id (UUID v7 sorts by creation), bounded
 * three ways so that no filter makes it expensive (see list.ts):
 * - it examines at most `scanRows` rows after the cursor `after` (walking the primary key backwards, no
 *   index per filter: those would cost every enqueue and transition an index entry); the row where that
 *   scan stopped comes back marked `scan_end`, so the caller can continue after it;
 * - it returns at most `limit` rows;
 * - once the matching rows' payloads, results and errors add up to `pageBytes`, later rows come back
 *   without those columns (`fits` false): the caller ends the page before them.
 * `hit` says whether a row matches the filters. The cursor is a range condition even without one
 * (`:after IS NULL OR id < :after` would be a filter in a generic plan: the scan would start at the
 * newest row and step over everything newer than the cursor).
 */
export const list = statement<ListParams, ListRow>(
  'list',
  `SELECT w.id, w.queue, w.kind, w.status, w.priority, w.attempts, w.max_attempts, w.run_at, w.timeout_ms,
          w.locked_by, w.locked_at, w.started_at, w.cancel_requested, w.idempotency_key, w.group_key, w.singleton_key, w.debounce_key, w.depends_on, w.on_parent_failure, w.backoff_ms,
          w.created_at, w.updated_at, w.finished_at, w.progress,
          CASE WHEN w.fits THEN w.payload END AS payload, CASE WHEN w.fits THEN w.result END AS result,
          CASE WHEN w.fits THEN w.errors END AS errors, CASE WHEN w.fits THEN w.last_error END AS last_error,
          w.hit, w.fits, w.n = :scanRows AS scan_end
     FROM (
       SELECT m.*, m.upto = m.size OR m.upto <= :pageBytes AS fits
         FROM (
           SELECT h.*, sum(h.size) OVER (ORDER BY h.id DESC) AS upto
             FROM (
               SELECT s.*,
                      CASE WHEN s.hit THEN 512 + ${WIRE_BYTES('s.payload')} + ${WIRE_BYTES('s.result')} + ${WIRE_BYTES('s.errors')}
                                           + coalesce(octet_length(s.last_error), 0)
                           ELSE 0 END AS size
                 FROM (
                   SELECT j.*, row_number() OVER (ORDER BY j.id DESC) AS n,
                          (:status::jobq.job_status IS NULL OR j.status = :status) AND (:kind::text IS NULL OR j.kind = :kind)
                            AND (:queue::text IS NULL OR j.queue = :queue) AND (:group::text IS NULL OR j.group_key = :group) AS hit
                     FROM jobq.jobs j
                    WHERE j.id < coalesce(:after::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff')
                    ORDER BY j.id DESC
                    LIMIT :scanRows
                 ) s
                WHERE s.hit OR s.n = :scanRows
             ) h
         ) m
     ) w
    ORDER BY w.id DESC
    LIMIT :limit`,
);

/** Jobs by queue, kind and status. */
export const counts = statement<NoParams, { queue: string; kind: string; status: JobStatus; n: number }>(
  'counts',
  `SELECT queue, kind, status, count(*)::int AS n FROM jobq.jobs GROUP BY queue, kind, status`,
);

/** Per queue: seconds since its oldest runnable job became runnable (queues with none are absent). */
export const oldestRunnable = statement<{ now: Date | null }, { queue: string; age: number }>(
  'oldest_runnable',
  `SELECT queue, extract(epoch FROM ${NOW} - min(run_at))::float8 AS age
     FROM jobq.jobs
    WHERE status IN ('queued', 'retrying') AND run_at <= ${NOW}
    GROUP BY queue`,
);

/** The job holding an idempotency key (the key is unique among jobs: 0001's index). */
export const byIdempotencyKey = statement<{ key: string }, JobRow>('by_idempotency_key', `SELECT * FROM jobq.jobs WHERE idempotency_key = :key`);

/** A child of a job: what a link to it shows. */
export interface ChildRow {
  id: string;
  queue: string;
  kind: string;
  status: JobStatus;
  created_at: Date;
  finished_at: Date | null;
}

/**
 * The jobs whose depends_on names `parent`, by id, after `after` (the keyset cursor), `limit` at most.
 * `depends_on @> ...` is what the partial GIN index of 0016 answers; the repeated IS NOT NULL lets the
 * planner see that the partial index applies.
 */
export const children = statement<{ parent: string; after: string | null; limit: number }, ChildRow>(
  'children',
  `SELECT id, queue, kind, status, created_at, finished_at
     FROM jobq.jobs
    WHERE depends_on IS NOT NULL AND depends_on @> ARRAY[:parent::uuid]
      AND id > coalesce(:after::uuid, '00000000-0000-0000-0000-000000000000')
    ORDER BY id
    LIMIT :limit`,
);

/**
 * Jobs finished per queue and minute from \`since\` (the start of a minute) on: the dashboard's
 * throughput chart. Walks jobs_finished_idx (status, finished_at) for the three terminal statuses, so
 * its cost is the number of jobs finished in the window (those retention still keeps).
 */
export const finishedPerMinute = statement<{ since: Date }, { queue: string; minute: Date; status: JobStatus; n: number }>(
  'finished_per_minute',
  `SELECT queue, date_trunc('minute', finished_at) AS minute, status, count(*)::int AS n
     FROM jobq.jobs
    WHERE status IN ('succeeded', 'failed_permanent', 'cancelled') AND finished_at >= :since
    GROUP BY 1, 2, 3`,
);
