/**
 * Numbered `.sql` migrations, applied in order, each in its own transaction that first takes a
 * transaction-level advisory lock, so that any number of processes starting at once apply each exactly
 * once (and so that it works through a pooler in transaction mode, which keeps no session for us).
 * A released migration is never edited: its checksum is recorded and checked.
 *
 * The current text of every jobq function is functions.sql, not the migrations that once defined
 * those functions (they are history): it is applied after the migrations, under the same lock, in a
 * transaction of its own, when its checksum differs from the one recorded in jobq.functions_applied
 * or a migration was applied after it (which may have dropped a function), so a restart costs one read.
 *
 * Each migration waits at most `lockTimeoutMs` for a lock (PostgreSQL's lock_timeout). A migration
 * that alters jobq.jobs needs an exclusive lock; waiting for it behind one long transaction (a report,
 * a forgotten psql session), it would queue every statement of every API and worker process behind
 * itself: an outage for as long as that transaction lasts (issue #14, item 11). It gives up instead,
 * and tries again a few times after a pause; after the last attempt it fails with
 * database_unavailable and says so.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { checkout } from './checkout.ts';
import { JobqError } from '../errors.ts';
import { fromDatabaseError } from './database-errors.ts';
import { run } from './db.ts';
import { checkSchemaName, schemaOf, sqlFor } from './schema.ts';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

/** functions.sql: the current definition of every jobq function (CREATE OR REPLACE, idempotent). */
export interface FunctionsFile {
  name: string;
  sql: string;
  checksum: string;
}

