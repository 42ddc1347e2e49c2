/**
 * A LISTEN connection: a dedicated client (a pooled one would be handed to others), which reconnects by
 * itself with backoff when the connection is lost. After every (re)connect it calls `onConnect`, since
 * notifications sent while it was away are gone: the worker looks for work then (worker/notifications.ts),
 * the event hub marks a gap and re-reads what it watches (events/hub.ts).
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { askClient } from '../queue/pooling.ts';

export interface ListenerOptions {
  url: string;
  channels: string[];
  logger: Logger;
  onNotify: (channel: string, payload: string) => void;
  onConnect: (reconnected: boolean) => void;
  /** The connection was lost (a reconnect follows, then `onConnect(true)`). */
  onLost?: () => void;
  /**
   * The URL leads through a pooler in transaction mode (PgBouncer), where LISTEN cannot work: the
   * session that ran it goes back to the pooler's pool, and its notifications to whoever has it next.
   * The listener then stops for good without listening, and says so here (a worker polls instead).
   */
  onPooled?: () => void;
  /** The connection's application_name (pg_stat_activity). Default `jobq-listener`. */
  applicationName?: string;
  /** Reconnect delays grow from min to max. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

export class Listener {
  #client: pg.Client | undefined;
  #closed = false;
  #attempt = 0;
  #everConnected = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #opts: ListenerOptions;

  constructor(opts: ListenerOptions) {
    this.#opts = opts;
  }

  /** Connects, retrying in the background on failure; resolves after the first attempt either way. */
  async start(): Promise<void> {
    await this.#connect();
  }

  get connected(): boolean {
    return this.#client !== undefined;
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({ connectionString: this.#opts.url, keepAlive: true, application_name: this.#opts.applicationName ?? 'jobq-listener' });
    let failed = false;
    const lost = (err?: Error) => {
      if (failed) return;
      failed = true;
      if (this.#client === client) {
        this.#client = undefined;
        this.#opts.onLost?.();
      }
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      if (!this.#closed) {
        this.#opts.logger.warn({ err: err?.message }, 'listener connection lost; reconnecting');
        this.#schedule();
      }
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (n) => this.#opts.onNotify(n.channel, n.payload ?? ''));
    try {
      await client.connect();
      if ((await askClient(client)).pooled) {
        this.#closed = true;
        failed = true;
        client.removeAllListeners('notification');
        await client.end().catch(() => {});
        this.#opts.onPooled?.();
        return;
      }
      for (const ch of this.#opts.channels) await client.query(`LISTEN ${pg.escapeIdentifier(ch)}`);
    } catch (err) {
      lost(err as Error);
      return;
    }
    if (this.#closed || failed) {
      client.end().catch(() => {});
      return;
    }
    this.#client = client;
    this.#attempt = 0;
    const reconnected = this.#everConnected;
    this.#everConnected = true;
    if (reconnected) this.#opts.logger.info('listener reconnected');
    this.#opts.onConnect(reconnected);
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    const min = this.#opts.minDelayMs ?? 100;
    const max = this.#opts.maxDelayMs ?? 5_000;
    const delay = Math.min(max, min * 2 ** this.#attempt++) * (0.5 + Math.random() / 2);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, delay);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
  }
}
