/**
 * The log store's rotation and retention (docs/design/storage.md): generations, as PgQ rotates its
 * tables. Inserts go to the newest generation; the sweep makes a new one current every ROTATE_MS. A
 * generation all of whose entries finished is ARCHIVED (moved from the hot parents to the history
 * ones, jobq.log_archive), so that the hot path opens a few partitions whatever the history holds; an
 * archived one is dropped whole once it was archived before the retention's cutoff. No row of them is
 * ever deleted. Whether a generation finished is asked of its lanes and its batches, never of each entry.
 */
import { statement } from '../statements/statement.ts';
import type { Retention } from '../retention.ts';
import { TERMINAL_STATUSES, type Queryable } from '../types.ts';

/**
 * How long a generation takes inserts before the sweep makes a new one current: an hour, or the
 * shortest retention when that is shorter (so that it is honoured), but not under a second. Every
 * generation kept is four partitions that reads of old jobs open (an hour rather than 15 minutes: a
 * week of history is 168 generations, not 672).
 */
export const ROTATE_MS = 60 * 60_000;
const MIN_ROTATE_MS = 1_000;

/** The rotation period for this retention (see ROTATE_MS). */
export function rotateEvery(retention: Retention | undefined): number {
  const kept = retention ? TERMINAL_STATUSES.map((s) => retention[s]).filter((ms): ms is number => ms !== null) : [];
  return Math.max(MIN_ROTATE_MS, Math.min(ROTATE_MS, ...kept));
}

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
 * as old as the transaction that made the next generation current (so none can still insert with g;
 * the next one still kept: a later one may have gone already),
 * and every entry of g finished (jobq.log_gen_finished).
 */
const archivable = statement<{ gen: number }, { ok: boolean }>(
  'log_archivable',
  `SELECT NOT EXISTS (
            SELECT FROM pg_stat_activity a
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
               AND greatest(age(a.backend_xid), age(a.backend_xmin)) >= age((g.rotated_xid::text::bigint % 4294967296)::text::xid))
          AND jobq.log_gen_finished(:gen::int) AS ok
     FROM jobq.log_gen g WHERE g.gen = (SELECT min(n.gen) FROM jobq.log_gen n WHERE n.gen > :gen::int)`,
);

const archive = statement<{ gen: number; now: Date | null }, unknown>('log_archive', 'SELECT jobq.log_archive(:gen::int, coalesce(:now::timestamptz, now()))');

const archivedBefore = statement<{ before: Date }, { gen: number }>(
  'log_archived_before',
  'SELECT gen FROM jobq.log_gen WHERE archived AND archived_at < :before::timestamptz ORDER BY gen',
);

const drop = statement<{ gens: number[]; keep: string; now: Date | null }, { n: number }>(
  'log_drop',
  'SELECT jobq.log_drop(:gens::int[], :keep::jsonb, coalesce(:now::timestamptz, now())) AS n',
);

/**
 * Queues made busy (log/busy.ts) that are quiet now go back to rows: those with no entry in the hot
 * generations and none scheduled lose their cursor rows, so that their next plain jobs are rows until
 * they are busy again. An enqueue that routed a job to the log meanwhile leaves an entry without them,
 * which the claim makes them again for (jobq.log_claim). Returns the queues.
 */
const demote = statement<Record<string, never>, { queue: string }>(
  'log_demote_quiet',
  `DELETE FROM jobq.log_cursor c
    WHERE NOT EXISTS (SELECT FROM jobq.log l WHERE l.queue = c.queue)
      AND NOT EXISTS (SELECT FROM jobq.log_scheduled s WHERE s.queue = c.queue)
   RETURNING c.queue`,
);

/** See `demote`: the quiet queues' plain jobs are rows again. Returns how many queues. */
export async function demoteQuiet(db: Queryable): Promise<number> {
  return new Set((await demote(db, {})).map((r) => r.queue)).size;
}

/** Makes a new generation current when the newest is `rotateMs` old. Returns whether it did. */
export async function rotateIfDue(db: Queryable, rotateMs: number): Promise<boolean> {
  return (await rotateIfOld(db, { rotateMs })).length > 0;
}

/**
 * Archives every generation older than the current one whose entries all finished, oldest first. One
 * that has not (a job of it still runs or waits) stays, and does not hold back the later ones.
 */
export async function archiveGenerations(db: Queryable, now: Date | null): Promise<number> {
  let archived = 0;
  for (const { gen } of await unarchived(db, {})) {
    if (!(await archivable(db, { gen }))[0]?.ok) continue;
    await archive(db, { gen, now });
    archived++;
  }
  return archived;
}

/**
 * Retention of the log: every generation archived longer ago than the shortest retention is dropped
 * (all its entries had finished by then, so none is dropped before its time); first, its jobs that
 * ended with a status kept longer become finished rows, which the row store prunes at their own time
 * (jobq.log_drop). Nothing is dropped when every status is kept for ever. Returns the entries dropped.
 */
export async function dropGenerations(db: Queryable, retention: Retention, now: Date | null): Promise<number> {
  const kept = TERMINAL_STATUSES.map((s) => retention[s]).filter((ms): ms is number => ms !== null);
  if (kept.length === 0) return 0;
  const shortest = Math.min(...kept);
  const keep = Object.fromEntries(TERMINAL_STATUSES.filter((s) => retention[s] === null || retention[s]! > shortest).map((s) => [s, retention[s]]));
  const before = new Date((now ?? new Date()).getTime() - shortest);
  const gens = (await archivedBefore(db, { before })).map((r) => r.gen);
  if (gens.length === 0) return 0;
  // One statement for them all: the moves and the drops together, each statement over the history planned once.
  return (await drop(db, { gens, keep: JSON.stringify(keep), now }))[0]!.n;
}
