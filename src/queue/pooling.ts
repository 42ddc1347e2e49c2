/**
 * Whether a pool's connections go through a pooler in transaction mode (PgBouncer), told by asking.
 *
 * Behind such a pooler, the statements of one client outside a transaction may each run in a
 * different server session, so nothing jobq sends relies on session state: locks are transaction
 * locks or rows (migrate.ts, the sweep's lease), settings are `SET LOCAL`, LISTEN needs a direct URL
 * (db/listener.ts). What is left is how statements are sent: by name (each connection prepares a
 * statement once, db.ts `run`), which a pooler without prepared-statement support breaks, since the
 * statement prepared on one server session is then executed on another.
 *
 * Asked once per pool (or per client given from outside, WriteOptions.db), with two statements:
 * - `pg_backend_pid()` against the process id the client was given at connect (BackendKeyData): a
 *   pooler makes that one up (its own cancel key), so the two differ only behind one;
 * - behind one, a named statement that looks itself up in `pg_prepared_statements`: PgBouncer 1.21+
 *   with `max_prepared_statements` set renames the statements it prepares on its servers, so the name
 *   sent is not found there; without that support, it is, and statements go unnamed.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Queryable } from './types.ts';

export interface SendMode {
  /** Through a pooler: no session state may be relied on. */
  readonly pooled: boolean;
  /** Statements are sent by name (prepared once per server session). */
  readonly named: boolean;
}

export const DIRECT: SendMode = Object.freeze({ pooled: false, named: true });
const POOLED_UNNAMED: SendMode = Object.freeze({ pooled: true, named: false });
const POOLED_NAMED: SendMode = Object.freeze({ pooled: true, named: true });
const UNKNOWN: SendMode = Object.freeze({ pooled: false, named: false });

const known = new WeakMap<object, SendMode>();
const asking = new WeakMap<object, Promise<SendMode>>();

/** What is known of `db` without asking (a pool, or a client checked out of one). */
export function knownMode(db: object): SendMode | undefined {
  return known.get(db);
}

/** Records `mode` for `db`: a client checked out of a pool whose mode is known has the pool's. */
export function setMode(db: object, mode: SendMode): void {
  known.set(db, mode);
}

/** `db`'s mode, asked of the server the first time (concurrent callers share the question). */
export function sendMode(db: Queryable): Promise<SendMode> {
  const k = known.get(db);
  if (k) return Promise.resolve(k);
  let p = asking.get(db);
  if (!p) {
    p = ask(db).then(
      (mode) => {
        known.set(db, mode);
        asking.delete(db);
        return mode;
      },
      (err: unknown) => {
        asking.delete(db); // asked again next time: the database may only have been away
        throw err;
      },
    );
    asking.set(db, p);
  }
  return p;
}

async function ask(db: Queryable): Promise<SendMode> {
  // A pool: ask on one of its clients (the process id belongs to a client).
  if (isPool(db)) {
    const client = await db.connect();
    try {
      // jobq's own pools (db/pool.ts) asked each client as it connected: no second question.
      return knownMode(client) ?? (await askClient(client));
    } finally {
      client.release();
    }
  }
  return askClient(db as pg.ClientBase);
}

/** Asks on `client` (a pg Client or pool client) which mode its connection needs. */
export async function askClient(client: Pick<pg.ClientBase, 'query'> & { processID?: number | null }): Promise<SendMode> {
  // Something query-able that is no pg client (a wrapper): nothing to compare with; unnamed always works.
  if (client.processID == null) return UNKNOWN;
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  if (rows[0]!.pid === client.processID) return DIRECT;
  const name = `jobq_probe_${randomBytes(6).toString('hex')}`;
  const probe = await client.query<{ n: number }>({
    name,
    text: 'SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name = $1',
    values: [name],
  });
  return probe.rows[0]!.n === 0 ? POOLED_NAMED : POOLED_UNNAMED;
}

/** Asks the server at `url` with a connection of its own (no startup parameters a pooler could refuse). */
export async function urlMode(url: string, Client: typeof pg.Client): Promise<SendMode> {
  const client = new Client({ connectionString: url, application_name: 'jobq-probe' });
  client.on('error', () => {});
  await client.connect();
  try {
    return await askClient(client);
  } finally {
    await client.end().catch(() => {});
  }
}

function isPool(db: Queryable): db is pg.Pool {
  return typeof (db as pg.Pool).connect === 'function' && typeof (db as pg.Pool).totalCount === 'number';
}
