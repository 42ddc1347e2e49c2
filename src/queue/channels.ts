/**
 * NOTIFY channels. The payload of `JOBS_CHANNEL` is the queue name, followed by GROUPED_MARK when the
 * jobs carry a group (workers claim those through claim_limited: docs/flow-control.md); of
 * `CANCEL_CHANNEL` the job id; of `QUEUES_CHANNEL` the name of a queue whose policy changed.
 */
export const JOBS_CHANNEL = 'jobq_jobs';
export const CANCEL_CHANNEL = 'jobq_cancel';
export const QUEUES_CHANNEL = 'jobq_queues';

/** Follows the queue name in a JOBS_CHANNEL payload for jobs that carry a group (queue names have no space). */
export const GROUPED_MARK = ' grouped';

/** The JOBS_CHANNEL payload for a row of `alias` (SQL): its queue, marked when it carries a group. */
export const jobsPayloadSql = (alias: string) => `CASE WHEN ${alias}.group_key IS NULL THEN ${alias}.queue ELSE ${alias}.queue || '${GROUPED_MARK}' END`;

/** The JOBS_CHANNEL payload for jobs of `queue`. */
export const jobsPayload = (queue: string, grouped: boolean) => (grouped ? queue + GROUPED_MARK : queue);

/** A JOBS_CHANNEL payload read back. */
export function parseJobsPayload(payload: string): { queue: string; grouped: boolean } {
  return payload.endsWith(GROUPED_MARK) ? { queue: payload.slice(0, -GROUPED_MARK.length), grouped: true } : { queue: payload, grouped: false };
}

/** Payload: the name of a schedule created, changed or deleted (its next tick may have moved). */
export const SCHEDULES_CHANNEL = 'jobq_schedules';
