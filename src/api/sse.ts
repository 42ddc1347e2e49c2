/**
 * One Server-Sent Events response: a Readable that Fastify pipes to the socket, fed frames by the
 * event hub. Frames the client has not taken yet wait in a queue of their own, bounded: a client that
 * falls more than `maxQueued` events behind is disconnected (it reconnects with Last-Event-ID and
 * replays from the ring), so a stalled reader costs a bounded amount of memory. A replay sent at the
 * start does not count against the bound (the ring bounds it).
 *
 * Until `start()`, live events are held back so that what opens the stream (a reset, a replay, the
 * watched jobs' states) comes first; held events up to a `seq` the opening already reflects are dropped,
 * and so is a published event that arrives later but led to a state the stream opened with (its change
 * committed before the state was read, its NOTIFY came after: `reflects`).
 */
import { Readable } from 'node:stream';
import { frameOf, type HubEvent } from '../events/index.ts';
import { FINAL_EVENT_TYPES } from '../queue/events/types.ts';

/** What GET /v1/events and long-polls answer (503 too_many_streams) in an app built without an event hub. */
export const NO_HUB = 'this API process serves no event streams or waits (it was built without an event hub)';

export const HEARTBEAT_FRAME = ': heartbeat\n\n';

/** A `reset` frame: events may have been missed (`gap`), or the Last-Event-ID given is not known here. */
export const resetFrame = (reason: 'gap' | 'unknown_last_event_id'): string => `event: reset\ndata: ${JSON.stringify({ reason })}\n\n`;

/** A watched job's state as the stream's opening `state` frame said it. */
export interface SentState {
  status: string;
  attempt: number;
}

/** Where a status is in an attempt's course: the events that lead up to it (enqueued, started) are behind a later one. */
const COURSE: Record<string, number> = { queued: 0, running: 1 };
const courseOf = (status: string): number => COURSE[status] ?? 2;

const FINAL = new Set<string>(FINAL_EVENT_TYPES);

/**
 * Whether published event `e` is one that state `s` already reflects: of the same attempt, the status it
 * led to, or an `enqueued` or `started` the state has gone past; of an earlier attempt, an `enqueued` or
 * `started` while the job has not ended (after it ended, an `enqueued` is an operator's retry, news).
 * Progress always says something new.
 */
export function reflects(s: SentState, e: HubEvent): boolean {
  if (e.eventId === undefined || e.data.type === 'progress' || e.data.attempt > s.attempt) return false;
  const leadsUp = e.data.type === 'enqueued' || e.data.type === 'started';
  if (e.data.attempt < s.attempt) return leadsUp && !FINAL.has(s.status);
  return e.data.status === s.status || (leadsUp && courseOf(s.status) > courseOf(e.data.status));
}

export class SseStream extends Readable {
  readonly #maxQueued: number;
  readonly #onSlow: () => void;
  #queue: string[] = [];
  #head = 0;
  /** Frames at the front of the queue that are the opening (not counted against the bound). */
  #opening = 0;
  #wants = false;
  /** Until start(): live events, and resets (frames), in arrival order. */
  #held: (HubEvent | string)[] | undefined = [];
  /** The states the stream opened with, by job id, until an event of the job says more (`reflects`). */
  #sent: Map<string, SentState> | undefined;
  #ended = false;

  constructor(o: { maxQueued: number; retryMs: number; onSlow: () => void }) {
    super({ highWaterMark: 16 * 1024 });
    this.#maxQueued = o.maxQueued;
    this.#onSlow = o.onSlow;
    // Sent at once: the headers go out with it, and the client learns how long to wait before reconnecting.
    this.#enqueue(`retry: ${o.retryMs}\n\n`, true);
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** A live event from the hub. */
  event(e: HubEvent): void {
    if (this.#ended) return;
    if (this.#held) this.#held.push(e);
    else if (!this.#stale(e)) this.#enqueue(frameOf(e), false);
  }

  /** The hub may have missed events: the client should re-read what it needs. */
  reset(): void {
    if (this.#ended) return;
    const frame = resetFrame('gap');
    if (this.#held) this.#held.push(frame);
    else this.#enqueue(frame, false);
  }

  /**
   * Sends the opening frames, then the events held meanwhile (those after `reflectedSeq`, and not
   * reflected by the `states` it opened with), and goes live.
   */
  start(opening: string[], reflectedSeq = -1, states?: ReadonlyMap<string, SentState>): void {
    if (this.#ended || !this.#held) return;
    const held = this.#held;
    this.#held = undefined;
    this.#sent = states && states.size > 0 ? new Map(states) : undefined;
    for (const frame of opening) this.#enqueue(frame, true);
    for (const e of held) {
      if (typeof e === 'string') this.#enqueue(e, false);
      else if ((e.eventId === undefined || e.seq > reflectedSeq) && !this.#stale(e)) this.#enqueue(frameOf(e), false);
    }
  }

  /** Whether `e` is reflected by the state its job's stream opened with; any other event of the job ends that state's say. */
  #stale(e: HubEvent): boolean {
    const sent = this.#sent?.get(e.data.id);
    if (sent === undefined || e.data.type === 'progress') return false;
    if (reflects(sent, e)) return true;
    this.#sent!.delete(e.data.id);
    return false;
  }

  /** A heartbeat comment, unless frames are waiting anyway. */
  heartbeat(): void {
    if (!this.#ended && this.#head === this.#queue.length && this.#held === undefined) this.#enqueue(HEARTBEAT_FRAME, true);
  }

  /** Ends the stream after what the client was already handed (a shutdown): it reconnects and replays the rest. */
  finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#queue = [];
    this.#head = 0;
    this.push(null);
  }

  override _read(): void {
    this.#wants = true;
    this.#flush();
  }

  #enqueue(frame: string, opening: boolean): void {
    if (this.#ended) return;
    this.#queue.push(frame);
    if (opening) this.#opening = Math.max(this.#opening, this.#queue.length - this.#head);
    this.#flush();
    if (this.#queue.length - this.#head - this.#opening > this.#maxQueued) {
      this.#ended = true;
      this.#queue = [];
      this.#head = 0;
      this.#onSlow();
    }
  }

  #flush(): void {
    while (this.#wants && this.#head < this.#queue.length) {
      const frame = this.#queue[this.#head]!;
      this.#queue[this.#head++] = '';
      if (this.#opening > 0) this.#opening--;
      this.#wants = this.push(frame);
    }
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head > 1_024) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }
}
