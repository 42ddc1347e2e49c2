/** Where the database comes from: DATABASE_URL when given, else the embedded PostgreSQL. */
import type pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded.ts';
import { redactUrl } from '../redact.ts';
import { createPool, type PoolOptions } from './pool.ts';

export interface Database {
  url: string;
  pool: pg.Pool;
  embedded: EmbeddedPostgres | undefined;
  /** Ends the pool, then stops the embedded server if this process owns it. */
  close(): Promise<void>;
}

export interface OpenOptions extends PoolOptions {
  databaseUrl: string | undefined;
  dataDir: string;
  log?: (message: string) => void;
}

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  const embedded = opts.databaseUrl ? undefined : await startEmbeddedPostgres({ dataDir: opts.dataDir, log: opts.log });
  const url = opts.databaseUrl || embedded!.url;
  opts.log?.(`using PostgreSQL at ${redactUrl(url)}${embedded ? ' (embedded)' : ''}`);
  const pool = createPool(url, opts);
  let closed = false;
  return {
    url,
    pool,
    embedded,
    async close() {
      if (closed) return;
      closed = true;
      await pool.end().catch(() => {});
      await embedded?.stop();
    },
  };
}

export { createPool };
