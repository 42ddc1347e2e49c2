/** A handler's progress report, stored on its job (src/queue/progress.ts). */
import { HELD } from './guards.ts';
import { statement } from './statement.ts';

export interface ProgressParams {
  id: string;
  /** Only while this worker holds the job; null: any. */
  workerId: string | null;
  /** Only under this claim; null: any. */
  claimSeq: number | null;
  /** `{value, current?, total?, message?, at}` as JSON. */
  progress: string;
}

/**
 * Stores the progress of a running job, only while the claim that reports it still holds the job
 * (guards.ts HELD): a report from a worker that lost the job changes nothing. The row's status and
 * updated_at stay (progress is not a transition), and no indexed column changes, so the update can
 * stay on its page (HOT). Returns what the `progress` event tells of the job.
 */
export const setProgress = statement<ProgressParams, { queue: string; kind: string; group_key: string | null; attempts: number }>(
  'set_progress',
  `UPDATE jobq.jobs SET progress = :progress::jsonb
    WHERE ${HELD}
   RETURNING queue, kind, group_key, attempts`,
);
