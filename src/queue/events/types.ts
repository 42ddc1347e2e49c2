/**
 * Job events (issue #19): what a watcher of jobs is told, and how it travels. A process that changes a
 * job publishes the change on one PostgreSQL channel, EVENTS_CHANNEL, after its transaction commits;
 * every process that serves streams listens on it with one connection and fans the events out in
 * memory (src/events/). This module is the contract between the two ends: the event's shape, the
 * notification's encoding, and its size bound. It imports nothing, so the light client can use the types.
 *
 * A notification's payload is `{"n": <number>, "e": [<event>, ...]}`: n from the sequence
 * jobq.event_ids (one per notification), the events in the order they happened. The id of event i of
 * notification n is `${n}-${i}`: unique across the fleet, but not ordered by commit, so a reader keeps
 * arrival order (PostgreSQL delivers notifications to every listener in commit order).
 */

/** The channel job events travel on. */
export const EVENTS_CHANNEL = 'jobq_events';
/** Payload: the id of a listener that registered (jobq.event_listeners); publishers turn events on at once. */
export const LISTENERS_CHANNEL = 'jobq_listeners';

/**
 * What happened to a job:
 * - enqueued: a job was made (status queued, or waiting when it depends on unfinished jobs);
 * - released: a waiting job's last parent succeeded (or failed under on_parent_failure "run"): now queued;
 * - started: a worker started an attempt (its handler runs now);
 * - progress: the handler reported progress (the event carries it);
 * - succeeded, retrying, failed_permanent, cancelled: the job reached that status.
 */
export const EVENT_TYPES = ['enqueued', 'released', 'started', 'progress', 'succeeded', 'retrying', 'failed_permanent', 'cancelled'] as const;
export type JobEventType = (typeof EVENT_TYPES)[number];

/** The event types after which a job never changes again (unless an operator retries it). */
export const FINAL_EVENT_TYPES = ['succeeded', 'failed_permanent', 'cancelled'] as const satisfies readonly JobEventType[];

/** A handler's report of how far it has got: a fraction, or a count out of a total. */
export interface JobProgress {
  /** 0..1: `current / total` when a count was given. */
  value: number;
  current?: number;
  total?: number;
  /** At most PROGRESS_MESSAGE_MAX characters. */
  message?: string;
}

/** One event, as published and as streamed (`data:` of the SSE event, verbatim JSON). */
export interface JobEvent {
  type: JobEventType;
  id: string;
  queue: string;
  kind: string;
  group: string | null;
  /** The job's status after the event. */
  status: string;
  /** The attempt the event belongs to (0 before the first claim). */
  attempt: number;
  /** When it happened (ISO 8601), by the clock of the process or database that made it. */
  at: string;
  /** On `progress` events only. */
  progress?: JobProgress;
}

/** A progress message's longest length, so that any event fits one notification. */
export const PROGRESS_MESSAGE_MAX = 500;

/**
 * The largest payload jobq sends (PostgreSQL's limit is 8,000 bytes). Leaves room for the `{"n":…,"e":`
 * wrapper the publish statement adds around a chunk.
 */
export const MAX_CHUNK_BYTES = 7_900;

/** The UTF-8 length of `s`, counted without encoding it (the publisher measures every event it sends). */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair: 4 bytes for 2 UTF-16 units
      i++;
    } else n += 2;
  }
  return n;
}

/**
 * The events as JSON arrays of at most MAX_CHUNK_BYTES bytes each, in order: one notification per
 * chunk. One event is always small enough alone (queue, kind and group are bounded, and so is a
 * progress message).
 */
export function encodeChunks(events: readonly JobEvent[]): string[] {
  const chunks: string[] = [];
  let parts: string[] = [];
  let bytes = 2;
  for (const e of events) {
    const json = JSON.stringify(e);
    const size = utf8Length(json) + 1;
    if (parts.length > 0 && bytes + size > MAX_CHUNK_BYTES) {
      chunks.push(`[${parts.join(',')}]`);
      parts = [];
      bytes = 2;
    }
    parts.push(json);
    bytes += size;
  }
  if (parts.length > 0) chunks.push(`[${parts.join(',')}]`);
  return chunks;
}

/** A notification of EVENTS_CHANNEL read back: each event with its id. Throws on a malformed payload. */
export function decodeNotification(payload: string): { n: string; events: (JobEvent & { eventId: string })[] } {
  const parsed = JSON.parse(payload) as { n: number | string; e: JobEvent[] };
  if (parsed === null || typeof parsed !== 'object' || !Array.isArray(parsed.e)) throw new Error('not a job events notification');
  const n = String(parsed.n);
  return { n, events: parsed.e.map((e, i) => ({ ...e, eventId: `${n}-${i}` })) };
}
