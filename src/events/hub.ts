/**
 * The event hub (issue #19): one per process that serves event streams or long-polls. One LISTEN
 * connection on EVENTS_CHANNEL feeds every subscription of the process from memory, so an open stream
 * costs memory, never a query of its own.
 *
 * While at least one subscription is open (and for IDLE_MS after the last one closed, so a client
 * that reconnects finds its replay), the hub is active: it listens, keeps this process registered in
 * jobq.event_listeners (publishers only publish while someone is), keeps the replay ring (ring.ts),
 * and reconciles the jobs watched by id (reconcile.ts). Idle, it holds no connection.
 *
 * A gap (the LISTEN connection was lost and came back, or the registration lapsed) empties the ring,
 * tells every open subscription `reset`, and reconciles at once.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Logger } from 'pino';
import { Listener } from '../db/listener.ts';
import { JobqError } from '../errors.ts';
import { decodeNotification } from '../queue/events/types.ts';
import { bindSchema, channels, schemaOf } from '../queue/schema.ts';
import { watchedStates } from '../queue/statements/events.ts';
import type { Queryable } from '../queue/types.ts';
import type { JobStatus } from '../statuses.ts';
import { type HubEvent, type StreamEvent, wellFormed } from './event.ts';
import { EVENT_DEFAULTS, IDLE_MS, LISTENER_TTL_MS, READY_TIMEOUT_MS } from './options.ts';
import { Reconciler } from './reconcile.ts';
import { ListenerRegistration } from './registration.ts';
import { EventRing } from './ring.ts';
import { type EventFilter, type Subscriber, Subscription, SubscriptionIndex } from './subscriptions.ts';

export interface HubOptions {
  /** The database to LISTEN on (a connection of its own). */
  url: string;
  /** For the registration and the reconciliation's reads (the service's pool). */
  db: Queryable;
  /** The schema whose events it hears (its channel, schema.ts): default the one `db` is bound to (the Queue's pool). */
  schema?: string;
  logger: Logger;
  /** This process in jobq.event_listeners. Default hostname:pid:random. */
  processId?: string;
  replayEvents?: number;
  replayMs?: number;
  reconcileMs?: number;
  /** Subscriptions (streams and long-polls) open at once; more are refused with `too_many_streams`. */
  maxStreams?: number;
  ttlMs?: number;
  idleMs?: number;
  readyTimeoutMs?: number;
  /** The ring's clock. */
  now?: () => number;
  /** After each registration or renewal: the service turns its own publisher on (onListenersChanged). */
  onRegistered?: () => void;
}

export interface OpenedSubscription {
  /** With `lastEventId`: the matching events after it, oldest first, or `reset` when it is not in the ring. */
  replay: HubEvent[] | 'reset' | undefined;
  /**
   * Resolves once this process listens and is registered, so that what the caller reads next is
   * followed by every later event (or after READY_TIMEOUT_MS without: reconciliation covers the jobs
   * watched by id, and the subscription is told `reset` when the connection comes).
   */
  ready: Promise<void>;
  close(): void;
}

export interface HubStats {
  subscriptions: number;
  watchedIds: number;
  /** Watched jobs whose state the hub knows (from a read or an event): reconciliation compares against these. */
  knownStates: number;
  replayEvents: number;
  listening: boolean;
}

export class EventHub {
  readonly processId: string;
  readonly #o: Required<Omit<HubOptions, 'processId'>>;
  readonly #ring: EventRing;
  readonly #subs = new SubscriptionIndex();
  readonly #reconciler: Reconciler;
  readonly #registration: ListenerRegistration;
  #listener: Listener | undefined;
  #listening = false;
  /** A subscription went ahead without the LISTEN connection: it must hear `reset` when it comes. */
  #readiedWithout = false;
  #connected: (() => void) | undefined;
  /** Published events heard so far. */
  #seq = 0;
  #want = false;
  #active = false;
  #closed = false;
  #chain: Promise<void> = Promise.resolve();
  #idleTimer: NodeJS.Timeout | undefined;
  #reconcileTimer: NodeJS.Timeout | undefined;

