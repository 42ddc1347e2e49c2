/** The connection pool every part of jobq shares (the LISTEN connection of a worker is separate). */
import pg from 'pg';
import { askClient, setMode } from '../queue/pooling.ts';

export interface PoolOptions {
  max?: number;
  applicationName?: string;
  /** How long to wait for a connection before failing with database_unavailable. */
  connectionTimeoutMs?: number;
  /** How long a query may go unanswered before it fails with database_unavailable. Default 5 s. */
  queryTimeoutMs?: number;
  /**
   * The server-side limit on each statement (PostgreSQL's statement_timeout, set when a connection
   * opens). query_timeout only makes the client stop waiting: the server went on scanning for nobody.
   * Through a pooler in transaction mode (PgBouncer) it is not set: a SET there would outlive the
   * transaction on a server session others share, and PgBouncer refuses it as a startup parameter.
   * The server's own setting (`ALTER ROLE jobq SET statement_timeout = '5s'`) applies there.
   * Default: the query timeout, so a statement stops when its caller stops waiting for it and never
   * before (a slow write under load is not cut short while its caller would still take the answer).
   */
  statementTimeoutMs?: number;
  onError?: (err: Error) => void;
}

export function createPool(url: string, opts: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    application_name: opts.applicationName ?? 'jobq',
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    // A database that stops answering (frozen, partitioned) must not hold a request for long: the
    // query fails with database_unavailable and its connection is discarded. Migrations lift it.
    query_timeout: opts.queryTimeoutMs ?? 5_000,
    Client: clientClass(opts.statementTimeoutMs ?? opts.queryTimeoutMs ?? 5_000),
  });
  // An idle client whose server went away emits 'error' on the pool; unhandled, it would crash the process.
  pool.on('error', (err) => opts.onError?.(err));
  return pool;
}

/**
 * Clients that, once connected, ask whether they reach PostgreSQL straight or through a pooler
 * (src/queue/pooling.ts, noted for the client so its statements need not ask again), and set the
 * statement timeout only when straight. Sent as a startup parameter instead, the timeout would make
 * PgBouncer refuse every connection.
 */
function clientClass(statementTimeoutMs: number): typeof pg.Client {
  const timeout = Math.max(0, Math.floor(statementTimeoutMs));
  return class JobqClient extends pg.Client {
    /** The pool's query_timeout, kept by the client itself (see query()). */
    readonly #readTimeoutMs: number | undefined;

    constructor(config?: string | pg.ClientConfig) {
      super(config);
      const params = (this as unknown as { connectionParameters: { query_timeout?: number } }).connectionParameters;
      this.#readTimeoutMs = params.query_timeout;
      params.query_timeout = undefined;
    }

    /**
     * The query timeout, armed by the client instead of pg. pg's timer, once the event loop had been
     * blocked for longer than the timeout (a handler's synchronous work), ran before the turn's I/O read
     * the answer already there: a query the server had answered in time failed as unanswered, so a
     * worker lost a claim it had made (its jobs waited a lease to be recovered) and wrote a completion
     * twice, the second finding the job gone. This timer looks again after that I/O (setImmediate)
     * before it gives up. A query that names its own timeout, is a submittable, or carries its callback
     * in its config is left to pg.
     */
    override query(config: any, values?: any, callback?: any): any {
      const ms = this.#readTimeoutMs;
      if (!ms || config == null || typeof config.submit === 'function' || config.query_timeout || typeof config.callback === 'function') return super.query(config, values, callback);
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      // The first of the answer and the timeout settles the query; the other is dropped.
      const once = <A extends unknown[]>(fn: (...a: A) => void) => (...a: A): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn(...a);
      };
      const arm = (fail: (err: Error) => void) => {
        timer = setTimeout(() => setImmediate(fail, new Error('Query read timeout')), ms);
      };
      const done = typeof values === 'function' ? values : callback;
      if (typeof done === 'function') {
        const settle = once(done as (err: Error | null, res?: unknown) => void);
        const out = typeof values === 'function' ? super.query(config, settle) : super.query(config, values, settle);
        arm(settle);
        return out;
      }
      const answer = super.query(config, values) as Promise<unknown>;
      return new Promise((resolve, reject) => {
        const fail = once(reject);
        arm(fail);
        answer.then(once(resolve), fail);
      });
    }

    // pg-pool connects with a callback; a caller of its own may await the promise.
    override connect(callback?: any): any {
      const ready = super.connect().then(() => this.#prepare());
      if (!callback) return ready;
      ready.then(() => callback(null, this), (err: Error) => callback(err));
      return undefined;
    }

    /**
     * Between the connection opening and connect()'s caller hearing of it, nobody else listens to the
     * client's 'error' (pg-pool listens once its callback runs), and an 'error' nobody hears ends the
     * process. The connection lost meanwhile (pg-pool's connection timeout destroys it when that
     * passes, as it did after a handler blocked the event loop for as long: the chaos suite's
     * blocking-handler scenario) fails connect() instead.
     */
    async #prepare(): Promise<this> {
      let lost: Error | undefined;
      const onError = (err: Error) => (lost ??= err);
      this.on('error', onError);
      try {
        const mode = await askClient(this);
        setMode(this, mode);
        if (!mode.pooled) await this.query(`SET statement_timeout = ${timeout}`);
      } finally {
        this.off('error', onError);
      }
      if (lost) throw lost;
      return this;
    }
  } as typeof pg.Client;
}
