/**
 * The `log` candidate's retention (README.md beside this file): generations, as PgQ rotates its
 * tables. Inserts go to the newest generation. A generation all of whose entries finished is archived
 * (moved from the hot parents to the history ones, setup.sql `jobq.log_archive`), so that the hot path
 * opens a few partitions whatever the history holds; an archived one is dropped whole once it was
 * archived before the cutoff (all its entries had finished by then). No row is ever deleted from them.
 * Whether a generation finished is asked of its lanes and its batches, never of each entry.
 */
import type pg from 'pg';

/** Makes a new generation current (jobq.log_rotate: partitions attached, not created under the parents' exclusive lock). */
export async function rotate(c: pg.ClientBase): Promise<number> {
  return (await c.query<{ g: number }>('SELECT jobq.log_rotate() AS g')).rows[0]!.g;
}

/**
 * Whether no transaction can still insert with generation g: a newer one is current and no client
 * session of this database holds an xid or a snapshot as old as the transaction that made the next one
 * current (autovacuum's workers hold snapshots too, and insert nothing).
 */
const QUIET = `
  SELECT NOT EXISTS (
           SELECT FROM pg_stat_activity a
            WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
              AND greatest(age(a.backend_xid), age(a.backend_xmin)) >= age((g.rotated_xid::text::bigint % 4294967296)::text::xid)) AS quiet
    FROM jobq.log_gen g WHERE g.gen = $1 + 1`;

/** Whether g may be archived: quiet, and every entry of it finished (jobq.log_gen_finished: per lane and per batch, not per entry). */
async function finished(c: pg.ClientBase, gen: number): Promise<boolean> {
  const { rows: [q] } = await c.query<{ quiet: boolean }>(QUIET, [gen]);
  if (q?.quiet !== true) return false;
  return (await c.query<{ ok: boolean }>('SELECT jobq.log_gen_finished($1) AS ok', [gen])).rows[0]!.ok;
}

async function inTransaction(c: pg.ClientBase, work: () => Promise<void>): Promise<void> {
  await c.query('BEGIN');
  try {
    await work();
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK');
    throw err;
  }
}

/** Archives every generation older than the current one whose entries all finished (oldest first, stopping at the first that has not). Returns how many. */
export async function archiveGenerations(c: pg.ClientBase): Promise<number> {
  const { rows: gens } = await c.query<{ gen: number }>('SELECT gen FROM jobq.log_gen WHERE NOT archived AND gen < (SELECT max(gen) FROM jobq.log_gen) ORDER BY gen');
  let archived = 0;
  for (const { gen } of gens) {
    if (!(await finished(c, gen))) break;
    await inTransaction(c, () => c.query('SELECT jobq.log_archive($1)', [gen]).then(() => {}));
    archived++;
  }
  return archived;
}

/**
 * Archives what may be, then drops every archived generation archived before `before` (its entries all
 * finished by then), oldest first. Returns the entries dropped.
 */
export async function dropGenerations(c: pg.ClientBase, before: Date): Promise<number> {
  await archiveGenerations(c);
  const { rows: gens } = await c.query<{ gen: number }>('SELECT gen FROM jobq.log_gen WHERE archived AND archived_at < $1 ORDER BY gen', [before]);
  let dropped = 0;
  for (const { gen } of gens) {
    await inTransaction(c, async () => {
      dropped += (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobq.log_g${gen}`)).rows[0]!.n;
      for (const t of ['log', 'log_batch', 'log_done', 'log_fail']) await c.query(`DROP TABLE jobq.${t}_g${gen}`);
      await c.query('DELETE FROM jobq.log_gen WHERE gen = $1', [gen]);
      await c.query('DELETE FROM jobq.log_window WHERE window_id < (SELECT min(window_id) FROM jobq.log_batch_all)');
    });
  }
  return dropped;
}
