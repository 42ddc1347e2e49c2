/** What the worker's log lines say about a job, and about an error. */
import type { ClaimedJob } from '../queue/types.ts';

export function logFields(job: ClaimedJob): { job_id: string; kind: string; attempt: number } {
  return { job_id: job.id, kind: job.kind, attempt: job.attempts };
}

export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
