/**
 * The `log` candidate's retention (README.md beside this file): generations, as PgQ rotates its
 * tables. Inserts go to the newest generation. A generation all of whose entries finished is archived
 * (moved from the hot parents to the history ones, setup.sql `jobq.log_archive`), so that the hot path
 * opens a few partitions whatever the history holds; an archived one is dropped whole once every entry
 * in it finished before the cutoff. No row is ever deleted from them.
 */
import type pg from 'pg';

/** Makes a new generation current (jobq.log_rotate: partitions attached, not created under the parents' exclusive lock). */
export async function rotate(c: pg.ClientBase): Promise<number> {
  return (await c.query<{ g: number }>('SELECT jobq.log_rotate() AS g')).rows[0]!.g;
}

/**
 * Whether generation g may move (archive) or go (drop): a newer one is current and no client session
 * of this database holds an xid or a snapshot as old as the transaction that made the next one current
 * (none can still insert with g; autovacuum's workers hold snapshots too, and insert nothing), and each of g's entries finished (a done position or a fail row) before
 * `before`. One pass over g's entries and the outcomes written since g began.
 */
const SETTLED = `
  WITH outcomes AS (
    SELECT p AS pos, d.finished_at AS at FROM jobq.log_done_all d, unnest(d.pos) p WHERE d.gen >= $1
    UNION ALL SELECT f.pos, f.at FROM jobq.log_fail_all f WHERE f.gen >= $1
  ), entries AS (
    SELECT l.pos, max(o.at) AS at FROM jobq.log_all l LEFT JOIN outcomes o ON o.pos = l.pos WHERE l.gen = $1 GROUP BY l.pos
  )
  SELECT count(*)::int AS n, (count(*) FILTER (WHERE at IS NULL OR at >= $2::timestamptz))::int AS kept,
         (SELECT NOT EXISTS (
                   SELECT FROM pg_stat_activity a
                    WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend'
                      AND greatest(age(a.backend_xid), age(a.backend_xmin)) >= age((g.rotated_xid::text::bigint % 4294967296)::text::xid))
            FROM jobq.log_gen g WHERE g.gen = $1 + 1) AS quiet
    FROM entries`;

async function settled(c: pg.ClientBase, gen: number, before: Date | 'infinity'): Promise<{ n: number; ok: boolean }> {
  const { rows: [r] } = await c.query<{ n: number; kept: number; quiet: boolean }>(SETTLED, [gen, before]);
  return { n: r!.n, ok: r!.quiet === true && r!.kept === 0 };
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
    if (!(await settled(c, gen, 'infinity')).ok) break; // finished at all, whenever
    await inTransaction(c, () => c.query('SELECT jobq.log_archive($1)', [gen]).then(() => {}));
    archived++;
  }
  return archived;
}

/** Archives what may be, then drops every archived generation that may go (oldest first, stopping at the first that may not). Returns the entries dropped. */
export async function dropGenerations(c: pg.ClientBase, before: Date): Promise<number> {
  await archiveGenerations(c);
  const { rows: gens } = await c.query<{ gen: number }>('SELECT gen FROM jobq.log_gen WHERE archived ORDER BY gen');
  let dropped = 0;
  for (const { gen } of gens) {
    const r = await settled(c, gen, before);
    if (!r.ok) break;
    await inTransaction(c, async () => {
      for (const t of ['log', 'log_batch', 'log_done', 'log_fail']) await c.query(`DROP TABLE jobq.${t}_g${gen}`);
      await c.query('DELETE FROM jobq.log_gen WHERE gen = $1', [gen]);
      await c.query('DELETE FROM jobq.log_window WHERE window_id < (SELECT min(window_id) FROM jobq.log_batch_all)');
    });
    dropped += r.n;
  }
  return dropped;
}
