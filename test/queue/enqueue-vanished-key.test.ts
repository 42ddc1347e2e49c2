/**
 * Issue #14, item 11: the job holding an idempotency key is deleted (retention) between the insert
 * that skipped a row for that key and the look-up of the key's job. The batch used to be inserted again
 * as a whole, so its jobs without a key were inserted twice.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { Queue } from '../../src/queue/queue.ts';
import { freshDatabase, jobCount, testKinds, type TestDatabase } from '../helpers/fixtures.ts';
import { statementName } from '../helpers/statement-names.ts';

/** A pool whose first idempotency-key look-up is preceded by the pruner deleting the key's job. */
function pruneBeforeLookup(db: TestDatabase, key: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on('error', () => {});
  let armed = true;
  const prune = async (config: unknown) => {
    if (armed && statementName(config) === 'jobq_find_by_keys') {
      armed = false;
      await db.pool.query('DELETE FROM jobq.jobs WHERE idempotency_key = $1', [key]);
    }
  };
  // Clients checked out for a transaction, and the pool's own one-statement queries.
  pool.on('connect', (client) => {
    client.on('error', () => {}); // the database's forced drop may reach a client the ended pool is still closing
    const query = client.query.bind(client) as (...a: unknown[]) => unknown;
    client.query = (async (...args: unknown[]) => {
      await prune(args[0]);
      return query(...args);
    }) as typeof client.query;
  });
  return pool;
}

for (const where of ['its own transaction', "the caller's transaction"] as const) {
  test(`a key's job pruned before the look-up: the batch (in ${where}) inserts each job once`, async (t) => {
    const db = await freshDatabase();
    const pool = pruneBeforeLookup(db, 'k');
    t.after(() => pool.end());
    const queue = new Queue({ pool, kinds: testKinds() });
    const [old] = await new Queue({ pool: db.pool, kinds: testKinds() }).enqueueMany([{ kind: 'noop', payload: {}, idempotencyKey: 'k' }]);

    const batch = [
      { kind: 'noop', payload: { sleep_ms: 1 } },
      { kind: 'noop', payload: {}, idempotencyKey: 'k' },
      { kind: 'noop', payload: { sleep_ms: 2 } },
    ];
    let results;
    if (where === 'its own transaction') results = await queue.enqueueMany(batch);
    else {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        results = await queue.enqueueMany(batch, { db: client });
        await client.query('COMMIT');
      } finally {
        client.release();
      }
    }

    assert.deepEqual(results.map((r) => r.isNew), [true, true, true], 'the key was free again: a new job holds it');
    assert.notEqual(results[1]!.job.id, old!.job.id);
    // Listed from whichever store holds each (the keyed one is a row; the others may be the log's).
    const jobs = (await queue.list()).jobs.sort((x, y) => (x.id < y.id ? -1 : 1));
    assert.deepEqual(jobs.map((j) => j.id), results.map((r) => r.job.id), 'exactly the three jobs returned, each once');
    assert.deepEqual(jobs.map((j) => j.payload), [{ sleep_ms: 1 }, {}, { sleep_ms: 2 }]);
    assert.equal(await jobCount(db.pool), 3);
  });
}

test("a single enqueue whose key's job is pruned before the look-up gets a new job", async (t) => {
  const db = await freshDatabase();
  const pool = pruneBeforeLookup(db, 'k');
  t.after(() => pool.end());
  const queue = new Queue({ pool, kinds: testKinds() });
  await new Queue({ pool: db.pool, kinds: testKinds() }).enqueue({ kind: 'noop', payload: {}, idempotencyKey: 'k' });
  const r = await queue.enqueue({ kind: 'noop', payload: {}, idempotencyKey: 'k' });
  assert.equal(r.isNew, true);
  const { rows } = await db.pool.query<{ id: string }>('SELECT id FROM jobq.jobs');
  assert.deepEqual(rows.map((x) => x.id), [r.job.id]);
});
