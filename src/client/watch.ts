/**
 * watch: job events as an async iterator, over GET /v1/events (Server-Sent Events) read with fetch.
 * The first connection failing rejects (kind network_error, or the API's error). When the stream ends
 * or breaks later, it reconnects after the server's `retry:` hint (longer after each failure in a row,
 * at most 30 s; a 503 is tried again, any other refusal rejects) with the id of the last event it
 * yielded as Last-Event-ID, so it misses nothing the server still holds (and yields `reset` when the
 * server no longer does). A stream of job ids gets each job's state first. Watching one job (an id as the target) ends once it is
 * succeeded, failed_permanent or cancelled. An abort of `signal`, or leaving the loop, ends it quietly.
 */
import type { JobEventWire } from '../api/schemas/events.ts';
import { EVENT_TYPES } from '../queue/events/types.ts';
import { isTerminal, type JobStatus } from '../statuses.ts';
import { errorOf, type Http, JobqClientError, reasonOf, withQuery } from './http.ts';
import { SseParser } from './sse.ts';

export interface WatchFilter {
  /** Job ids: the stream starts with each one's state. */
  id?: string | string[];
  queue?: string | string[];
  kind?: string | string[];
  group?: string | string[];
}

export interface WatchOptions {
  signal?: AbortSignal;
  /** Resume after this event id (an earlier watch's last `eventId`). */
  lastEventId?: string;
  /**
   * Called each time the stream is (re)connected: the server answers only once it listens, so no later
   * event is missed. A caller that read what it shows before the stream was up can read it again now.
   */
  onOpen?: () => void;
}

/**
 * What a watch yields: a job event or a job's `state` (the JobEvent fields, plus `eventId`: the
 * event's id, undefined for one the server made up), or `reset`: events may have been missed, re-read
 * what you need (`unknown_last_event_id`: the id to resume from is no longer held; `gap`: the server
 * lost its notifications for a moment).
 */
export type WatchEvent = (JobEventWire & { eventId: string | undefined }) | { type: 'reset'; reason: string; eventId: undefined };

const TYPES = new Set<string>([...EVENT_TYPES, 'state', 'reset']);
const MAX_RETRY_MS = 30_000;

export async function* watch(http: Http, target: string | WatchFilter, opts: WatchOptions = {}): AsyncGenerator<WatchEvent, void, undefined> {
  const one = typeof target === 'string' ? target.toLowerCase() : undefined;
  const filter = typeof target === 'string' ? { id: target } : target;
  const query = Object.fromEntries(Object.entries(filter).map(([k, v]) => [k, k === 'group' || v === undefined ? v : [v].flat().join(',')]));
  const path = withQuery('/v1/events', query);
  const { signal } = opts;
  let lastEventId = opts.lastEventId;
  let retryMs = 2_000;
  let failures = 0;
  for (let attempt = 0; !signal?.aborted; attempt++) {
    // After an end or a break: the server's hint, longer after failures in a row.
    if (attempt > 0) {
      await delay(Math.min(MAX_RETRY_MS, retryMs * 2 ** Math.min(failures, 10)), signal);
      if (signal?.aborted) return;
    }
    const ac = new AbortController();
    const abort = () => ac.abort(signal?.reason);
    signal?.addEventListener('abort', abort, { once: true });
    try {
      let res: Response;
      try {
        res = await http.fetch(`${http.base}${path}`, {
          headers: http.headers({ accept: 'text/event-stream', ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }) }),
          signal: ac.signal,
        });
      } catch (err) {
        if (signal?.aborted) return;
        // The first connection failing is the caller's to know (a wrong URL, a server down); a reconnect's is tried again.
        if (attempt === 0) throw new JobqClientError(0, 'network_error', `GET ${path} failed: ${reasonOf(err)}`, undefined, { cause: err });
        failures++;
        continue;
      }
      if (res.status !== 200 || res.body === null) {
        const err = errorOf('GET', path, res.status, await res.text().catch(() => ''));
        // On a reconnect, a server that is busy or shutting down (503) is tried again; a refusal is final.
        if (res.status !== 503 || attempt === 0) throw err;
        failures++;
        continue;
      }
      failures = 0;
      opts.onOpen?.();
      const parser = new SseParser(lastEventId);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch {
          break;
        }
        if (chunk.done) break;
        const messages = parser.feed(chunk.value);
        if (parser.retryMs !== undefined) retryMs = parser.retryMs;
        for (const m of messages) {
          if (!TYPES.has(m.event)) continue;
          let data: Record<string, unknown>;
          try {
            data = JSON.parse(m.data) as Record<string, unknown>;
          } catch {
            continue;
          }
          const event = (m.event === 'reset' ? { type: 'reset', reason: String(data.reason), eventId: undefined } : { ...data, eventId: m.id }) as WatchEvent;
          if (m.id !== undefined) lastEventId = m.id;
          yield event;
          if (one !== undefined && event.type !== 'reset' && event.id === one && isTerminal(event.status as JobStatus)) return;
        }
      }
    } finally {
      signal?.removeEventListener('abort', abort);
      ac.abort();
    }
  }
}

/** A pause that an abort cuts short (it resolves: the loop then sees the abort and ends). */
function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