  constructor(opts: HubOptions) {
    if (opts.schema !== undefined) bindSchema(opts.db, opts.schema);
    this.processId = opts.processId ?? `${os.hostname().slice(0, 120)}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.#o = {
      replayEvents: EVENT_DEFAULTS.replayEvents,
      replayMs: EVENT_DEFAULTS.replayMs,
      reconcileMs: EVENT_DEFAULTS.reconcileMs,
      maxStreams: EVENT_DEFAULTS.maxStreams,
      ttlMs: LISTENER_TTL_MS,
      idleMs: IDLE_MS,
      readyTimeoutMs: READY_TIMEOUT_MS,
      now: Date.now,
      schema: schemaOf(opts.db),
      ...stripUndefined(opts),
    } as Required<Omit<HubOptions, 'processId'>>;
    this.#ring = new EventRing({ size: this.#o.replayEvents, maxAgeMs: this.#o.replayMs, now: this.#o.now });
    this.#reconciler = new Reconciler({
      db: this.#o.db,
      logger: this.#o.logger,
      watched: () => this.#subs.watchedIds(),
      isWatched: (id) => this.#subs.isWatched(id),
      deliver: ({ type, ...s }) => this.#subs.dispatch(this.#made({ type, ...s }), true),
    });
    this.#registration = new ListenerRegistration({
      db: this.#o.db,
      id: this.processId,
      ttlMs: this.#o.ttlMs,
      logger: this.#o.logger,
      onLapse: () => this.#gap('the listener registration lapsed'),
      onRegistered: () => this.#o.onRegistered?.(),
    });
  }

  /**
   * Opens a subscription: `subscriber` is sent every matching event from now on. With `lastEventId`,
   * `replay` holds what it missed (taken in the same tick, so nothing falls between the two).
   * Throws `too_many_streams` beyond maxStreams.
   */
  subscribe(filter: EventFilter, subscriber: Subscriber, opts: { lastEventId?: string } = {}): OpenedSubscription {
    if (this.#closed) throw new JobqError('too_many_streams', 'this process is shutting down; reconnect');
    // The ring can answer only while the hub is and stays active (not idle, not being stopped).
    const live = this.#active && this.#want;
    if (this.#subs.size >= this.#o.maxStreams) {
      throw new JobqError('too_many_streams', `this process holds ${this.#o.maxStreams} event streams and waits already; try again later or another process`);
    }
    const sub = new Subscription(filter, subscriber);
    this.#subs.add(sub);
    clearTimeout(this.#idleTimer);
    this.#want = true;
    let replay: OpenedSubscription['replay'];
    if (opts.lastEventId !== undefined) {
      const after = live ? this.#ring.after(opts.lastEventId) : undefined;
      replay = after === undefined ? 'reset' : after.filter((e) => sub.matches(e.data));
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#o.readyTimeoutMs)));
    return {
      replay,
      ready: Promise.race([this.#sync(), timeout]).then(() => {
        clearTimeout(timer);
        if (!this.#listening && !sub.closed) this.#readiedWithout = true;
      }),
      close: () => {
        this.#reconciler.forget(this.#subs.delete(sub));
        if (this.#subs.size === 0 && !this.#closed) {
          clearTimeout(this.#idleTimer);
          this.#idleTimer = setTimeout(() => {
            this.#want = this.#subs.size > 0;
            void this.#sync();
          }, this.#o.idleMs);
          this.#idleTimer.unref();
        }
      },
    };
  }

  /**
   * The current state of these jobs (one query), as `state` events in the order given (unknown ids
   * left out), noted for reconciliation; and `seq`: events that arrived up to it are already
   * reflected in these states (they were published after their change committed).
   */
  async states(ids: readonly string[]): Promise<{ states: HubEvent[]; seq: number }> {
    const seq = this.#seq;
    const wanted = [...new Set(ids.map((id) => id.toLowerCase()))];
    const rows = await watchedStates(this.#o.db, { ids: wanted });
    const byId = new Map(rows.map((r) => [r.id, r]));
    const states: HubEvent[] = [];
    for (const id of wanted) {
      const row = byId.get(id);
      if (!row) continue;
      this.#reconciler.note(row.id, row.status, row.attempts);
      states.push(this.#made({ type: 'state', id: row.id, status: row.status, queue: row.queue, kind: row.kind, group: row.group_key, attempt: row.attempts, at: row.updated_at.toISOString() }));
    }
    return { states, seq };
  }

  /** What the caller read of a watched job (a long-poll's own read), for reconciliation. */
  note(id: string, status: JobStatus, attempt: number): void {
    this.#reconciler.note(id.toLowerCase(), status, attempt);
  }

  /** Reads the watched jobs now and sends the events missed; resolves to how many (tests; the timer does it every reconcileMs). */
  reconcile(): Promise<number> {
    return this.#reconciler.run();
  }

  stats(): HubStats {
    return { subscriptions: this.#subs.size, watchedIds: this.#subs.watchedCount, knownStates: this.#reconciler.known, replayEvents: this.#ring.length, listening: this.#listening };
  }

  /** Stops listening and unregisters. Open subscriptions hear nothing more (close them first: the API does on shutdown). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#want = false;
    clearTimeout(this.#idleTimer);
    this.#connected?.();
    await this.#sync();
  }

  /** Brings the hub to what #want says, one transition at a time. */
  #sync(): Promise<void> {
    this.#chain = this.#chain.then(async () => {
      try {
        if (this.#want && !this.#active && !this.#closed) await this.#activate();
        else if (!this.#want && this.#active) await this.#deactivate();
      } catch (err) {
        // Not expected (the listener and the registration retry by themselves); the next transition may still succeed.
        this.#o.logger.error({ err: (err as Error).message }, 'event hub transition failed');
      }
    });
    return this.#chain;
  }

  async #activate(): Promise<void> {
    // Whatever the ring held was heard before a stretch of not listening.
    this.#ring.clear();
    this.#active = true;
    const connected = new Promise<void>((resolve) => (this.#connected = resolve));
    this.#listener = new Listener({
      url: this.#o.url,
      channels: [channels(this.#o.schema).events],
      logger: this.#o.logger,
      applicationName: 'jobq-events',
      onNotify: (_channel, payload) => this.#onNotify(payload),
      onConnect: (reconnected) => {
        this.#listening = true;
        this.#connected?.();
        if (reconnected || this.#readiedWithout) this.#gap(reconnected ? 'the LISTEN connection was lost' : 'the LISTEN connection came late');
        this.#readiedWithout = false;
      },
      onLost: () => (this.#listening = false),
      // Behind a pooler with no direct listen URL: nothing can be heard. Streams still get what the
      // reconciliation finds (the jobs watched by id, every reconcileMs); said once, at the first stream.
      onPooled: () => {
        this.#o.logger.warn(
          'live events need a direct connection to PostgreSQL: the URL leads through a connection pooler (PgBouncer) and no ' +
            'listen URL (JOBQ_LISTEN_URL) was given; event streams and waits only learn of jobs watched by id, every reconcile interval',
        );
        this.#connected?.();
      },
    });
    await this.#listener.start();
    await connected;
    if (this.#closed) return;
    await this.#registration.start();
    this.#reconcileTimer = setInterval(() => void this.#reconciler.run(), this.#o.reconcileMs);
    this.#reconcileTimer.unref();
  }

  async #deactivate(): Promise<void> {
    clearInterval(this.#reconcileTimer);
    await this.#registration.stop();
    await this.#listener?.close();
    this.#listener = undefined;
    this.#listening = false;
    this.#active = false;
    this.#ring.clear();
    this.#reconciler.clear();
  }

  #onNotify(payload: string): void {
    let decoded: ReturnType<typeof decodeNotification>;
    try {
      decoded = decodeNotification(payload);
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message, payload: payload.slice(0, 200) }, 'malformed job events notification skipped');
      return;
    }
    const arrivedAt = this.#o.now();
    for (const ev of decoded.events) {
      if (ev === null || typeof ev !== 'object' || !wellFormed(ev)) {
        this.#o.logger.warn({ event: JSON.stringify(ev).slice(0, 200) }, 'malformed job event skipped');
        continue;
      }
      const { eventId, ...data } = ev;
      const e: HubEvent = { eventId, data, seq: ++this.#seq, arrivedAt };
      this.#ring.push(e);
      if (this.#subs.isWatched(data.id)) this.#reconciler.note(data.id, data.status as JobStatus, data.attempt);
      this.#subs.dispatch(e);
    }
  }

  /** An event made up here: no id, not in the ring. */
  #made(data: StreamEvent): HubEvent {
    return { eventId: undefined, data, seq: this.#seq, arrivedAt: this.#o.now() };
  }

  #gap(why: string): void {
    this.#o.logger.warn({ why }, 'job events may have been missed: streams are told to reset, watched jobs re-read');
    this.#ring.clear();
    this.#subs.resetAll();
    void this.#reconciler.run();
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
