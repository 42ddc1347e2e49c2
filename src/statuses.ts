/**
 * The states of a job, declared once: the SQL enum in queue/migrations/0001_jobs.sql mirrors them
 * (a test checks the two agree). A module of its own that imports nothing, so that the light client
 * entry (client.ts, `pgjobq/client`) can use it without pulling in the server.
 */
export const JOB_STATUSES = ['waiting', 'queued', 'running', 'retrying', 'succeeded', 'failed_permanent', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const TERMINAL_STATUSES = ['succeeded', 'failed_permanent', 'cancelled'] as const satisfies readonly JobStatus[];
export type TerminalStatus = (typeof TERMINAL_STATUSES)[number];

export function isTerminal(status: JobStatus): status is TerminalStatus {
  return (TERMINAL_STATUSES as readonly JobStatus[]).includes(status);
}
