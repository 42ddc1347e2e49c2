/**
 * The schema the migrations build, compared with test/queue/schema.snapshot.txt: a change to the database
 * shape must be deliberate (a new migration and a new snapshot), never drift.
 * After adding a migration: JOBQ_UPDATE_SNAPSHOT=1 npm test -- test/queue/schema.test.ts
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { freshDatabase } from '../helpers/fixtures.ts';

const SNAPSHOT = 'test/queue/schema.snapshot.txt';

test('the migrated schema matches the checked-in snapshot', async () => {
  const db = await freshDatabase();
  const q = async (sql: string) => (await db.pool.query(sql)).rows.map((r) => Object.values(r).join(' | '));
  const parts = [
    '# columns',
    ...(await q(`SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, '') FROM information_schema.columns
                  WHERE table_schema = 'jobq' ORDER BY table_name, ordinal_position`)),
    '# indexes',
    ...(await q(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'jobq' ORDER BY indexname`)),
    '# constraints',
    ...(await q(`SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
                  WHERE connamespace = 'jobq'::regnamespace ORDER BY 1, 2`)),
    '# functions',
    ...(await q(`SELECT p.proname, pg_get_function_arguments(p.oid), array_to_string(p.proconfig, ',') FROM pg_proc p
                  WHERE p.pronamespace = 'jobq'::regnamespace ORDER BY 1`)),
    '# table options',
    ...(await q(`SELECT relname, array_to_string(reloptions, ',') FROM pg_class WHERE relnamespace = 'jobq'::regnamespace AND relkind = 'r' ORDER BY 1`)),
  ];
  const actual = parts.join('\n') + '\n';
  if (process.env.JOBQ_UPDATE_SNAPSHOT) writeFileSync(SNAPSHOT, actual);
  assert.equal(actual, readFileSync(SNAPSHOT, 'utf8'), 'the schema changed: if intended, add a migration and update the snapshot');
});
