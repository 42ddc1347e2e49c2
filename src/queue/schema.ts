/**
 * The schema jobq lives in: `jobq` by default, another name (JOBQ_SCHEMA, QueueOptions.schema) so
 * that several installations (or test runs) share one database, each with its own tables, functions,
 * migrations record, NOTIFY channels, sweep turn and event listeners (README, "Several installations
 * in one database").
 *
 * All of jobq's SQL (statements/, migrations/, functions.sql) is written against schema `jobq` and
 * its channels `jobq_jobs`, `jobq_cancel`, ... (channels.ts, events/types.ts). `sqlFor` rewrites a
 * text for another schema; the default path returns the text itself and costs nothing.
 *
 * Which schema a statement runs in is the schema bound to the object it is sent on (db.ts `run`): a
 * Queue binds its pools; a client checked out of a pool (checkout.ts) has the pool's; a caller's
 * client given as WriteOptions.db is bound by the Queue it is given to. Unbound: `jobq`.
 */
import { JobqError } from '../errors.ts';
import type { NamedText } from './db.ts';

export const DEFAULT_SCHEMA = 'jobq';

/** Lowercase letters, digits and `_`, not starting with a digit, at most 40 characters. */
export const SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,39}$/;

/** The channels jobq notifies on, named after the schema (so the default's keep their names). */
const CHANNELS = ['jobs', 'cancel', 'queues', 'schedules', 'listeners', 'events'] as const;

/** Why `name` is no schema name jobq takes, or undefined when it is one. */
export function schemaNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || !SCHEMA_PATTERN.test(name)) {
    return `must be lowercase letters, digits and _ (not starting with a digit), 1 to 40 characters, got ${JSON.stringify(name)}`;
  }
  if (name.startsWith('pg_')) return `must not start with pg_ (reserved by PostgreSQL), got "${name}"`;
  return undefined;
}

/** `name`, checked: throws validation_failed saying what a schema name must be. */
export function checkSchemaName(name: unknown): string {
  const problem = schemaNameProblem(name);
  if (problem) throw new JobqError('validation_failed', `schema name ${problem}`);
  return name as string;
}

const QUALIFIED = /\bjobq\./g;
const CHANNEL = new RegExp(`\\bjobq_(${CHANNELS.join('|')})\\b`, 'g');
const texts = new Map<string, Map<string, string>>();

/**
 * `text` for schema `schema`: `jobq.` becomes `"<schema>".` (quoted, so that a name PostgreSQL reserves,
 * `user` or `order`, works too; inside a string literal such as `'jobq.claims'` as well), and the
 * channels `jobq_<channel>` become `<schema>_<channel>`. Other names starting `jobq_` (an index, a
 * function's local name) live inside the schema and stay. Cached per (schema, text).
 */
export function sqlFor(schema: string, text: string): string {
  if (schema === DEFAULT_SCHEMA) return text;
  let cache = texts.get(schema);
  if (!cache) texts.set(schema, (cache = new Map()));
  let out = cache.get(text);
  if (out === undefined) {
    out = text.replace(QUALIFIED, `"${schema}".`).replace(CHANNEL, `${schema}_$1`);
    cache.set(text, out);
  }
  return out;
}

const named = new WeakMap<NamedText, Map<string, NamedText>>();

/**
 * A named statement for schema `schema`: its rewritten text, under the name `<schema>.<name without
 * jobq_>` (a dot cannot be part of a schema name, so no two schemas' statements share a name on one
 * connection, the default's `jobq_...` included).
 */
export function statementFor(schema: string, stmt: NamedText): NamedText {
  if (schema === DEFAULT_SCHEMA) return stmt;
  let bySchema = named.get(stmt);
  if (!bySchema) named.set(stmt, (bySchema = new Map()));
  let out = bySchema.get(schema);
  if (!out) {
    out = { name: `${schema}.${stmt.name.replace(/^jobq_/, '')}`, text: sqlFor(schema, stmt.text) };
    bySchema.set(schema, out);
  }
  return out;
}

/** The NOTIFY channels of schema `schema`. */
export function channels(schema: string = DEFAULT_SCHEMA): Record<(typeof CHANNELS)[number], string> {
  return Object.fromEntries(CHANNELS.map((c) => [c, `${schema}_${c}`])) as Record<(typeof CHANNELS)[number], string>;
}

const bound = new WeakMap<object, string>();

/**
 * Binds `db` (a pool, a client) to `schema`: its statements run there. A pool bound to another schema
 * is refused (its clients would be shared by two installations); a client, a caller's own given as
 * WriteOptions.db, follows the Queue it is given to.
 */
export function bindSchema(db: object, schema: string): void {
  const prior = bound.get(db);
  if (prior === schema) return;
  if (prior !== undefined && isPool(db)) {
    throw new JobqError('validation_failed', `this pool is already used for jobq schema "${prior}", not "${schema}": give each schema a pool of its own`);
  }
  bound.set(db, schema);
}

/** The schema `db` is bound to: `jobq` unless bound. */
export function schemaOf(db: object): string {
  return bound.get(db) ?? DEFAULT_SCHEMA;
}

function isPool(db: object): boolean {
  return typeof (db as { connect?: unknown }).connect === 'function' && typeof (db as { totalCount?: unknown }).totalCount === 'number';
}
