/**
 * Listing jobs, newest first, with every page's cost bounded whatever the filter (issue #14, item 5).
 *
 * A filter that matches few rows (a kind with no job among millions of finished ones) used to scan the
 * whole table for one page. There is no index per filter, on purpose: each would cost every enqueue
 * and every transition one more index entry. Instead a page examines at most `scanRows` rows after its
 * cursor and answers with what it found there; when the scan stopped before the end of the table,
 * `nextCursor` continues after the last row examined, so a page may hold fewer jobs than asked for (even
 * none) and still have a next page. Walk the pages until `nextCursor` is null.
 *
 * A page also stops before the job that would take its payloads, results and errors past `pageBytes`
 * (the first job is always included), so 500 jobs of 1 MiB each never make one 500 MiB response.
 */
import { JobqError } from '../errors.ts';
import { PAGE_SIZE } from '../limits.ts';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { toJob } from './rows.ts';
import type { ListParams, ListRow } from './statements/reads.ts';
import { type Job, JOB_STATUSES, type JobPage, type ListFilter } from './types.ts';

/** Rows a page examines at most (about 10 ms on a warm table of 2,000,000 jobs). */
export const LIST_SCAN_ROWS = 10_000;
/** Bytes of payload, result and errors a page holds at most (one larger job still makes a page). */
export const PAGE_BYTES = 8 * 1024 * 1024;
export const MAX_PAGE_SIZE = PAGE_SIZE.max;

export interface ListBounds {
  scanRows: number;
  pageBytes: number;
}

/**
 * The statement's parameters for this filter (its `limit` is the page size plus one, which says
 * whether more follow); throws validation_failed on a bad filter.
 */
export function listParams(filter: ListFilter, bounds: ListBounds): ListParams {
  const limit = filter.limit ?? PAGE_SIZE.default;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new JobqError('validation_failed', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}`, [{ path: '/limit', message: `must be 1..${MAX_PAGE_SIZE}` }]);
  }
  if (filter.status !== undefined && !JOB_STATUSES.includes(filter.status)) {
    throw new JobqError('validation_failed', `unknown status "${filter.status}"`, [{ path: '/status', message: `must be one of ${JOB_STATUSES.join(', ')}` }]);
  }
  const after = filter.cursor === undefined ? null : decodeCursor(filter.cursor);
  return {
    status: filter.status ?? null, kind: filter.kind ?? null, queue: filter.queue ?? null, group: filter.group ?? null, after,
    limit: limit + 1, scanRows: bounds.scanRows, pageBytes: bounds.pageBytes,
  };
}

/** The page the rows make (they come newest first, see statements/reads.ts `list`). */
export function pageOf(rows: ListRow[], limit: number): JobPage {
  const jobs = [];
  for (const row of rows) {
    if (row.hit) {
      // More matching jobs follow, but not on this page (it is full, or this one would pass the byte cap).
      if (jobs.length === limit || !row.fits) return { jobs, nextCursor: encodeCursor(jobs[jobs.length - 1]!.id) };
      jobs.push(toJob(row));
    }
    // The scan used its budget here: the next page continues after this row.
    if (row.scan_end) return { jobs, nextCursor: encodeCursor(row.id) };
  }
  return { jobs, nextCursor: null };
}

/**
 * The page of a filter by idempotency key: the job holding the key when it matches the other filters
 * (and lies after the cursor), else none; never a next page. The key's unique index answers it.
 */
export function keyedPage(job: Job | null, params: ListParams): JobPage {
  const matches =
    job !== null && (params.status === null || job.status === params.status) && (params.kind === null || job.kind === params.kind) &&
    (params.queue === null || job.queue === params.queue) && (params.group === null || job.group === params.group) &&
    (params.after === null || job.id < params.after);
  return { jobs: matches ? [job] : [], nextCursor: null };
}
