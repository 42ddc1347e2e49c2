/**
 * functions.sql is the current text of every jobq function: migrate() applies it after the numbered
 * migrations when it changed (or a migration ran), and the text PostgreSQL runs is the file's.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type pg from 'pg';
import { LATEST_VERSION, loadFunctions, loadMigrations, migrate, type Migration } from '../../src/queue/migrate.ts';
import { freshDatabase } from '../helpers/db.ts';

const FILE = loadFunctions();
const DEFINITION = /CREATE OR REPLACE FUNCTION [\s\S]*?\sAS \$function\$[\s\S]*?\$function\$/g;

/**
 * One definition as pg_get_functiondef prints it: the header's whitespace made uniform (the file
 * breaks long argument lists), the body as it is.
 */
function normalise(def: string): string {
  const at = def.indexOf('\nAS $function$');
  assert.ok(at > 0, `not a definition as pg_get_functiondef prints it:\n${def}`);
  const header = def.slice(0, at).replace(/\s+/g, ' ').replace(/\( /g, '(').replace(/ \)/g, ')').trim();
  return `${header}\n${def.slice(at + 1).trimEnd()}`;
}

function fileDefinitions(sql = FILE.sql): string[] {
  return (sql.match(DEFINITION) ?? []).map(normalise).sort();
}

async function databaseDefinitions(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ def: string }>(
    `SELECT pg_get_functiondef(p.oid) AS def FROM pg_proc p WHERE p.pronamespace = 'jobq'::regnamespace`,
  );
  return rows.map((r) => normalise(r.def)).sort();
}

/** Each function's pg_proc row version: CREATE OR REPLACE writes a new one even with the same text. */
async function rowVersions(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ v: string }>(
    `SELECT p.oid::regprocedure::text || ' ' || p.xmin::text AS v FROM pg_proc p WHERE p.pronamespace = 'jobq'::regnamespace ORDER BY 1`,
  );
  return rows.map((r) => r.v);
}

async function recordedChecksum(pool: pg.Pool): Promise<string | undefined> {
  const { rows } = await pool.query<{ checksum: string }>('SELECT checksum FROM jobq.functions_applied');
  return rows[0]?.checksum;
}

test('functions.sql holds only CREATE OR REPLACE FUNCTION statements, each in the form pg_get_functiondef prints', () => {
  const rest = FILE.sql.replace(/--.*$/gm, '').replace(DEFINITION, '').replace(/[;\s]/g, '');
  assert.equal(rest, '', 'anything else would not be idempotent or would escape the comparison with the database');
  assert.ok(fileDefinitions().length >= 2);
});

test('a fresh database is migrated, then functions.sql applied: PostgreSQL runs exactly its text', async () => {
  const db = await freshDatabase({ migrated: false });
  const { applied } = await migrate(db.pool);
  assert.deepEqual(applied, [...loadMigrations().map((m) => m.name), 'functions.sql']);
  assert.equal(await recordedChecksum(db.pool), FILE.checksum);
  // Every jobq function is in the file, with the same text, and nothing else is (no leftover from a
  // migration, no overload that a changed argument list would have added).
  assert.deepEqual(await databaseDefinitions(db.pool), fileDefinitions());
  // Idempotent: applied once more by hand, it changes nothing.
  await db.pool.query(FILE.sql);
  assert.deepEqual(await databaseDefinitions(db.pool), fileDefinitions());
});

test('a restart with the same functions.sql does not apply it again', async () => {
  const db = await freshDatabase();
  const before = await rowVersions(db.pool);
  assert.deepEqual((await migrate(db.pool)).applied, []);
  assert.deepEqual(await rowVersions(db.pool), before, 'no function was replaced');
});

test('a changed functions.sql is applied on the next migrate, and so is the released one after it', async () => {
  const db = await freshDatabase();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jobq-fn-'));
  const changedSql = FILE.sql.replace('       LIMIT keep\n', '       LIMIT keep -- changed\n');
  assert.notEqual(changedSql, FILE.sql);
  writeFileSync(path.join(dir, 'functions.sql'), changedSql);
  const changed = loadFunctions(path.join(dir, 'functions.sql'), []);

  assert.deepEqual((await migrate(db.pool, undefined, { functions: changed })).applied, ['functions.sql']);
  assert.equal(await recordedChecksum(db.pool), changed.checksum);
  assert.deepEqual(await databaseDefinitions(db.pool), fileDefinitions(changedSql));
  assert.deepEqual((await migrate(db.pool, undefined, { functions: changed })).applied, [], 'then not again');

  assert.deepEqual((await migrate(db.pool)).applied, ['functions.sql']);
  assert.equal(await recordedChecksum(db.pool), FILE.checksum);
  assert.deepEqual(await databaseDefinitions(db.pool), fileDefinitions());
});

test('a database migrated by the release before functions.sql ends with its text', async () => {
  const db = await freshDatabase({ migrated: false });
  await migrate(db.pool, loadMigrations().filter((m) => m.version <= 9), { functions: null });
  const { applied } = await migrate(db.pool);
  assert.deepEqual(applied, [...loadMigrations().filter((m) => m.version > 9).map((m) => m.name), 'functions.sql']);
  assert.deepEqual(await databaseDefinitions(db.pool), fileDefinitions());
});

test('a migration that drops a function (as one changing its arguments must) is followed by functions.sql', async () => {
  const db = await freshDatabase();
  const sql = 'DROP FUNCTION jobq.push_error(jsonb, timestamptz, integer, text, integer)';
  const version = LATEST_VERSION + 1;
  const drop: Migration = { version, name: `${String(version).padStart(4, '0')}_test_drop`, sql, checksum: 'test' };
  const { applied } = await migrate(db.pool, [...loadMigrations(), drop]);
  assert.deepEqual(applied, [drop.name, 'functions.sql'], 'applied although the file did not change');
  assert.deepEqual(await databaseDefinitions(db.pool), fileDefinitions());
});
