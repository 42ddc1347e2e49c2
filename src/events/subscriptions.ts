/**
 * Who is sent which event. A subscription's filter has up to four fields (queue, kind, id, group),
 * each a set: an event matches when, for every field given, its value is in that field's set (AND
 * across fields, OR within one). Subscriptions with ids are indexed by job id, so an event costs one
 * map lookup however many of them are open; the others (a queue, a kind, a group, or everything) are
 * checked one by one, and are few in practice.
 */
import type { HubEvent, StreamEvent } from './event.ts';

/** A filter as given: each field a list of values (empty or absent: any). */
export interface EventFilter {
  queue?: readonly string[];
  kind?: readonly string[];
  id?: readonly string[];
  group?: readonly string[];
}

export interface Subscriber {
  /** An event that matches the filter, in arrival order. Must not throw. */
  event(e: HubEvent): void;
  /** Events may have been missed (the LISTEN connection was lost): re-read what matters. */
  reset(): void;
}

export class Subscription {
  readonly queues: ReadonlySet<string> | undefined;
  readonly kinds: ReadonlySet<string> | undefined;
  readonly ids: ReadonlySet<string> | undefined;
  readonly groups: ReadonlySet<string> | undefined;
  closed = false;

  constructor(
    filter: EventFilter,
    readonly subscriber: Subscriber,
  ) {
    const set = (values: readonly string[] | undefined) => (values && values.length > 0 ? new Set(values) : undefined);
    this.queues = set(filter.queue);
    this.kinds = set(filter.kind);
    // Job ids are UUIDs, which PostgreSQL spells in lower case.
    this.ids = set(filter.id?.map((id) => id.toLowerCase()));
    this.groups = set(filter.group);
  }

  matches(e: StreamEvent): boolean {
    return (
      (this.ids === undefined || this.ids.has(e.id)) &&
      (this.queues === undefined || this.queues.has(e.queue)) &&
      (this.kinds === undefined || this.kinds.has(e.kind)) &&
      (this.groups === undefined || (e.group !== null && this.groups.has(e.group)))
    );
  }
}

export class SubscriptionIndex {
  /** job id → the subscriptions that name it. */
  readonly #byId = new Map<string, Set<Subscription>>();
  /** Subscriptions without ids. */
  readonly #broad = new Set<Subscription>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  /** How many job ids some subscription names. */
  get watchedCount(): number {
    return this.#byId.size;
  }

  /** The job ids some subscription names. */
  watchedIds(): IterableIterator<string> {
    return this.#byId.keys();
  }

  isWatched(id: string): boolean {
    return this.#byId.has(id);
  }

  add(s: Subscription): void {
    this.#size++;
    if (s.ids === undefined) {
      this.#broad.add(s);
      return;
    }
    for (const id of s.ids) {
      let subs = this.#byId.get(id);
      if (!subs) this.#byId.set(id, (subs = new Set()));
      subs.add(s);
    }
  }

  /** Removes a subscription; returns the ids nobody watches any more. */
  delete(s: Subscription): string[] {
    const gone: string[] = [];
    if (s.closed) return gone;
    s.closed = true;
    this.#size--;
    if (s.ids === undefined) {
      this.#broad.delete(s);
      return gone;
    }
    for (const id of s.ids) {
      const subs = this.#byId.get(id);
      subs?.delete(s);
      if (subs?.size === 0) {
        this.#byId.delete(id);
        gone.push(id);
      }
    }
    return gone;
  }

  /** Sends `e` to every subscription it matches; `onlyById`: to those naming its job only (a synthesized event). */
  dispatch(e: HubEvent, onlyById = false): void {
    const subs = this.#byId.get(e.data.id);
    if (subs) for (const s of subs) if (s.matches(e.data)) s.subscriber.event(e);
    if (onlyById) return;
    for (const s of this.#broad) if (s.matches(e.data)) s.subscriber.event(e);
  }

  /** Tells every subscription that events may have been missed. */
  resetAll(): void {
    const all = new Set(this.#broad);
    for (const subs of this.#byId.values()) for (const s of subs) all.add(s);
    for (const s of all) s.subscriber.reset();
  }
}
