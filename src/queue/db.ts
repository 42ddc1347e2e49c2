/**
 * How the queue's modules run their statements: by name (each connection prepares a statement once),
 * or unnamed behind a pooler that cannot keep prepared statements (pooling.ts), with database errors
 * mapped to jobq's error kinds; and a transaction on a client of its own.
 */
import type pg from 'pg';
import { checkout, isUsable } from './checkout.ts';
import { fromDatabaseError } from './database-errors.ts';
import { knownMode, sendMode } from './pooling.ts';
import { schemaOf, statementFor } from './schema.ts';
import type { Queryable } from './types.ts';

/** A named statement's name and `$n` text (see statements/statement.ts). */
export interface NamedText {
  name: string;
  text: string;
}

export async function run<R>(db: Queryable, stmt: NamedText, values: unknown[]): Promise<pg.QueryResult<R & pg.QueryResultRow>> {
  // The schema of `db` (schema.ts), read before anything is awaited; the default's text is `stmt`'s own.
  const sent = statementFor(schemaOf(db), stmt);
  try {
    // Known after the first statement of a pool (or of a client from outside): asked once, then a lookup.
    const mode = knownMode(db) ?? (await sendMode(db));
    return await db.query<R & pg.QueryResultRow>(mode.named ? { name: sent.name, text: sent.text, values } : { text: sent.text, values });
  } catch (err) {
    throw fromDatabaseError(err);
  }
}

/**
 * Runs `fn` in a transaction on a client taken from `pool`: committed if it returns, rolled back if it
 * throws. A client whose transaction did not end cleanly (a statement abandoned at its query timeout,
 * a lost connection, a ROLLBACK or COMMIT that failed) is destroyed, never put back (see checkout.ts):
 * the server then rolls the transaction back when the session ends.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (db: Queryable) => Promise<T>): Promise<T> {
  const client = await checkout(pool);
  try {
    await client.query('BEGIN');
    const out = await fn(client);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    // After an abandoned statement a ROLLBACK would only wait behind it: the release destroys the client.
    if (isUsable(client)) await client.query('ROLLBACK').catch(() => {});
    throw fromDatabaseError(err);
  } finally {
    client.release();
  }
}
