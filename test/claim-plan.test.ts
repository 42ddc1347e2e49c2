/**
 * The claim query on a big table: 1,000,000 finished jobs and 10,000 runnable ones. EXPLAIN must show
 * the partial runnable index, never a scan of the whole table.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as SQL from '../src/queue/sql.ts';
import { freshDatabase } from './helpers/db.ts';

test('claiming from 1,000,000 finished and 10,000 runnable jobs uses the runnable index', async () => {
  const db = await freshDatabase();
  // Bulk set-up straight in SQL: fast, and it writes rows exactly as the queue module would.
  await db.pool.query(`
    INSERT INTO jobq.jobs (id, kind, payload, status, attempts, finished_at, result)
    SELECT gen_random_uuid(), 'noop', '{}', 'succeeded', 1, now(), '{}' FROM generate_series(1, 1000000)`);
  await db.pool.query(`
    INSERT INTO jobq.jobs (id, kind, payload, priority)
    SELECT gen_random_uuid(), 'noop', '{}', i % 3 FROM generate_series(1, 10000) i`);
  await db.pool.query('ANALYZE jobq.jobs');

  const plan = await explain(db.pool, SQL.CLAIM.text, ['w', 10, null, null, null]);
  assert.match(plan, /Index Scan using jobs_runnable_idx/, plan);
  assert.doesNotMatch(plan, /Seq Scan/, plan);
  const filtered = await explain(db.pool, SQL.CLAIM.text, ['w', 10, ['default'], null, ['noop']]);
  assert.match(filtered, /jobs_runnable_idx/, filtered);
  assert.doesNotMatch(filtered, /Seq Scan/, filtered);
  const recover = await explain(db.pool, SQL.RECOVER.text, [30000, 1000, null]);
  assert.match(recover, /jobs_running_lease_idx/, recover);
  assert.doesNotMatch(recover, /Seq Scan/, recover);

  // And it really claims: the highest priority first.
  const { rows } = await db.pool.query(SQL.CLAIM.text, ['w', 10, null, null, null]);
  assert.equal(rows.length, 10);
  for (const r of rows) assert.equal(r.priority, 2);
});

async function explain(pool: import('pg').Pool, text: string, values: unknown[]): Promise<string> {
  // EXPLAIN (no ANALYZE) plans without running: the table is left as it was.
  const { rows } = await pool.query(`EXPLAIN ${text}`, values);
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}
