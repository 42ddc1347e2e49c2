/** The connection pool every part of jobq shares (the LISTEN connection of a worker is separate). */
import pg from 'pg';

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
   * Default: the query timeout, so a statement stops when its caller stops waiting for it and never
   * before (a slow write under load is not cut short while its caller would still take the answer).
   */
  statementTimeoutMs?: number;
  onError?: (err: Error) => void;
  /**
   * The URL leads through a pooler in transaction mode (PgBouncer): no statement_timeout is sent at
   * connect, as PgBouncer refuses startup parameters it does not know; the server's own setting (say,
   * `ALTER ROLE jobq SET statement_timeout = '5s'`) or PgBouncer's query_timeout bounds statements.
   */
  pooled?: boolean;
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
    ...(opts.pooled ? {} : { statement_timeout: opts.statementTimeoutMs ?? opts.queryTimeoutMs ?? 5_000 }),
  });
  // An idle client whose server went away emits 'error' on the pool; unhandled, it would crash the process.
  pool.on('error', (err) => opts.onError?.(err));
  return pool;
}
