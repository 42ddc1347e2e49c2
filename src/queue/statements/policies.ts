/** Queue policies (jobq.queues, migrations/0011): setting them, reading them, and the worker's view of them. */
import { QUEUES_CHANNEL } from '../channels.ts';
import { command, NOW, type NoParams, statement } from './statement.ts';

/** A row of jobq.queues as the statements here return it. */
export interface PolicyRow {
  name: string;
  paused: boolean;
  concurrency: number | null;
  rate_limit: number | null;
  rate_period_ms: number | null;
  group_concurrency: number | null;
}

/** The SQL test "this row of jobq.queues has a policy" (a row may exist only for its groups' round robin). */
const HAS_POLICY = (q: string) =>
  `(${q}.paused OR ${q}.concurrency IS NOT NULL OR ${q}.rate_limit IS NOT NULL OR ${q}.group_concurrency IS NOT NULL)`;

export interface SetPolicyParams {
  name: string;
  /** null: leave as it is. */
  paused: boolean | null;
  /** Each `set*` says whether its value replaces the current one (a null value removes the limit). */
  setConcurrency: boolean;
  concurrency: number | null;
  setRate: boolean;
  rateLimit: number | null;
  ratePeriodMs: number | null;
  setGroupConcurrency: boolean;
  groupConcurrency: number | null;
  now: Date | null;
}

/**
 * Changes a queue's policy, creating its row if need be, and tells every worker (QUEUES_CHANNEL, sent
 * when the caller's transaction commits). Waits for a claim of the queue in progress (it holds the row).
 * A queue that no longer has a rate forgets its recorded starts.
 */
export const setPolicy = statement<SetPolicyParams, PolicyRow>(
  'set_policy',
  `WITH upd AS (
     INSERT INTO jobq.queues AS q (name, paused, concurrency, rate_limit, rate_period_ms, group_concurrency, updated_at)
     VALUES (:name, coalesce(:paused::boolean, false), :concurrency::integer, :rateLimit::integer, :ratePeriodMs::integer,
             :groupConcurrency::integer, ${NOW})
     ON CONFLICT (name) DO UPDATE SET
       paused = coalesce(:paused::boolean, q.paused),
       concurrency = CASE WHEN :setConcurrency::boolean THEN :concurrency::integer ELSE q.concurrency END,
       rate_limit = CASE WHEN :setRate::boolean THEN :rateLimit::integer ELSE q.rate_limit END,
       rate_period_ms = CASE WHEN :setRate::boolean THEN :ratePeriodMs::integer ELSE q.rate_period_ms END,
       group_concurrency = CASE WHEN :setGroupConcurrency::boolean THEN :groupConcurrency::integer ELSE q.group_concurrency END,
       updated_at = ${NOW}
     RETURNING q.*
   ), forget AS (
     DELETE FROM jobq.queue_starts s USING upd WHERE s.queue = upd.name AND upd.rate_limit IS NULL
   )
   SELECT upd.name, upd.paused, upd.concurrency, upd.rate_limit, upd.rate_period_ms, upd.group_concurrency
     FROM upd LEFT JOIN LATERAL (SELECT pg_notify('${QUEUES_CHANNEL}', upd.name)) n ON true`,
);

/** A queue's policy and what waits and runs in it (`queueInfos`). */
export interface QueueInfoRow extends PolicyRow {
  depth: number;
  running: number;
  oldest_age: number;
  updated_at: Date | null;
}

export interface QueueInfosParams {
  /** One queue; null: every queue with unfinished jobs or a policy. */
  name: string | null;
  /** Queues named after this one (the previous page's last); null: from the first. */
  after: string | null;
  limit: number;
  now: Date | null;
}

/**
 * Queues by name with their policy, runnable and running jobs, and the age of their oldest runnable
 * job: every queue that has unfinished jobs or a policy. Counts walk the runnable and running jobs
 * (their partial indexes), never the finished ones.
 */
