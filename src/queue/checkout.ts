/**
 * Taking a client out of the pool for several statements (a transaction, a session advisory lock).
 *
 * pg-pool removes its own 'error' listener from a client while the client is checked out. If the
 * connection dies between two statements (pg_terminate_backend, a server restart), the client emits
 * 'error' with nobody listening, and Node ends the process: found by the chaos suite's
 * connection-loss scenario, where a worker died in about one run of five (its sweeper holds a client
 * across recover and prune). The client handed out here listens while it is out; its next statement
 * fails as usual (database_unavailable), and on release a broken client is destroyed, not reused.
 */
import type pg from 'pg';
import { fromDatabaseError } from './errors.ts';

export async function checkout(pool: pg.Pool): Promise<pg.PoolClient> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw fromDatabaseError(err);
  }
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  const release = client.release;
  client.release = (err?: Error | boolean) => {
    client.off('error', onError);
    return release.call(client, err ?? broken);
  };
  return client;
}
