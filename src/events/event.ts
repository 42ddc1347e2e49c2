/**
 * An event as the hub holds it: the job event (or a job's current state), its id, when it arrived,
 * and its Server-Sent Events frame, built once and shared by every stream that is sent it.
 *
 * Ids: a published event's is `${n}-${i}` (its notification's number and its place in it, see
 * src/queue/events/types.ts). An event this process made up itself (a `state` snapshot, or an event
 * synthesized by reconciliation because its notification was missed) has none: it is not in the
 * replay ring, and an SSE frame without `id:` leaves the client's Last-Event-ID as it was, so a
 * reconnect resumes after the last published event it saw.
 */
import { EVENT_TYPES, type JobEvent, type JobEventType } from '../queue/events/types.ts';
import type { JobStatus } from '../statuses.ts';

/** The `event:` of a stream's frames: a job event's type, or `state` (a job's state when a stream opened). */
export type StreamEventType = JobEventType | 'state';

/** The `data:` of a stream's frames: a JobEvent, or the same fields with type `state`. */
export type StreamEvent = Omit<JobEvent, 'type'> & { type: StreamEventType };

export interface HubEvent {
  /** `${n}-${i}` for a published event; undefined for one made up by this process. */
  eventId: string | undefined;
  data: StreamEvent;
  /** Arrival order in this process: one more for each published event (a made-up one shares the last one's). */
  seq: number;
  /** When it arrived (ms, the ring's clock). */
  arrivedAt: number;
  /** Its SSE frame: frameOf() builds it on first use. */
  frame?: string;
}

/** The SSE frame of an event: `id:` (published events only), `event:`, `data:` (one line of JSON). */
export function frameOf(e: HubEvent): string {
  return (e.frame ??= `${e.eventId === undefined ? '' : `id: ${e.eventId}\n`}event: ${e.data.type}\ndata: ${JSON.stringify(e.data)}\n\n`);
}

const TYPES = new Set<string>(EVENT_TYPES);
const EVENT_ID = /^\d{1,20}-\d{1,6}$/;

/**
 * Whether a decoded event is one a stream can carry as it is: a known type, an id of the published
 * form, and the fields filters read. (Anything that may NOTIFY on the channel could send anything.)
 */
export function wellFormed(e: JobEvent & { eventId: string }): boolean {
  return (
    TYPES.has(e.type) &&
    EVENT_ID.test(e.eventId) &&
    typeof e.id === 'string' &&
    typeof e.queue === 'string' &&
    typeof e.kind === 'string' &&
    (e.group === null || typeof e.group === 'string') &&
    typeof e.status === 'string'
  );
}

/** A job's state as the hub reads it (the watchedStates statement). */
export interface JobState {
  id: string;
  status: JobStatus;
  queue: string;
  kind: string;
  group: string | null;
  attempt: number;
  at: string;
}

/** The event a status change stands for, when its notification was missed (reconciliation). */
export function eventTypeFor(status: JobStatus, before: JobStatus | undefined): JobEventType {
  switch (status) {
    case 'running':
      return 'started';
    case 'queued':
      return before === 'waiting' ? 'released' : 'enqueued';
    case 'waiting':
      return 'enqueued';
    default:
      return status;
  }
}
