/**
 * graphile-worker 0.18's own storage, the peer baseline of the study (issue #22): one row per job in
 * graphile_worker._private_jobs, updated by the claim and deleted by the completion, so nothing finished
 * is kept. Its schema is graphile-worker's (setup.sql, see make-setup.sh) and its scripts are the SQL
 * graphile-worker runs; there is no jobq Queue for it: the real graphile-worker runs it as the main
 * bench's `graphile` system (best preset).
 *
 * Job ids are bigints: sampleIdsSql gives each as a uuid (its 16 hex digits, zero-padded) for the
 * contract's jobq.bench_ids, and the scripts read them back through the view graphile_worker.bench_ids.
 * A failed job is a row whose attempts reached max_attempts and is not locked.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StorageCandidate } from '../candidate.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const script = (name: string) => path.join(here, 'pgbench', `${name}.sql`);

/** Neither failed nor deleted: queued, retrying, or locked by a worker (whatever its attempts). */
const NOT_FINISHED = 'attempts < max_attempts OR locked_at IS NOT NULL';

export const candidate: StorageCandidate = {
  name: 'graphile',
  peer: true,
  title: "graphile-worker 0.18's: one row per job, updated at the claim, deleted at the completion (keeps nothing finished)",
  setupSql: path.join(here, 'setup.sql'),
  pgbench: {
    claimFinish: script('claim_finish'),
    enqueue: script('enqueue'),
    get: script('get'),
    list: script('list'),
    cancel: script('cancel'),
    retry: script('retry'),
  },
  /** As WorkerUtils.addJobs adds them (one call of add_jobs), counted in graphile_worker.bench_seeded in the same statement. */
  async seed(c, n) {
    await c.query(
      `WITH added AS (
         SELECT id FROM graphile_worker.add_jobs(array(
           SELECT ('bench_noop', '{}', NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec FROM generate_series(1, $1::int))))
       UPDATE graphile_worker.bench_seeded SET n = n + (SELECT count(*) FROM added)`,
      [n],
    );
  },
  /** A no-op: graphile-worker deletes a job as it completes and keeps no finished jobs. */
  async addFinished() {},
  async addFailed(c, n) {
    await c.query(
      `INSERT INTO graphile_worker._private_jobs (task_id, payload, attempts, max_attempts, last_error)
       SELECT 1, '{}', 25, 25, 'boom' FROM generate_series(1, $1::int)`,
      [n],
    );
  },
  /** 'finished' gives jobs not yet run (there are no others to read); 'failed' those that ran out of attempts. */
  sampleIdsSql(what) {
    const where = what === 'failed' ? `NOT (${NOT_FINISHED})` : 'attempts = 0 AND locked_at IS NULL';
    return `SELECT lpad(to_hex(id), 32, '0')::uuid AS id FROM graphile_worker._private_jobs WHERE ${where}`;
  },
  /**
   * Seeded jobs no longer waiting or running: the completed ones, deleted. Counts a seeded job
   * cancelled (failed by hand) as succeeded too: only the scenarios that cancel nothing read it.
   */
  async succeeded(c) {
    const { rows } = await c.query<{ n: number }>(
      `SELECT ((SELECT n FROM graphile_worker.bench_seeded) - (SELECT count(*) FROM graphile_worker._private_jobs WHERE ${NOT_FINISHED}))::int AS n`,
    );
    return rows[0]!.n;
  },
  async remaining(c) {
    return (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE ${NOT_FINISHED}`)).rows[0]!.n;
  },
  hotTables: ['graphile_worker._private_jobs'],
  /** A no-op: nothing finished is kept, so there is nothing to drop. */
  async retention() {
    return 0;
  },
  async reset(c) {
    await c.query('TRUNCATE graphile_worker._private_jobs, graphile_worker._private_job_queues');
    await c.query('UPDATE graphile_worker.bench_seeded SET n = 0');
  },
  createQueue() {
    throw new Error("graphile: measured through the main bench's graphile-best system, not a jobq Queue");
  },
};
