/** A client checked out of the pool (sweeper, transactions, migrations) whose connection is killed while it is out. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { checkout } from '../../src/queue/checkout.ts';
import { inTransaction } from '../../src/queue/db.ts';
import { isJobqError } from '../../src/errors.ts';
import { freshDatabase, eventually, throughPgBouncer } from '../helpers/fixtures.ts';

test('a checked-out client killed between statements does not take the process down, and is destroyed on release', {
  skip: throughPgBouncer && 'through PgBouncer, the server session it kills is not the client\'s between statements (PgBouncer keeps the client connected)',
}, async () => {
  // Without checkout's listener the 'error' this provokes has no handler and ends the test process.
  const db = await freshDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 2 }).on('error', () => {});
  try {
    const client = await checkout(pool);
    let released = false;
    try {
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      assert.equal(client.listenerCount('error'), 1, 'the pool took its own listener away; ours is there');
      await db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
      await eventually(() => ((client as unknown as { _queryable: boolean })._queryable ? undefined : true), 5_000, 'the client to see its connection end');
      await assert.rejects(client.query('SELECT 1'));
      client.release();
      released = true;
    } finally {
      if (!released) client.release(true);
    }
    assert.equal(pool.totalCount, 0, 'the broken client was destroyed, not put back');
    const again = await checkout(pool);
    assert.equal((await again.query('SELECT 1 AS one')).rows[0].one, 1, 'the pool hands out a working one');
    again.release();
    await assert.rejects(checkout(new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' })), (e) => isJobqError(e, 'database_unavailable'));
  } finally {
    await pool.end();
  }
});

test('a transaction that fails with an error the server answered is rolled back and its connection kept', async () => {
  // A serialization failure counts as "database unavailable, try again", but the connection is fine:
  // only client-side failures (an abandoned statement, a lost connection) cost the connection.
  const db = await freshDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 1 }).on('error', () => {});
  try {
    // The connection's id as the client was given it at connect (through PgBouncer, the server session under it may change).
    const pid = async () => {
      const c = await pool.connect();
      c.release();
      return (c as unknown as { processID: number }).processID;
    };
    const before = await pid();
    await assert.rejects(
      inTransaction(pool, async (c) => {
        await c.query(`DO $$ BEGIN RAISE EXCEPTION 'try again' USING ERRCODE = '40001'; END $$`);
      }),
      (e) => isJobqError(e, 'database_unavailable'),
    );
    assert.equal(await pid(), before, 'the same connection, put back');
    const client = await pool.connect();
    assert.equal(client.getTransactionStatus(), 'I', 'outside any transaction');
    client.release();
  } finally {
    await pool.end();
  }
});
