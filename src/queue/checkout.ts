/**
 * Taking a client out of the pool for several statements (a transaction, a session advisory lock).
 *
 * pg-pool removes its own 'error' listener from a client while the client is checked out. If the
 * connection dies between two statements (pg_terminate_backend, a server restart), the client emits
 * 'error' with nobody listening, and Node ends the process: found by the chaos suite's
 * connection-loss scenario, where a worker died in about one run of five (its sweeper holds a client
 * across recover and prune). The client handed out here listens while it is out; its next statement
 * fails as usual (database_unavailable), and on release a broken client is destroyed, not reused.
 *
 * A client also goes back to the pool only in a clean state: outside any transaction, with no
 * statement of it still running. A statement that hit the pool's `query_timeout` is only abandoned by
 * the driver, not cancelled: it keeps running on the server, the statements queued behind it (a
 * ROLLBACK) may be dropped unsent, and the next borrower's statements would run inside that dead
 * transaction and never be committed (issue #14, item 2). Such a client is destroyed on release, which
 * ends its session: the server rolls back whatever it had open and frees its locks.
 */
import type pg from 'pg';
import { fromDatabaseError, isConnectionError } from './database-errors.ts';
import { knownMode, sendMode, setMode } from './pooling.ts';
import { bindSchema, schemaOf } from './schema.ts';

/** Why a checked-out client must not be reused, once something made it so. */
const spoiled = new WeakMap<pg.PoolClient, Error>();

export async function checkout(pool: pg.Pool): Promise<pg.PoolClient> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw fromDatabaseError(err);
  }
  // The client's statements run in its pool's schema (schema.ts).
  bindSchema(client, schemaOf(pool));
  // The client sends statements as its pool's do (pooling.ts); a pool not asked yet is asked on this
  // client (asking on another could wait forever for a pool of one).
  if (!knownMode(client)) {
    try {
      const mode = knownMode(pool) ?? (await sendMode(client));
      setMode(client, mode);
      setMode(pool, mode);
    } catch (err) {
      client.release(err as Error);
      throw fromDatabaseError(err);
    }
  }
  const onError = (err: Error) => {
    if (!spoiled.has(client)) spoiled.set(client, err);
  };
  client.on('error', onError);
  // Statements of a checked-out client that fail on the client's side (a query timeout, a dropped
  // connection) leave it in an unknown state: note it, so that release destroys the client. An error
  // the server answered (a deadlock, a statement_timeout: severity ERROR) leaves the connection fine.
  const query = client.query;
  client.query = function (this: pg.PoolClient, ...args: unknown[]) {
    const out = (query as (...a: unknown[]) => unknown).apply(this, args);
    if (out instanceof Promise) {
      out.catch((err: unknown) => {
        if (isConnectionError(err) && (err as { severity?: unknown }).severity !== 'ERROR') onError(err as Error);
      });
    }
    return out;
  } as typeof client.query;
  const release = client.release;
  client.release = (err?: Error | boolean) => {
    client.off('error', onError);
    client.query = query;
    const reason = err || spoiled.get(client) || unclean(client);
    spoiled.delete(client);
    return release.call(client, reason);
  };
  return client;
}

/**
 * Whether statements can still be sent on this checked-out client with an answer to expect (no
 * connection error and no abandoned statement so far). A transaction that failed on such a client
 * cannot be rolled back: sending ROLLBACK would only queue behind the abandoned statement.
 */
export function isUsable(client: pg.PoolClient): boolean {
  return !spoiled.has(client);
}

/** A reason to destroy a client about to go back to the pool: it is still inside a transaction. */
function unclean(client: pg.PoolClient): Error | undefined {
  const status = client.getTransactionStatus();
  return status === 'I' ? undefined : new Error(`client released with its transaction open (status ${String(status)})`);
}
