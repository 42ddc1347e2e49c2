/**
 * The schema the migrations build, compared with test/queue/schema.snapshot.txt: a change to the database
 * shape must be deliberate (a new migration and a new snapshot), never drift. Functions are recorded
 * whole (pg_get_functiondef), so an edit of a body in src/queue/functions.sql shows up here too.
 * After adding a migration or changing functions.sql: JOBQ_UPDATE_SNAPSHOT=1 npm test -- test/queue/schema.test.ts
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
    // Whole definitions, bodies and settings included (src/queue/functions.sql is their source).
    ...(await q(`SELECT pg_get_functiondef(p.oid) FROM pg_proc p
                  WHERE p.pronamespace = 'jobq'::regnamespace ORDER BY p.proname, p.oid::regprocedure::text`)),
    '# triggers',
    ...(await q(`SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                  WHERE c.relnamespace = 'jobq'::regnamespace AND NOT t.tgisinternal ORDER BY 1`)),
    '# table options',
    ...(await q(`SELECT relname, array_to_string(reloptions, ',') FROM pg_class WHERE relnamespace = 'jobq'::regnamespace AND relkind = 'r' ORDER BY 1`)),
  ];
  const actual = parts.join('\n') + '\n';
  if (process.env.JOBQ_UPDATE_SNAPSHOT) writeFileSync(SNAPSHOT, actual);
  assert.equal(actual, readFileSync(SNAPSHOT, 'utf8'), 'the schema changed: if intended, add a migration and update the snapshot');
});
