/**
 * Issue #14, item 11: the sweeper's session advisory lock must not outlive a sweep whose unlock failed.
 * A sweep's statement waits on a row lock past the query timeout; the unlock queued behind it times out
 * too. The client used to go back to the pool holding the lock, and no other process could sweep (and
 * so recover lost workers' jobs) for as long as that connection lived.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPool } from '../../src/db/pool.ts';
import { isJobqError } from '../../src/errors.ts';
import { Queue } from '../../src/queue/queue.ts';
import { DEFAULT_RETENTION } from '../../src/queue/retention.ts';
import { freshDatabase, testKinds, eventually } from '../helpers/fixtures.ts';

test('a sweep whose unlock times out does not keep the sweep lock: another process sweeps next', { timeout: 60_000 }, async (t) => {
  const db = await freshDatabase();
  // Idle connections live long here (30 s): longer than this test waits for the lock.
  const pool = createPool(db.url, { max: 1, queryTimeoutMs: 300 });
  t.after(() => pool.end().catch(() => {}));
  const sweeper = new Queue({ pool, kinds: testKinds() });
  const other = new Queue({ pool: db.pool, kinds: testKinds() });

  // A worker row past its retention, locked by someone else: the sweep's PRUNE_WORKERS waits on it.
  await db.pool.query(`INSERT INTO jobq.workers (id, started_seq, updated_at) VALUES ('gone', 0, now() - interval '2 hours')`);
  const blocker = await db.pool.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query(`SELECT 1 FROM jobq.workers WHERE id = 'gone' FOR UPDATE`);
    await assert.rejects(sweeper.sweep(1_000, DEFAULT_RETENTION), (e) => isJobqError(e, 'database_unavailable'));
    await blocker.query('ROLLBACK');
  } finally {
    blocker.release();
  }

  const swept = await eventually(() => other.sweep(1_000, DEFAULT_RETENTION).then((r) => r ?? undefined), 10_000, 'another process to get the sweep lock');
  assert.deepEqual(swept, { recovered: 0, pruned: 0 });
  const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
  assert.equal(rows[0]!.n, 0, 'nobody holds the sweep lock after the sweep');
});
