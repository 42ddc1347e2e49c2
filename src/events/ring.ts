/**
 * The replay ring: the events this process heard most recently, in arrival order (the same in every
 * listener: PostgreSQL delivers notifications in commit order), bounded by count and by age, with an
 * index by event id so that a reconnecting client's Last-Event-ID finds where to resume.
 *
 * A gap (the LISTEN connection was lost, or this process stopped listening) empties it: replaying
 * across a gap would skip the events missed in it without saying so, so an id from before a gap is
 * unknown and its client is told to reset.
 */
import type { HubEvent } from './event.ts';

export interface RingOptions {
  /** At most this many events. */
  size: number;
  /** None that arrived longer ago than this. */
  maxAgeMs: number;
  /** The clock of arrival (ms). Default Date.now. */
  now?: () => number;
}

export class EventRing {
  /** Events from #head on are live; the array is compacted when the dead prefix grows large. */
  #items: HubEvent[] = [];
  #head = 0;
  /** Events ever pushed: the position of the next one. */
  #pushed = 0;
  /** eventId → its position. */
  readonly #index = new Map<string, number>();
  readonly #opts: Required<RingOptions>;

  constructor(opts: RingOptions) {
    this.#opts = { now: Date.now, ...opts };
  }

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Appends a published event (a synthesized one, without an id, is never replayed) and drops what falls out of bounds. */
  push(e: HubEvent): void {
    if (e.eventId === undefined) return;
    this.#items.push(e);
    this.#index.set(e.eventId, this.#pushed++);
    this.#trim();
  }

  /**
   * The events after `eventId`, oldest first; undefined when it is not in the ring (never heard here,
   * evicted, or from before a gap).
   */
  after(eventId: string): HubEvent[] | undefined {
    this.#trim();
    const at = this.#index.get(eventId);
    if (at === undefined) return undefined;
    // The live items are the last `length` pushed: position p is at #head + p - (#pushed - length).
    return this.#items.slice(this.#head + (at - (this.#pushed - this.length)) + 1);
  }

  /** Empties the ring (a gap). */
  clear(): void {
    this.#items = [];
    this.#head = 0;
    this.#index.clear();
  }

  #trim(): void {
    const oldest = this.#opts.now() - this.#opts.maxAgeMs;
    while (this.length > 0) {
      const e = this.#items[this.#head]!;
      if (this.length <= this.#opts.size && e.arrivedAt >= oldest) break;
      this.#index.delete(e.eventId!);
      this.#items[this.#head++] = undefined as unknown as HubEvent;
    }
    if (this.#head > 1_024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}
