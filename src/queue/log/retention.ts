/**
 * The log store's rotation and retention (docs/design/storage.md): generations, as PgQ rotates its
 * tables. Inserts go to the newest generation; the sweep makes a new one current every ROTATE_MS. A
 * generation all of whose entries finished is ARCHIVED (moved from the hot parents to the history
 * ones, jobq.log_archive), so that the hot path opens a few partitions whatever the history holds; an
 * archived one is dropped whole once it was archived before the retention's cutoff. No row of them is
 * ever deleted. Whether a generation finished is asked of its lanes and its batches, never of each entry.
 */
import { statement } from '../statements/statement.ts';
import type { Queryable } from '../types.ts';

/** How long a generation takes inserts before the sweep makes a new one current. */
export const ROTATE_MS = 15 * 60_000;

const rotateIfOld = statement<{ rotateMs: number }, { gen: number }>(
  'log_rotate_if_old',
  `SELECT jobq.log_rotate() AS gen FROM (SELECT created_at FROM jobq.log_gen ORDER BY gen DESC LIMIT 1) g
    WHERE g.created_at <= now() - :rotateMs * interval '1 ms'`,
);

const unarchived = statement<Record<string, never>, { gen: number }>(
  'log_unarchived',
  'SELECT gen FROM jobq.log_gen WHERE NOT archived AND gen < (SELECT max(gen) FROM jobq.log_gen) ORDER BY gen',
);

/**
 * Whether generation g may be archived: no client session of this database holds an xid or a snapshot
 * as old as the transaction that made the next generation current (so none can still insert with g),
 * and every entry of g finished (jobq.log_gen_finished).
 */
const archivable = statement<{ gen: number }, { ok: boolean }>(
  'log_archivable',
  `SELECT NOT EXISTS (
            SELECT FROM pg_stat_activity a
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
               AND greatest(age(a.backend_xid), age(a.backend_xmin)) >= age((g.rotated_xid::text::bigint % 4294967296)::text::xid))
          AND jobq.log_gen_finished(:gen::int) AS ok
     FROM jobq.log_gen g WHERE g.gen = :gen::int + 1`,
);

const archive = statement<{ gen: number }, unknown>('log_archive', 'SELECT jobq.log_archive(:gen::int)');

const archivedBefore = statement<{ before: Date }, { gen: number }>(
  'log_archived_before',
  'SELECT gen FROM jobq.log_gen WHERE archived AND archived_at < :before::timestamptz ORDER BY gen',
);

const drop = statement<{ gen: number }, { n: number }>('log_drop', 'SELECT jobq.log_drop(:gen::int) AS n');

/** Makes a new generation current when the newest is `rotateMs` old. Returns whether it did. */
export async function rotateIfDue(db: Queryable, rotateMs: number): Promise<boolean> {
  return (await rotateIfOld(db, { rotateMs })).length > 0;
}

/** Archives every generation older than the current one whose entries all finished, oldest first, stopping at the first that has not. */
export async function archiveGenerations(db: Queryable): Promise<number> {
  let archived = 0;
  for (const { gen } of await unarchived(db, {})) {
    if (!(await archivable(db, { gen }))[0]?.ok) break;
    await archive(db, { gen });
    archived++;
  }
  return archived;
}

/** Drops every generation archived before `before` (its entries all finished by then), oldest first. Returns the entries dropped. */
export async function dropGenerations(db: Queryable, before: Date): Promise<number> {
  let dropped = 0;
  for (const { gen } of await archivedBefore(db, { before })) dropped += (await drop(db, { gen }))[0]!.n;
  return dropped;
}
