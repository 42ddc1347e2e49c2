/**
 * The statement definer: every job statement in src/queue/statements/ is made here.
 *
 * A statement is written as SQL with `:camelCase` named parameters and compiled once, when its module
 * loads, to the `$1..$n` text PostgreSQL takes (numbered in order of first appearance; `::casts` stay
 * casts, since a name is never preceded by another `:`). What comes back is a function
 * `(db, params) => rows` that runs it by name (each connection prepares it once), with driver errors
 * mapped to jobq's kinds (db.ts `run`). Building the values is a loop over the precompiled names: no
 * parsing per call. The parameter type `P` is the contract; an `undefined` value is sent as NULL.
 */
import { run } from '../db.ts';
import type { Queryable } from '../types.ts';

/** The clock seam: NULL `:now` is the database's clock (production), a fixed time in tests. */
export const NOW = 'coalesce(:now::timestamptz, now())';

/** What every statement carries besides being callable: enough to run or PREPARE it by hand. */
export interface StatementText {
  /** `jobq_<name>`: the prepared statement's name on every connection. */
  readonly name: string;
  /** The compiled SQL, `$1..$n`. */
  readonly text: string;
  /** The parameter names, in `$n` order. */
  readonly params: readonly string[];
}

interface Compiled<P> extends StatementText {
  /** The values array for these params, in `$n` order. */
  values(params: P): unknown[];
}

/** A statement whose rows the caller reads. */
export interface Statement<P, R> extends Compiled<P> {
  (db: Queryable, params: P): Promise<R[]>;
}

/** A statement whose affected row count is all the caller needs. */
export interface Command<P> extends Compiled<P> {
  (db: Queryable, params: P): Promise<number>;
}

/** No parameters. */
export type NoParams = Record<string, never>;

/** Defines a statement returning rows of type `R`. */
export function statement<P, R>(name: string, sql: string): Statement<P, R> {
  const c = compile<P>(name, sql);
  const fn = async (db: Queryable, params: P) => (await run<R>(db, c, c.values(params))).rows;
  return describe(fn, c);
}

/** Defines a statement whose result is its row count (an UPDATE or DELETE without RETURNING). */
export function command<P>(name: string, sql: string): Command<P> {
  const c = compile<P>(name, sql);
  const fn = async (db: Queryable, params: P) => (await run(db, c, c.values(params))).rowCount ?? 0;
  return describe(fn, c);
}

/** `:name` not preceded by `:` (a cast) nor followed by more name characters. */
const PARAM = /(?<![:\w]):([a-z][A-Za-z0-9]*)\b/g;

function compile<P>(name: string, sql: string): Compiled<P> {
  const params: string[] = [];
  const text = sql.replace(PARAM, (_m, param: string) => {
    let n = params.indexOf(param);
    if (n < 0) n = params.push(param) - 1;
    return `$${n + 1}`;
  });
  const count = params.length;
  const values = (p: P): unknown[] => {
    const out = new Array<unknown>(count);
    for (let i = 0; i < count; i++) out[i] = (p as Record<string, unknown>)[params[i]!] ?? null;
    return out;
  };
  return { name: `jobq_${name}`, text, params, values };
}

/** Gives the function its statement's name, text, parameters and value builder. */
function describe<F extends (...a: never[]) => unknown, P>(fn: F, c: Compiled<P>): F & Compiled<P> {
  // A function's own `name` is read-only: define it.
  return Object.defineProperties(fn, {
    name: { value: c.name },
    text: { value: c.text, enumerable: true },
    params: { value: c.params, enumerable: true },
    values: { value: c.values },
  }) as F & Compiled<P>;
}
