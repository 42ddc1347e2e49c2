/**
 * The claim's commit (migration 0008): a claim that is its own transaction commits without waiting
 * for the WAL flush; a claim inside the caller's transaction never changes how that transaction commits.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { Queue } from '../../src/queue/queue.ts';
import { claimAll } from '../../src/queue/log/statements.ts';
import { claim } from '../../src/queue/statements/claim.ts';
import { freshDatabase, testKinds } from '../helpers/fixtures.ts';
import { statementName } from '../helpers/statement-names.ts';

const show = async (c: pg.ClientBase) => (await c.query<{ synchronous_commit: string }>('SHOW synchronous_commit')).rows[0]!.synchronous_commit;

test('jobq.claim with p_async makes the rest of its transaction commit asynchronously, and only that transaction', async () => {
  const db = await freshDatabase();
  await db.pool.query(`INSERT INTO jobq.jobs (id, kind, payload) SELECT gen_random_uuid(), 'noop', '{}' FROM generate_series(1, 3)`);
  const c = await db.pool.connect();
  try {
    for (const async of [false, true]) {
      await c.query('BEGIN');
      const values = claim.values({ workerId: 'w', limit: 1, queues: null, kinds: null, afterPriority: null, afterRunAt: null, afterId: null, started: null, async, now: null, exclude: null });
      const { rowCount } = await c.query(claim.text, values);
      assert.equal(rowCount, 1);
      assert.equal(await show(c), async ? 'off' : 'on');
      await c.query('COMMIT');
      assert.equal(await show(c), 'on', 'the session keeps its own setting');
    }
  } finally {
    c.release();
  }
});

test("the queue claims asynchronously on its own, and never inside the caller's transaction", async () => {
  const db = await freshDatabase();
  // The real pool, recording the async flag each claim statement (the row store's or both stores') was sent with.
  const sent: unknown[] = [];
  class RecordingPool extends pg.Pool {
    override query(config: unknown, values?: unknown): never {
      const c = config as { name?: string; text?: string; values?: unknown[] };
      if (statementName(c)?.startsWith('jobq_claim')) sent.push(c.values![claim.params.indexOf('async')]);
      else if (c.text === claimAll.text) sent.push(c.values![claimAll.params.indexOf('async')]);
      return (super.query as (a: unknown, b?: unknown) => never)(config, values);
    }
  }
  const pool = new RecordingPool({ connectionString: db.url, max: 2 });
  // pool.end() resolves before its sockets close; the database's forced drop can then reach a closing
  // client, and an 'error' no one listens for would end the test file.
  pool.on('error', () => {});
  const queue = new Queue({ pool, kinds: testKinds() });
  try {
    await queue.enqueueMany(Array.from({ length: 4 }, () => ({ kind: 'noop', payload: {} })));
    assert.equal((await queue.claim('w', { limit: 1 })).length, 1);
    assert.equal((await queue.claim('w', { limit: 1, kinds: ['noop'] })).length, 1);
    assert.deepEqual(sent, [true, true]);

    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      assert.equal((await queue.claim('w', { limit: 1, db: client })).length, 1);
      assert.equal(await show(client), 'on', "the caller's transaction still commits durably");
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
  }
});
