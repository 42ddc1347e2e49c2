/** Migrations: in order, once each, under an advisory lock; edits of applied ones are refused. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { isJobqError } from '../../src/errors.ts';
import { LATEST_VERSION, loadMigrations, migrate, schemaVersion } from '../../src/queue/migrate.ts';
import { freshDatabase } from '../helpers/fixtures.ts';

test('ten processes migrating at once apply each migration exactly once', async () => {
  const db = await freshDatabase({ migrated: false });
  assert.equal(await schemaVersion(db.pool), 0);
  // Ten pools = ten sessions racing for the lock, as ten processes would.
  const pools = Array.from({ length: 10 }, () => new pg.Pool({ connectionString: db.url, max: 1 }).on('error', () => {}));
  try {
    const results = await Promise.all(pools.map((p) => migrate(p)));
    // Several of them may take turns (each migration is a transaction of its own): sorted, not in order.
    const applied = results.flatMap((r) => r.applied).sort();
    assert.deepEqual(applied, [...loadMigrations().map((m) => m.name), 'functions.sql'].sort(), 'each migration (and the functions) applied by exactly one of them');
    for (const r of results) assert.equal(r.version, LATEST_VERSION);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
  }
  const { rows } = await db.pool.query('SELECT version FROM jobq.migrations ORDER BY version');
  assert.deepEqual(rows.map((r) => r.version), loadMigrations().map((m) => m.version));
  assert.equal(await schemaVersion(db.pool), LATEST_VERSION);
  assert.deepEqual((await migrate(db.pool)).applied, [], 'a second run has nothing to do');
});

test('a failing migration rolls back alone and leaves earlier ones applied', async () => {
  const db = await freshDatabase({ migrated: false });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jobq-mig-'));
  writeFileSync(path.join(dir, '0001_a.sql'), 'CREATE TABLE jobq.a (x int);');
  writeFileSync(path.join(dir, '0002_b.sql'), 'CREATE TABLE jobq.b (x int); SELECT 1/0;');
  await assert.rejects(migrate(db.pool, loadMigrations(dir), { functions: null }), (err) => isJobqError(err));
  assert.equal(await schemaVersion(db.pool), 1);
  const { rows } = await db.pool.query(`SELECT to_regclass('jobq.b') AS b, to_regclass('jobq.a') AS a`);
  assert.equal(rows[0].b, null);
  assert.equal(rows[0].a, 'jobq.a');
});

test('an applied migration whose file changed is refused', async () => {
  const db = await freshDatabase({ migrated: false });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jobq-mig-'));
  writeFileSync(path.join(dir, '0001_a.sql'), 'CREATE TABLE jobq.a (x int);');
  await migrate(db.pool, loadMigrations(dir), { functions: null });
  writeFileSync(path.join(dir, '0001_a.sql'), 'CREATE TABLE jobq.a (x int, y int);');
  await assert.rejects(migrate(db.pool, loadMigrations(dir), { functions: null }), /was changed after it was applied/);
});

test('migration files must be numbered without gaps', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jobq-mig-'));
  writeFileSync(path.join(dir, '0001_a.sql'), 'SELECT 1;');
  writeFileSync(path.join(dir, '0003_c.sql'), 'SELECT 1;');
  assert.throws(() => loadMigrations(dir), /numbered/);
});
