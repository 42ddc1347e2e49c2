/** The fleet as the dashboard shows it (issue #20): workers and what they run. */
import { NOW, statement } from './statement.ts';

export interface WorkerRow {
  id: string;
  alive: boolean;
  concurrency: number | null;
  queues: string[] | null;
  running: number;
  started_at: Date | null;
  last_seen_at: Date;
}

/**
 * Workers alive now, and those that wrote within `recentMs` (stopped or dead ones, so an operator sees
 * a worker that vanished), with the jobs each runs. `running` walks the lease index (running jobs
 * only), so its cost is the jobs running, not the table; and the log store's batches after the
 * recovery sweep's mark (every batch up to it finished or was recovered), each its open entries.
 */
export const workers = statement<{ recentMs: number; now: Date | null }, WorkerRow>(
  'workers',
  `SELECT w.id, coalesce(w.alive_until > ${NOW}, false) AS alive, w.concurrency, w.queues,
          coalesce(r.n, 0)::int AS running, w.started_at, w.updated_at AS last_seen_at
     FROM jobq.workers w
     LEFT JOIN (SELECT locked_by, sum(n) AS n FROM (
                  SELECT locked_by, count(*) AS n FROM jobq.jobs WHERE locked_at IS NOT NULL AND status = 'running' GROUP BY locked_by
                  UNION ALL
                  SELECT b.worker, sum(b.n - coalesce((SELECT sum(cardinality(d.pos)) FROM jobq.log_done d WHERE d.batch_id = b.batch_id), 0)
                                       - (SELECT count(*) FROM jobq.log_fail f WHERE f.batch_id = b.batch_id))
                    FROM jobq.log_batch b WHERE b.lost_at IS NULL AND b.batch_id > (SELECT through FROM jobq.log_sweep) GROUP BY b.worker
                ) x GROUP BY locked_by) r ON r.locked_by = w.id
    WHERE w.alive_until > ${NOW} OR w.updated_at > ${NOW} - :recentMs * interval '1 millisecond' OR r.n > 0
    ORDER BY w.id`,
);