/** Arbitrary but fixed: the key of the advisory lock that serialises migrators ("jobq" in ASCII). */
const MIGRATION_LOCK_KEY = 0x6a6f6271;
/** Migrations may wait for another process's migration and may build indexes: no query timeout. */
const LOCK_NOT_AVAILABLE = '55P03';
const NO_TIMEOUT = 24 * 3_600_000;
/** Defaults of MigrateOptions. */
export const DEFAULT_MIGRATE_LOCK_TIMEOUT_MS = 3_000;
const DEFAULT_LOCK_ATTEMPTS = 5;
const LOCK_RETRY_PAUSE_MS = 1_000;
const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');
const FUNCTIONS_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'functions.sql');
const LOG_FUNCTIONS_FILES = ['functions.sql', 'jobs.sql', 'parents.sql'].map((f) => path.join(path.dirname(fileURLToPath(import.meta.url)), 'log', f));

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const migrations = readdirSync(dir)
    .filter((f) => /^\d+_[\w-]+\.sql$/.test(f))
    .map((file) => {
      const sql = readFileSync(path.join(dir, file), 'utf8');
      return {
        version: Number(file.split('_')[0]),
        name: file.replace(/\.sql$/, ''),
        sql,
        checksum: sha256(sql),
      };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migrations must be numbered 1, 2, 3...: found ${m.name} at position ${i + 1}`);
  });
  return migrations;
}

/** functions.sql, then the log store's (log/functions.sql, log/jobs.sql, log/parents.sql), applied as one text. */
export function loadFunctions(file = FUNCTIONS_FILE, more: string[] = LOG_FUNCTIONS_FILES): FunctionsFile {
  const sql = [file, ...more].map((f) => readFileSync(f, 'utf8')).join('\n');
  return { name: path.basename(file), sql, checksum: sha256(sql) };
}

export const LATEST_VERSION = loadMigrations().at(-1)?.version ?? 0;

export interface MigrateResult {
  /** The migrations this run applied, then functions.sql's name if it applied it. */
  applied: string[];
  version: number;
}

export interface MigrateOptions {
  /** How long one migration may wait for a lock before it gives up (and tries again). Default 3 s. */
  lockTimeoutMs?: number;
  /** How many times a migration that could not get its locks is tried. Default 5. */
  lockAttempts?: number;
  /** The functions file applied after the migrations. Default: src/queue/functions.sql; null: none. */
  functions?: FunctionsFile | null;
  /**
   * The schema to migrate (schema.ts): default the one `pool` is bound to (a Queue's pool), else `jobq`.
   * Every text is rewritten for it; the checksums recorded stay those of the files as written.
   */
  schema?: string;
}

export async function migrate(pool: pg.Pool, migrations = loadMigrations(), opts: MigrateOptions = {}): Promise<MigrateResult> {
  const lockTimeoutMs = opts.lockTimeoutMs ?? DEFAULT_MIGRATE_LOCK_TIMEOUT_MS;
  const attempts = opts.lockAttempts ?? DEFAULT_LOCK_ATTEMPTS;
  const schema = checkSchemaName(opts.schema ?? schemaOf(pool));
  const client = await checkout(pool);
  const q = <R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]) =>
    client.query<R>({ text: sqlFor(schema, text), values, query_timeout: NO_TIMEOUT } as pg.QueryConfig);
  /**
   * One step, in a transaction that first takes the migrators' lock (a transaction lock: no session
   * state, so that it holds through a pooler in transaction mode too), lifts the pool's statement
   * timeout for itself, then waits at most lockTimeoutMs for any other lock; tried again a few times
   * (see the top of this file).
   */
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      await q('BEGIN');
      try {
        await q('SET LOCAL statement_timeout = 0');
        await q('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
        await q(`SET LOCAL lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`);
        const out = await fn();
        await q('COMMIT');
        return out;
      } catch (err) {
        await q('ROLLBACK').catch(() => {});
        if ((err as { code?: string }).code !== LOCK_NOT_AVAILABLE) throw err;
        if (attempt >= attempts) {
          throw new JobqError(
            'database_unavailable',
            `migration ${name} could not get its locks within ${lockTimeoutMs} ms in ${attempts} attempts: ` +
              'another session holds a lock on a table it changes (a long transaction?); try again when it is done',
            undefined,
            { cause: err },
          );
        }
        await sleep(LOCK_RETRY_PAUSE_MS);
      }
    }
  };
  try {
    const rows = await step(`${schema}.migrations`, async () => {
      await q(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await q(`CREATE TABLE IF NOT EXISTS jobq.migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      return (await q<{ version: number; name: string; checksum: string }>('SELECT version, name, checksum FROM jobq.migrations ORDER BY version')).rows;
    });
    const done = new Map(rows.map((r) => [r.version, r]));
    for (const m of migrations) {
      const prior = done.get(m.version);
      if (prior && prior.checksum !== m.checksum) {
        throw new JobqError('internal', `migration ${m.name} was changed after it was applied; add a new migration instead`);
      }
    }
    const applied: string[] = [];
    for (const m of migrations.filter((m) => !done.has(m.version))) {
      // Another process may have applied it since the read above: looked at again under the lock.
      const did = await step(m.name, async () => {
        if ((await q('SELECT 1 FROM jobq.migrations WHERE version = $1', [m.version])).rowCount) return false;
        await q(m.sql);
        await q('INSERT INTO jobq.migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, m.checksum]);
        return true;
      });
      if (did) applied.push(m.name);
    }
    const functions = opts.functions === undefined ? loadFunctions() : opts.functions;
    if (functions) {
      const did = await step(functions.name, async () => {
        // Applied again when its text changed or a migration came after it (which may have dropped a
        // function): by whichever process gets here first after that migration, once.
        const recorded = await q<{ checksum: string; stale: boolean }>(
          'SELECT checksum, coalesce((SELECT max(applied_at) FROM jobq.migrations) > applied_at, false) AS stale FROM jobq.functions_applied',
        );
        const row = recorded.rows[0];
        if (row && row.checksum === functions.checksum && !row.stale) return false;
        await q(functions.sql);
        await q(
          `INSERT INTO jobq.functions_applied (checksum) VALUES ($1)
           ON CONFLICT (one) DO UPDATE SET checksum = excluded.checksum, applied_at = excluded.applied_at`,
          [functions.checksum],
        );
        return true;
      });
      if (did) applied.push(functions.name);
    }
    const version = Math.max(0, ...rows.map((r) => r.version), ...migrations.map((m) => m.version));
    return { applied, version };
  } catch (err) {
    throw err instanceof JobqError ? err : fromDatabaseError(err);
  } finally {
    client.release();
  }
}

const APPLIED_VERSION = { name: 'jobq_applied_version', text: 'SELECT coalesce(max(version), 0) AS v FROM jobq.migrations' };

/**
 * The highest applied version, in one statement (readiness asks this): it fails where `schemaVersion`
 * would say 0, when jobq's schema is not there yet. Both read the schema `db` is bound to.
 */
export async function appliedVersion(db: pg.Pool | pg.PoolClient): Promise<number> {
  try {
    const { rows } = await run<{ v: number }>(db, APPLIED_VERSION, []);
    return rows[0]?.v ?? 0;
  } catch (err) {
    throw fromDatabaseError(err);
  }
}

/** The highest applied version, or 0 when jobq's schema (`schema`, default the one `db` is bound to) is not there yet. */
export async function schemaVersion(db: pg.Pool | pg.PoolClient, schema = schemaOf(db)): Promise<number> {
  try {
    const present = await db.query<{ ok: boolean }>(sqlFor(schema, `SELECT to_regclass('jobq.migrations') IS NOT NULL AS ok`));
    if (!present.rows[0]?.ok) return 0;
    const { rows } = await db.query<{ v: number }>(sqlFor(schema, 'SELECT coalesce(max(version), 0) AS v FROM jobq.migrations'));
    return rows[0]?.v ?? 0;
  } catch (err) {
    throw fromDatabaseError(err);
  }
}
