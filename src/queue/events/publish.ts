/**
 * What the queue's operations publish (docs/events.md, "Publishing"): each builds its events here, after
 * its change committed, and only while the publisher is `active` (so nothing is built when nobody
 * listens). The job's fields come from what the operation already has (the row it returned, or the
 * claimed job its caller holds), never from a query of their own.
 */
import type { Publisher } from './publisher.ts';
import type { JobEvent, JobEventType, JobProgress } from './types.ts';
import type { Queryable } from '../types.ts';

/** What an event tells of its job: any Job or ClaimedJob has it. */
export interface EventSubject {
  id: string;
  queue: string;
  kind: string;
  group: string | null;
  attempts: number;
}

/** The time of events published now, by the queue's clock (a test's, or this process's). */
export function eventTime(now: Date | null): string {
  return (now ?? new Date()).toISOString();
}

/**
 * Whether what an operation wrote on `db` (its `opts.db`) is committed once it returns: on the pool, or
 * on a client outside a transaction, yes; inside the caller's open transaction, not yet, and it may
 * never be. Events of such an operation are not published (a watcher re-reads those jobs' state).
 */
export function committed(db: Queryable | undefined): boolean {
  if (db === undefined) return true;
  const status = (db as { getTransactionStatus?: () => string | null }).getTransactionStatus?.();
  return status !== 'T' && status !== 'E';
}

export function jobEvent(type: JobEventType, job: EventSubject, status: string, at: string, progress?: JobProgress): JobEvent {
  const e: JobEvent = { type, id: job.id, queue: job.queue, kind: job.kind, group: job.group, status, attempt: job.attempts, at };
  if (progress !== undefined) e.progress = progress;
  return e;
}

/** The event a transition's new status is named for: succeeded, retrying, failed_permanent, cancelled; else none. */
const OUTCOME_EVENTS: Partial<Record<string, JobEventType>> = {
  succeeded: 'succeeded',
  retrying: 'retrying',
  failed_permanent: 'failed_permanent',
  cancelled: 'cancelled',
};

/** Publishes, for each job a transition returned, the event its new status is named for. */
export function publishOutcomes(publisher: Publisher, now: Date | null, jobs: readonly (EventSubject & { status: string })[], db: Queryable | undefined): void {
  if (jobs.length === 0 || !publisher.active || !committed(db)) return;
  const at = eventTime(now);
  for (const job of jobs) {
    const type = OUTCOME_EVENTS[job.status];
    if (type !== undefined) publisher.publish(jobEvent(type, job, job.status, at));
  }
}

/** Publishes one event of `type` for each job, with status `status` (null: each job's own). */
export function publishAll(
  publisher: Publisher,
  now: Date | null,
  type: JobEventType,
  jobs: readonly (EventSubject & { status?: string })[],
  status: string | null,
  db?: Queryable,
): void {
  if (jobs.length === 0 || !publisher.active || !committed(db)) return;
  const at = eventTime(now);
  for (const job of jobs) publisher.publish(jobEvent(type, job, status ?? job.status ?? '', at));
}
