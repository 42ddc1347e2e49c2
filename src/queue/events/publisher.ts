/**
 * The process's publisher of job events (docs/events.md, "Publishing"). The queue's modules hand it
 * each event after the change it reports committed; it sends them in order, coalesced: everything
 * published in one turn of the event loop goes in one `publishEvents` statement on the write pool
 * (split into notifications under PostgreSQL's 8,000-byte limit by `encodeChunks`).
 *
 * It publishes only while some process listens (jobq.event_listeners). Callers ask `active` first and
 * build an event only when it is true: with nobody listening, an operation pays one boolean test and
 * allocates nothing. The answer is cached: refreshed by one `listenersLive` query when something would
 * be published and the last answer is older than `recheckMs` (never a query per operation), and turned
 * on at once by `onListenersChanged()`, which the worker's LISTEN connection calls when a listener
 * registers (LISTENERS_CHANNEL). While a refresh is under way events are held, and sent or discarded
 * by its answer, so that a listener that just registered misses nothing published meanwhile.
 *
 * Publishing never fails the operation that produced an event: a failed statement is reported
 * (`report`, the queue's `eventsPublished` event) and its events dropped. While the database cannot
 * be reached, at most `maxBuffered` events wait; older ones are dropped and counted.
 */
import type pg from 'pg';
import * as SQL from '../statements/events.ts';
import { encodeChunks, type JobEvent } from './types.ts';

/** How long an answer of `listenersLive` is trusted. */
export const RECHECK_MS = 5_000;
/** Events waiting to be sent, at most; older ones are dropped first. */
export const MAX_BUFFERED = 10_000;
/** Events per statement, at most (the rest go in the next one, at once). */
const MAX_PER_STATEMENT = 5_000;

/** What one flush came to: events sent, and events dropped since the last report (with the error, if a publish failed). */
export interface PublishReport {
  published: number;
  dropped: number;
  error?: unknown;
}

export interface PublisherOptions {
  /** Re-check `listenersLive` when its last answer is older than this. Default RECHECK_MS. */
  recheckMs?: number;
  /** Events held at most while they cannot be sent. Default MAX_BUFFERED. */
  maxBuffered?: number;
}

export class Publisher {
  readonly #pool: pg.Pool;
  readonly #report: (r: PublishReport) => void;
  readonly #recheckMs: number;
  readonly #max: number;
  #live = false;
  /** The cached answer is recent enough (a timer clears it after recheckMs). */
  #fresh = false;
  /** The `listenersLive` look-up under way. */
  #checking: Promise<void> | undefined;
  /** Bumped by onListenersChanged: a look-up that started before it does not turn the gate off. */
  #generation = 0;
  #staleTimer: NodeJS.Timeout | undefined;
  /** Events to send, oldest first, from `#head` on (dropping the oldest advances `#head`). */
  #buffer: JobEvent[] = [];
  #head = 0;
  #scheduled = false;
  #flushing: Promise<void> | undefined;
  #droppedUnreported = 0;
  #published = 0;
  #dropped = 0;

  constructor(pool: pg.Pool, report: (r: PublishReport) => void, opts: PublisherOptions = {}) {
    this.#pool = pool;
    this.#report = report;
    this.#recheckMs = opts.recheckMs ?? RECHECK_MS;
    this.#max = opts.maxBuffered ?? MAX_BUFFERED;
  }

  /** Whether to build and publish events now. Cheap: a boolean, and a look-up every recheckMs at most. */
  get active(): boolean {
    if (!this.#fresh) this.#check();
    return this.#live || this.#checking !== undefined;
  }

  /** The cached answer: some listener is live. */
  get live(): boolean {
    return this.#live;
  }

  /** Events sent, and dropped, since the process started. */
  get counts(): { published: number; dropped: number } {
    return { published: this.#published, dropped: this.#dropped };
  }

  /** A listener registered (its LISTENERS_CHANNEL notification): publish from now on. */
  onListenersChanged(): void {
    this.#generation++;
    this.#live = true;
    this.#freshen();
    if (this.#size > 0) this.#schedule();
  }

  /** Forgets the cached answer (the LISTEN connection reconnected: a notification may have been missed). */
  recheck(): void {
    this.#fresh = false;
  }

  /** Queues `event` (call only when `active`); it goes with the others of this turn of the event loop. */
  publish(event: JobEvent): void {
    if (this.#size >= this.#max) this.#dropOldest();
    this.#buffer.push(event);
    this.#schedule();
  }

  /** Resolves when everything published so far is sent, dropped or discarded. */
  async flush(): Promise<void> {
    for (;;) {
      if (this.#checking) await this.#checking;
      else if (this.#flushing) await this.#flushing;
      else if (this.#size > 0 && this.#live) await this.#run();
      else return;
    }
  }

  get #size(): number {
    return this.#buffer.length - this.#head;
  }

  #check(): void {
    if (this.#checking) return;
    const generation = this.#generation;
    this.#fresh = true; // one look-up per period, whatever it answers
    this.#checking = SQL.listenersLive(this.#pool, {}).then(
      ([row]) => {
        if (generation === this.#generation) this.#live = row?.live === true;
      },
      () => {}, // the database is away: keep the last answer until the next period
    ).finally(() => {
      this.#checking = undefined;
      this.#freshen();
      if (this.#live) this.#schedule();
      else this.#take(this.#size); // held for nobody: not sent, and not dropped (no one missed them)
    });
  }

  #freshen(): void {
    this.#fresh = true;
    clearTimeout(this.#staleTimer);
    this.#staleTimer = setTimeout(() => (this.#fresh = false), this.#recheckMs);
    this.#staleTimer.unref();
  }

  #dropOldest(): void {
    this.#take(1);
    this.#dropped++;
    this.#droppedUnreported++;
  }

  /** Removes the oldest `n` events and returns them. */
  #take(n: number): JobEvent[] {
    const end = this.#head + n;
    const out = this.#buffer.slice(this.#head, end);
    if (end >= this.#buffer.length) {
      this.#buffer = [];
      this.#head = 0;
    } else {
      this.#head = end;
      if (this.#head > 1024 && this.#head * 2 > this.#buffer.length) {
        this.#buffer = this.#buffer.slice(this.#head);
        this.#head = 0;
      }
    }
    return out;
  }

  #schedule(): void {
    if (this.#scheduled || this.#flushing || this.#checking) return;
    this.#scheduled = true;
    setImmediate(() => void this.#run());
  }

  #run(): Promise<void> {
    this.#scheduled = false;
    if (this.#flushing) return this.#flushing;
    if (this.#checking || this.#size === 0) return Promise.resolve(); // the look-up's answer sends or discards them
    if (!this.#live) {
      this.#take(this.#size);
      return Promise.resolve();
    }
    this.#flushing = this.#send(this.#take(Math.min(this.#size, MAX_PER_STATEMENT))).finally(() => {
      this.#flushing = undefined;
      if (this.#size > 0) this.#schedule();
    });
    return this.#flushing;
  }

  async #send(batch: JobEvent[]): Promise<void> {
    let error: unknown;
    try {
      await SQL.publishEvents(this.#pool, { chunks: encodeChunks(batch) });
      this.#published += batch.length;
    } catch (err) {
      error = err;
      this.#dropped += batch.length;
      this.#droppedUnreported += batch.length;
    }
    const report: PublishReport = { published: error === undefined ? batch.length : 0, dropped: this.#droppedUnreported };
    if (error !== undefined) report.error = error;
    this.#droppedUnreported = 0;
    try {
      this.#report(report);
    } catch {
      // a listener's mistake must not stop publishing
    }
  }
}
