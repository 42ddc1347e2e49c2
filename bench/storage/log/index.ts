/**
 * Candidate `log` of the storage study (bench/storage/candidate.ts; README.md beside this file):
 * append-only jobs with their state derived, in the PgQ lineage. What the runner needs besides the
 * Queue (queue.ts): seeding, history, counts, retention by generations (retention.ts).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type { StorageCandidate } from '../candidate.ts';
import { LogQueue } from './queue.ts';
import { archiveGenerations, dropGenerations, rotate } from './retention.ts';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

const LANES_LINE = 'CREATE FUNCTION jobq.log_lanes() RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT 4 $$;';

/** setup.sql, or a copy of it with JOBQ_LOG_LANES lanes per queue (for comparing lane counts; default 4). */
function setupSql(): string {
  const file = here('./setup.sql');
  const lanes = process.env.JOBQ_LOG_LANES;
  if (lanes === undefined || lanes === '') return file;
  if (!/^\d+$/.test(lanes) || Number(lanes) < 1 || Number(lanes) > 64) throw new Error(`JOBQ_LOG_LANES must be 1..64, not ${lanes}`);
  const sql = readFileSync(file, 'utf8');
  if (!sql.includes(LANES_LINE)) throw new Error('log candidate: setup.sql no longer defines jobq.log_lanes() as expected');
  const copy = path.join(os.tmpdir(), `jobq-log-setup-${lanes}-lanes.sql`);
  // A function replacement: in a replacement string, `$$` would stand for one `$`.
  writeFileSync(copy, sql.replace(LANES_LINE, () => LANES_LINE.replace('SELECT 4', `SELECT ${Number(lanes)}`)));
  return copy;
}

const SEED = `
  INSERT INTO jobq.log (id, queue, kind, payload, max_attempts)
  SELECT jobq.log_uuid7(), 'default', 'bench_noop', '{}', 25 FROM generate_series(1, $1)`;

/**
 * History as the hot path makes it: `n` entries inserted in a generation of their own, claimed in
 * batches of 1,000 and ended (done rows, or failed_permanent fail rows) as of `hoursAgo`. The claims
 * take whatever the queue has waiting, so it needs none: it throws when it claimed another job.
 */
async function addEnded(c: pg.ClientBase, n: number, hoursAgo: number, outcome: 'done' | 'failed'): Promise<void> {
  const gen = await rotate(c);
  const { rows: [r] } = await c.query<{ lo: string; hi: string }>(
    `WITH ins AS (
       INSERT INTO jobq.log (id, queue, kind, payload, max_attempts, created_at, run_at)
       SELECT jobq.log_uuid7(), 'default', 'bench_noop', '{}', 25, now() - $2 * interval '1 hour', now() - $2 * interval '1 hour'
         FROM generate_series(1, $1) RETURNING pos
     ) SELECT min(pos) AS lo, max(pos) AS hi FROM ins`,
    [n, hoursAgo],
  );
  for (let claimed = 0; claimed < n;) {
    // A claim gives one batch per lane it takes from: each batch is ended.
    const { rows: [b] } = await c.query<{ batch_ids: string[] | null; n: number; foreign: number }>(
      `SELECT array_agg(DISTINCT batch_id) AS batch_ids, count(*)::int AS n, count(*) FILTER (WHERE pos NOT BETWEEN $1 AND $2)::int AS foreign
         FROM jobq.log_claim('default', 'history', 1000)`,
      [r!.lo, r!.hi],
    );
    if (b!.foreign > 0) throw new Error('log candidate: history is added only while no job waits');
    if (b!.n === 0) throw new Error('log candidate: history entries not claimable');
    claimed += b!.n;
    if (outcome === 'done') {
      await c.query(
        `INSERT INTO jobq.log_done (batch_id, pos, finished_at)
         SELECT b, array_agg(o.pos ORDER BY o.pos), now() - $2 * interval '1 hour' FROM unnest($1::bigint[]) b, LATERAL jobq.log_batch_open(b) o GROUP BY b`,
        [b!.batch_ids, hoursAgo],
      );
    } else {
      await c.query(
        `INSERT INTO jobq.log_fail (pos, id, batch_id, status, attempt, error, at)
         SELECT o.pos, o.id, b, 'failed_permanent', o.attempt, 'seeded failure', now() - $2 * interval '1 hour' FROM unnest($1::bigint[]) b, LATERAL jobq.log_batch_open(b) o`,
        [b!.batch_ids, hoursAgo],
      );
    }
  }
  await rotate(c);
  await archiveGenerations(c); // as the sweep does: a finished generation leaves the hot parents
  // Archived as of when its outcomes were written (retention drops by the time of archiving).
  await c.query(`UPDATE jobq.log_gen SET archived_at = now() - $2 * interval '1 hour' WHERE gen = $1 AND archived`, [gen, hoursAgo]);
}

export const candidate: StorageCandidate = {
  name: 'log',
  title: 'append-only job log with derived state: snapshot-window batch claims, one row per batch, generations dropped (PgQ lineage)',
  setupSql: setupSql(),
  pgbench: {
    claimFinish: here('./pgbench/claim_finish.sql'),
    enqueue: here('./pgbench/enqueue.sql'),
    get: here('./pgbench/get.sql'),
    list: here('./pgbench/list.sql'),
    cancel: here('./pgbench/cancel.sql'),
    retry: here('./pgbench/retry.sql'),
  },
  async seed(c, n) {
    await c.query(SEED, [n]);
  },
  addFinished: (c, n, hoursAgo) => addEnded(c, n, hoursAgo, 'done'),
  addFailed: (c, n) => addEnded(c, n, 0, 'failed'),
  sampleIdsSql(what) {
    if (what === 'failed') return `SELECT id FROM jobq.log_fail_all WHERE status = 'failed_permanent'`;
    if (what === 'finished') return 'SELECT l.id FROM jobq.log_all l JOIN (SELECT unnest(pos) AS pos FROM jobq.log_done_all) d ON d.pos = l.pos';
    return `SELECT l.id FROM jobq.log l, LATERAL jobq.log_job(l.id) j WHERE j.status = 'queued'`;
  },
  async succeeded(c) {
    return (await c.query<{ n: number }>('SELECT coalesce(sum(cardinality(pos)), 0)::int AS n FROM jobq.log_done_all')).rows[0]!.n;
  },
  async remaining(c) {
    const { rows } = await c.query<{ n: number }>(
      `SELECT ((SELECT count(*) FROM jobq.log l
                 WHERE NOT EXISTS (SELECT FROM jobq.log_fail f WHERE f.pos = l.pos)
                   AND l.pos NOT IN (SELECT unnest(pos) FROM jobq.log_done))
             + (SELECT count(*) FROM jobq.log_scheduled))::int AS n`,
    );
    return rows[0]!.n;
  },
  // Partitioned parents: their generations' partitions are jobq.<name>_g<N> (pg_partition_tree).
  hotTables: ['jobq.log', 'jobq.log_batch', 'jobq.log_done', 'jobq.log_fail', 'jobq.log_window', 'jobq.log_cursor', 'jobq.log_scheduled', 'jobq.log_gen', 'jobq.log_sweep'],
  retention: (c, before) => dropGenerations(c, before),
  async reset(c) {
    await c.query('TRUNCATE jobq.log, jobq.log_batch, jobq.log_done, jobq.log_fail, jobq.log_old, jobq.log_batch_old, jobq.log_done_old, jobq.log_fail_old, jobq.log_window, jobq.log_scheduled');
    await c.query('UPDATE jobq.log_sweep SET through = 0');
  },
  createQueue: (options) => new LogQueue(options),
};
