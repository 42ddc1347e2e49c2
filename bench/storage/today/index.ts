/**
 * Today's design, the baseline of the study: every job one row of jobq.jobs from enqueue to retention;
 * the claim and the completion each write a new row version (docs/performance.md). Its Queue is jobq's
 * own, and its retention is jobq's prune (batches of DELETE ... SKIP LOCKED, oldest first).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from '../../../src/index.ts';
import type { StorageCandidate } from '../candidate.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const script = (name: string) => path.join(here, 'pgbench', `${name}.sql`);

export const candidate: StorageCandidate = {
  name: 'today',
  title: "today's: one row per job, updated at the claim and at the completion, deleted by retention",
  setupSql: '',
  pgbench: {
    claimFinish: script('claim_finish'),
    enqueue: script('enqueue'),
    get: script('get'),
    list: script('list'),
    cancel: script('cancel'),
    retry: script('retry'),
  },
  async seed(c, n) {
    await c.query(`INSERT INTO jobq.jobs (id, kind, payload) SELECT gen_random_uuid(), 'bench_noop', '{}' FROM generate_series(1, $1::int)`, [n]);
  },
  async addFinished(c, n, hoursAgo) {
    await c.query(
      `INSERT INTO jobq.jobs (id, kind, payload, status, attempts, created_at, updated_at, finished_at)
       SELECT gen_random_uuid(), 'bench_noop', '{}', 'succeeded', 1, t - interval '1 second', t, t
         FROM (SELECT now() - $2 * interval '1 hour' + i * interval '1 microsecond' AS t FROM generate_series(1, $1::int) i) s`,
      [n, hoursAgo],
    );
  },
  async addFailed(c, n) {
    await c.query(
      `INSERT INTO jobq.jobs (id, kind, payload, status, attempts, last_error, finished_at)
       SELECT gen_random_uuid(), 'bench_noop', '{}', 'failed_permanent', 25, 'boom', now() FROM generate_series(1, $1::int)`,
      [n],
    );
  },
  sampleIdsSql(what) {
    const status = { finished: "'succeeded'", queued: "'queued'", failed: "'failed_permanent'" }[what];
    return `SELECT id FROM jobq.jobs WHERE status = ${status}`;
  },
  async succeeded(c) {
    return (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobq.jobs WHERE status = 'succeeded'`)).rows[0]!.n;
  },
  async remaining(c) {
    return (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobq.jobs WHERE status IN ('queued', 'running', 'retrying')`)).rows[0]!.n;
  },
  hotTables: ['jobq.jobs'],
  async retention(c, before) {
    let total = 0;
    for (;;) {
      const { rowCount } = await c.query(
        `WITH doomed AS (
           SELECT id FROM jobq.jobs WHERE status = 'succeeded' AND finished_at IS NOT NULL AND finished_at < $1
            ORDER BY status, finished_at LIMIT 1000 FOR UPDATE SKIP LOCKED)
         DELETE FROM jobq.jobs j USING doomed WHERE j.id = doomed.id`,
        [before],
      );
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < 1000) return total;
    }
  },
  async reset(c) {
    await c.query('TRUNCATE jobq.jobs, jobq.queues, jobq.queue_starts');
  },
  createQueue: (options) => new Queue({ ...options, logStore: false }), // the row store: the baseline the designs are compared with
};
