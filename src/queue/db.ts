/**
 * How the queue's modules run their statements: by name (each connection prepares a statement once),
 * with database errors mapped to jobq's error kinds; and a transaction on a client of its own.
 */
import type pg from 'pg';
import { checkout } from './checkout.ts';
import { fromDatabaseError } from './errors.ts';
import type { Statement } from './sql.ts';
import type { Queryable } from './types.ts';

export async function run<R>(db: Queryable, stmt: Statement, values: unknown[]): Promise<pg.QueryResult<R & pg.QueryResultRow>> {
  try {
    return await db.query<R & pg.QueryResultRow>({ name: stmt.name, text: stmt.text, values });
  } catch (err) {
    throw fromDatabaseError(err);
  }
}

/** Runs `fn` in a transaction on a client taken from `pool`: committed if it returns, rolled back if it throws. */
export async function inTransaction<T>(pool: pg.Pool, fn: (db: Queryable) => Promise<T>): Promise<T> {
  const client = await checkout(pool);
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw fromDatabaseError(err);
  } finally {
    client.release();
  }
}
