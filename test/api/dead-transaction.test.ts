/**
 * Issue #14, item 2: a connection must never go back to the pool inside a transaction. A batch whose
 * INSERT waits on another session's uncommitted idempotency key hits the query timeout; the driver
 * abandons the statement (it keeps running on the server) and the ROLLBACK queued behind it times out
 * unsent. Put back, that connection would run the next enqueue inside the dead transaction: answered
 * 201, never committed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { createPool } from '../../src/db/pool.ts';
import { Queue } from '../../src/queue/queue.ts';
import { freshDatabase, testKinds, buildTestApp, listen, eventually, jobCount } from '../helpers/fixtures.ts';
import { request } from '../chaos/helpers/http.ts';

test('a batch that times out inside its transaction does not leave the connection in it: the next enqueue is committed', { timeout: 60_000 }, async (t) => {
  const db = await freshDatabase();
  const pool = createPool(db.url, { max: 1, queryTimeoutMs: 300, applicationName: 'jobq-dead-tx' });
  t.after(() => pool.end().catch(() => {}));
  const queue = new Queue({ pool, kinds: testKinds() });
  const { app } = await buildTestApp({ queue });
  const url = await listen(app);

  // Another session holds the key, uncommitted: an INSERT of the same key waits for its outcome.
  const other = new pg.Client({ connectionString: db.url });
  other.on('error', () => {}); // the database's drop at the end terminates it
  await other.connect();
  t.after(() => other.end().catch(() => {}));
  await other.query('BEGIN');
  await queue.enqueue({ kind: 'noop', payload: {}, idempotencyKey: 'held' }, { db: other });

  const batch = await request(url, 'POST', '/v1/jobs/batch', {
    body: { jobs: [{ kind: 'noop', payload: {}, idempotency_key: 'held' }, { kind: 'noop', payload: { sleep_ms: 1 } }] },
  });
  assert.equal(batch.status, 503, batch.body);
  assert.equal(JSON.parse(batch.body).error.kind, 'database_unavailable');

  await other.query('ROLLBACK');
  const created = await request(url, 'POST', '/v1/jobs', { body: { kind: 'noop', payload: { sleep_ms: 2 } } });
  assert.equal(created.status, 201, created.body);
  const id = JSON.parse(created.body).id as string;

  // Seen from another connection: it was committed, not left in somebody's open transaction.
  // Read through the queue, so that a job of either store counts (the plain ones are log entries by default).
  assert.deepEqual((await queue.get(id, { db: db.pool }))?.payload, { sleep_ms: 2 }, 'the job answered 201 is in the database');
  assert.equal(await jobCount(db.pool), 1, 'nothing of the timed-out batch was committed');
  // The abandoned backend ends once its statement does; none stays idle in a transaction.
  await eventually(async () => {
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`,
    );
    return rows[0]!.n === 0 ? true : undefined;
  }, 10_000, 'no backend idle in transaction');
});
