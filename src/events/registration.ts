/**
 * This process's row in jobq.event_listeners, kept while it serves streams or waits: publishers send
 * events only while some row is live (docs/events.md). Registered for `ttlMs`, renewed every third
 * of it, removed on stop. A renewal that comes after the row expired (the database was unreachable
 * meanwhile), or a first registration that only succeeded after failing, reports a lapse: publishers
 * may not have sent in between.
 */
import type { Logger } from 'pino';
import { registerListener, unregisterListener } from '../queue/statements/events.ts';
import type { Queryable } from '../queue/types.ts';

export interface RegistrationOptions {
  db: Queryable;
  id: string;
  ttlMs: number;
  logger: Logger;
  /** The row was (or may have been) expired before this renewal. */
  onLapse: () => void;
  /** The row is live now (after each registration or renewal). */
  onRegistered?: () => void;
}

export class ListenerRegistration {
  readonly #o: RegistrationOptions;
  #timer: NodeJS.Timeout | undefined;
  /** Until when the row is live, by this process's clock (0: not registered since start()). */
  #until = 0;
  /** The first registration since start() failed: publishers may not have known of this process meanwhile. */
  #missed = false;
  #running = false;
  #inflight: Promise<void> = Promise.resolve();
  #busy = false;

  constructor(o: RegistrationOptions) {
    this.#o = o;
  }

  /** Registers now (resolves once done, or failed: the renewals go on trying) and keeps renewing until stop(). */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#timer = setInterval(() => void this.#renewOnce(), Math.max(10, Math.floor(this.#o.ttlMs / 3)));
    this.#timer.unref();
    await this.#renewOnce();
  }

  /** Stops renewing and removes the row. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearInterval(this.#timer);
    this.#until = 0;
    this.#missed = false;
    // A renewal still under way would put the row back after the delete.
    await this.#inflight;
    await unregisterListener(this.#o.db, { id: this.#o.id }).catch((err: unknown) => {
      this.#o.logger.warn({ err: (err as Error).message }, 'could not unregister the event listener; its row expires by itself');
    });
  }

  /** One renewal at a time: a slow database never stacks them up. */
  #renewOnce(): Promise<void> {
    if (this.#busy) return this.#inflight;
    this.#busy = true;
    this.#inflight = this.#renew().finally(() => (this.#busy = false));
    return this.#inflight;
  }

  async #renew(): Promise<void> {
    const startedAt = Date.now();
    try {
      await registerListener(this.#o.db, { id: this.#o.id, ttlMs: this.#o.ttlMs });
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message }, 'could not renew the event listener registration; retrying');
      if (this.#until === 0) this.#missed = true;
      return;
    }
    if (!this.#running) return;
    const lapsed = this.#missed || (this.#until !== 0 && startedAt > this.#until);
    this.#missed = false;
    this.#until = startedAt + this.#o.ttlMs;
    this.#o.onRegistered?.();
    if (lapsed) this.#o.onLapse();
  }
}