export const queueInfos = statement<QueueInfosParams, QueueInfoRow>(
  'queue_infos',
  `WITH waiting AS (
     SELECT queue, count(*) FILTER (WHERE run_at <= ${NOW})::int AS depth,
            extract(epoch FROM ${NOW} - min(run_at) FILTER (WHERE run_at <= ${NOW}))::float8 AS oldest_age
       FROM jobq.jobs
      WHERE status IN ('queued', 'retrying') AND (:name::text IS NULL OR queue = :name) AND (:after::text IS NULL OR queue > :after)
      GROUP BY queue
   ), running AS (
     SELECT queue, count(*)::int AS running
       FROM jobq.jobs
      WHERE locked_at IS NOT NULL AND (:name::text IS NULL OR queue = :name) AND (:after::text IS NULL OR queue > :after)
      GROUP BY queue
   ), policies AS (
     SELECT * FROM jobq.queues q
      WHERE ${HAS_POLICY('q')} AND (:name::text IS NULL OR q.name = :name) AND (:after::text IS NULL OR q.name > :after)
   ), names AS (
     SELECT queue AS name FROM waiting UNION SELECT queue FROM running UNION SELECT name FROM policies
   )
   SELECT n.name, coalesce(p.paused, false) AS paused, p.concurrency, p.rate_limit, p.rate_period_ms, p.group_concurrency,
          coalesce(w.depth, 0) AS depth, coalesce(r.running, 0) AS running, greatest(coalesce(w.oldest_age, 0), 0) AS oldest_age,
          p.updated_at
     FROM names n
     LEFT JOIN waiting w ON w.queue = n.name
     LEFT JOIN running r ON r.queue = n.name
     LEFT JOIN policies p ON p.name = n.name
    ORDER BY n.name
    LIMIT :limit`,
);

/** A queue a worker claims through `claimLimited`: it has a policy (policy columns set), or runnable jobs with a group. */
export interface FlowRow extends PolicyRow {
  has_policy: boolean;
  grouped: boolean;
}

/**
 * What a worker needs to know of the fleet's flow control, read at every poll tick and when a policy
 * changes: the queues with a policy, and the queues whose waiting jobs carry a group (found by skipping
 * along jobs_group_idx, one probe per such queue). Queues without either are not listed.
 */
export const flowQueues = statement<NoParams, FlowRow>(
  'flow_queues',
  `WITH RECURSIVE grouped AS (
     (SELECT queue FROM jobq.jobs WHERE status IN ('queued', 'retrying') AND group_key IS NOT NULL ORDER BY queue LIMIT 1)
     UNION ALL
     SELECT (SELECT j.queue FROM jobq.jobs j
              WHERE j.status IN ('queued', 'retrying') AND j.group_key IS NOT NULL AND j.queue > g.queue
              ORDER BY j.queue LIMIT 1)
       FROM grouped g WHERE g.queue IS NOT NULL
   ), policies AS (
     SELECT * FROM jobq.queues q WHERE ${HAS_POLICY('q')}
   )
   SELECT coalesce(p.name, g.queue) AS name, coalesce(p.paused, false) AS paused, p.concurrency, p.rate_limit, p.rate_period_ms,
          p.group_concurrency, p.name IS NOT NULL AS has_policy, g.queue IS NOT NULL AS grouped
     FROM policies p FULL JOIN (SELECT queue FROM grouped WHERE queue IS NOT NULL) g ON g.queue = p.name`,
);

/**
 * Forgets the rows of queues that have no policy and no waiting job with a group (their row held only
 * the round robin's place). Rows a claim holds are left for the next sweep; a row deleted under a
 * grouped enqueue is made again by the next claim, whose round then starts from the first group.
 */
export const pruneQueues = command<NoParams>(
  'prune_queues',
  `DELETE FROM jobq.queues d
    WHERE d.name IN (
      SELECT q.name FROM jobq.queues q
       WHERE NOT ${HAS_POLICY('q')}
         AND NOT EXISTS (SELECT 1 FROM jobq.jobs j WHERE j.queue = q.name AND j.status IN ('queued', 'retrying') AND j.group_key IS NOT NULL)
       FOR UPDATE SKIP LOCKED)`,
);
