/**
 * Issue #14, item 11: a migration takes a lock_timeout. Altering jobq.jobs needs an exclusive lock; a
 * migration waiting for it behind one long transaction queued every other statement on the table
 * behind itself, for as long as that transaction lasted (an outage of the whole queue).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { isJobqError } from '../../src/errors.ts';
import { LATEST_VERSION, loadMigrations, migrate, type Migration } from '../../src/queue/migrate.ts';
import { freshDatabase, eventually } from '../helpers/fixtures.ts';

const ALTER: Migration = {
  version: LATEST_VERSION + 1,
  name: `${String(LATEST_VERSION + 1).padStart(4, '0')}_test_add_column`,
  sql: 'ALTER TABLE jobq.jobs ADD COLUMN test_col integer',
  checksum: 'test',
};

// A hang-guard: before the fix the migration (and the reader behind it) waited as long as the blocker.
test('a migration that cannot get its lock gives up instead of stalling every statement on the table', { timeout: 60_000 }, async (t) => {
  const db = await freshDatabase();
  // Clients of their own, not of db.pool: were the migration to hang (as before the fix), the
  // database's drop terminates them rather than waiting for them to be given back.
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  pool.on('error', () => {});
  t.after(() => void pool.end().catch(() => {}));
  const [blocker, reader] = [new pg.Client({ connectionString: db.url }), new pg.Client({ connectionString: db.url })];
  for (const c of [blocker, reader]) {
    c.on('error', () => {});
    await c.connect();
    t.after(() => void c.end().catch(() => {}));
  }
  let failed: unknown;
  try {
    // A long transaction that read the table: it holds ACCESS SHARE until it ends.
    await blocker.query('BEGIN');
    await blocker.query('SELECT count(*) FROM jobq.jobs');
    const migrating = migrate(pool, [...loadMigrations(), ALTER], { lockTimeoutMs: 300, lockAttempts: 3 }).catch((err: unknown) => (failed = err));
    // The ALTER waits for its lock...
    await eventually(async () => {
      const { rows } = await db.pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'ALTER TABLE jobq.jobs%'`,
      );
      return rows[0]!.n > 0 ? true : undefined;
    }, 10_000, 'the migration to wait for its lock');
    // ...and a reader behind it gets its answer while the blocker still holds on: the ALTER gives up.
    const { rows } = await reader.query<{ n: number }>('SELECT count(*)::int AS n FROM jobq.jobs');
    assert.equal(rows[0]!.n, 0);
    await migrating;
    assert.ok(isJobqError(failed, 'database_unavailable'), String(failed));
    assert.match((failed as Error).message, /could not get its locks within 300 ms in 3 attempts/);
  } finally {
    await blocker.query('ROLLBACK').catch(() => {});
  }
  const again = await migrate(pool, [...loadMigrations(), ALTER], { lockTimeoutMs: 300 });
  assert.deepEqual(again.applied, [ALTER.name, 'functions.sql'], 'applied once the blocker is gone (and the functions after it)');
  const col = await db.pool.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = 'jobq' AND table_name = 'jobs' AND column_name = 'test_col'`);
  assert.equal(col.rowCount, 1);
});
