/**
 * The `log` candidate's retention (README.md beside this file): generations, as PgQ rotates its
 * tables. Inserts go to the newest generation; an older one is dropped whole (its partitions of
 * jobq.log, log_batch, log_done and log_fail) once every transaction that could still insert into it
 * has ended and every entry in it finished before the cutoff. No row is ever deleted from them.
 */
import type pg from 'pg';

/** Makes a new generation current (jobq.log_rotate: partitions attached, not created under the parents' exclusive lock). */
export async function rotate(c: pg.ClientBase): Promise<number> {
  return (await c.query<{ g: number }>('SELECT jobq.log_rotate() AS g')).rows[0]!.g;
}

/**
 * Whether generation g may go: a newer one is current and no session of this database holds an xid
 * or a snapshot as old as the transaction that made it current (none can still insert with g), and each of g's entries finished (a done position
 * or a fail row) before `before`. One pass over g's entries and the outcomes written since g began.
 */
const DROPPABLE = `
  WITH outcomes AS (
    SELECT p AS pos, d.finished_at AS at FROM jobq.log_done d, unnest(d.pos) p WHERE d.gen >= $1
    UNION ALL SELECT f.pos, f.at FROM jobq.log_fail f WHERE f.gen >= $1
  ), entries AS (
    SELECT l.pos, max(o.at) AS at FROM jobq.log l LEFT JOIN outcomes o ON o.pos = l.pos WHERE l.gen = $1 GROUP BY l.pos
  )
  SELECT count(*)::int AS n, (count(*) FILTER (WHERE at IS NULL OR at >= $2))::int AS kept,
         (SELECT NOT EXISTS (
                   SELECT FROM pg_stat_activity a
                    WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
                      AND greatest(age(a.backend_xid), age(a.backend_xmin)) >= age((g.rotated_xid::text::bigint % 4294967296)::text::xid))
            FROM jobq.log_gen g WHERE g.gen = $1 + 1) AS quiet
    FROM entries`;

/** Drops every generation older than the current one that may go (oldest first, stopping at the first that may not). Returns the entries dropped. */
export async function dropGenerations(c: pg.ClientBase, before: Date): Promise<number> {
  const { rows: gens } = await c.query<{ gen: number }>('SELECT gen FROM jobq.log_gen WHERE gen < (SELECT max(gen) FROM jobq.log_gen) ORDER BY gen');
  let dropped = 0;
  for (const { gen } of gens) {
    const { rows: [r] } = await c.query<{ n: number; kept: number; quiet: boolean }>(DROPPABLE, [gen, before]);
    if (!r!.quiet || r!.kept > 0) break;
    await c.query('BEGIN');
    try {
      for (const t of ['log', 'log_batch', 'log_done', 'log_fail']) await c.query(`DROP TABLE jobq.${t}_g${gen}`);
      await c.query('DELETE FROM jobq.log_gen WHERE gen = $1', [gen]);
      await c.query('DELETE FROM jobq.log_window WHERE window_id < (SELECT min(window_id) FROM jobq.log_batch)');
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK');
      throw err;
    }
    dropped += r!.n;
  }
  return dropped;
}
