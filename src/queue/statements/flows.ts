/**
 * The statements of job dependencies (migration 0015, docs/flows.md): locking a new job's parents, the
 * insert of jobs that name parents, and the parents as a child's handler reads them. The release of
 * waiting children is not here: the trigger jobs_settle_children does it (functions.sql). A job
 * without parents never comes here: it takes enqueue.ts's `insert`, whose text and plan these leave alone.
 */
import { JOBS_CHANNEL, jobsPayloadSql } from '../channels.ts';
import type { JobRow } from '../rows.ts';
import type { JobStatus } from '../types.ts';
import { NOW, statement } from './statement.ts';

const SETTLED = `('succeeded', 'failed_permanent', 'cancelled')`;

/**
 * Locks these jobs (the parents a new job names) in id order until the transaction ends, marks those
 * not settled yet as having children, and returns them as they are now: a parent whose completion was
 * committing is waited for, and read as completed. Once it is locked, a parent's completion waits for
 * the enqueue's commit and then finds has_children and the enqueue's edges (docs/flows.md, "Why no child
 * waits forever"). Ids of no job are left out.
 */
export const lockParents = statement<{ ids: string[] }, { id: string; status: JobStatus }>(
  'lock_parents',
  `WITH locked AS (
     SELECT id, status, has_children FROM jobq.jobs WHERE id = ANY(:ids::uuid[]) ORDER BY id FOR NO KEY UPDATE
   ), flagged AS (
     UPDATE jobq.jobs j SET has_children = true
       FROM locked l
      WHERE j.id = l.id AND NOT l.has_children AND l.status NOT IN ${SETTLED}
   )
   SELECT id, status FROM locked`,
);

/**
 * Takes in the parents among `ids` that the log store holds (log/parents.sql, jobq.log_adopt_parents),
 * inside the enqueue's transaction, after lockParents has locked the rows: a waiting one becomes a row
 * (status 'moved': lock it with lockParents), a running one is registered for the log's triggers, a
 * finished one is returned as it ended. Ids of no log job are left out.
 */
export const adoptLogParents = statement<{ ids: string[]; now: Date | null }, { id: string; status: 'moved' | 'running' | 'succeeded' | 'failed_permanent' | 'cancelled' }>(
  'adopt_log_parents',
  `SELECT id, status FROM jobq.log_adopt_parents(:ids::uuid[], ${NOW})`,
);

export interface InsertWithParentsParams {
  /** The jobs as one JSON array of rows.ts InsertRow, each with `depends_on` (ids) and `on_parent_failure`. */
  input: string;
  /** The parents of the log store (adoptLogParents, not moved) and their statuses, as a JSON object by id. */
  logged: string;
  /** Notify in the statement itself when a job is runnable (see enqueue.ts `insert`). */
  notify: boolean;
  now: Date | null;
}

/**
 * Inserts jobs that name parents, every parent locked by this transaction already (lockParents), made
 * by it, or one of the log store's taken in with its status (adoptLogParents; `logged`): each is `waiting` for its parents not settled yet, with an edge to each of them; `queued` when
 * all have settled (a failed or cancelled one under on_parent_failure 'run' included); `cancelled` at
 * once when one failed or was cancelled and the job says 'cancel' (last_error names that parent). Rows
 * whose idempotency key exists are skipped (the caller looks them up, as for `insert`).
 */
export const insertWithParents = statement<InsertWithParentsParams, JobRow & { runnable: boolean }>(
  'insert_with_parents',
  `WITH input AS (
     SELECT * FROM jsonb_to_recordset(:input::jsonb) AS x(
       ord int, id uuid, queue text, kind text, payload jsonb, priority int, max_attempts int,
       run_at timestamptz, delay_ms int, timeout_ms int, idempotency_key text, group_key text,
       depends_on uuid[], on_parent_failure text, trace_context jsonb)
   ), parents AS (
     SELECT j.id, j.status::text FROM jobq.jobs j WHERE j.id IN (SELECT unnest(depends_on) FROM input)
     UNION ALL
     SELECT key::uuid, value FROM jsonb_each_text(:logged::jsonb)
   ), decided AS (
     SELECT i.ord,
            count(*) FILTER (WHERE p.status NOT IN ${SETTLED})::int AS pending,
            (array_agg(p.id || ' ended ' || p.status ORDER BY p.id) FILTER (WHERE p.status IN ('failed_permanent', 'cancelled')))[1] AS failed
       FROM input i CROSS JOIN LATERAL unnest(i.depends_on) AS d(pid) JOIN parents p ON p.id = d.pid
      GROUP BY i.ord
   ), ins AS (
     INSERT INTO jobq.jobs (id, queue, kind, payload, priority, max_attempts, run_at, timeout_ms, idempotency_key, group_key,
                            depends_on, on_parent_failure, pending_parents, status, last_error, finished_at, trace_context, created_at, updated_at)
     SELECT i.id, i.queue, i.kind, coalesce(i.payload, 'null'), i.priority, i.max_attempts,
            coalesce(i.run_at, ${NOW} + i.delay_ms * interval '1 millisecond'),
            i.timeout_ms, i.idempotency_key, i.group_key, i.depends_on, i.on_parent_failure, d.pending, s.status,
            CASE WHEN s.status = 'cancelled' THEN 'cancelled: parent ' || d.failed END,
            CASE WHEN s.status = 'cancelled' THEN ${NOW} END, i.trace_context, ${NOW}, ${NOW}
       FROM input i
       JOIN decided d ON d.ord = i.ord
       CROSS JOIN LATERAL (
         SELECT (CASE WHEN d.failed IS NOT NULL AND i.on_parent_failure = 'cancel' THEN 'cancelled'
                      WHEN d.pending > 0 THEN 'waiting'
                      ELSE 'queued' END)::jobq.job_status AS status
       ) s
      ORDER BY i.ord
     ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
     RETURNING *
   ), edges AS (
     INSERT INTO jobq.dependencies (parent_id, child_id)
     SELECT p.id, ins.id
       FROM ins CROSS JOIN LATERAL unnest(ins.depends_on) AS d(pid) JOIN parents p ON p.id = d.pid
      WHERE ins.status = 'waiting' AND p.status NOT IN ${SETTLED}
   )
   SELECT ins.*, ins.status = 'queued' AND ins.run_at <= ${NOW} AS runnable
     FROM ins
     LEFT JOIN LATERAL (SELECT pg_notify('${JOBS_CHANNEL}', ${jobsPayloadSql('ins')})
                         WHERE :notify::boolean AND ins.status = 'queued' AND ins.run_at <= ${NOW}) n ON true`,
);

/**
 * The parents of job `id` in depends_on order, as they are now (ctx.parents()), of either store. A
 * parent deleted by retention comes back with its id alone.
 */
export const parentsOf = statement<{ id: string }, { id: string; kind: string | null; status: JobStatus | null; result: unknown }>(
  'parents_of',
  `SELECT d.id, coalesce(p.kind, l.kind) AS kind, coalesce(p.status::text, l.status) AS status,
          CASE WHEN p.id IS NOT NULL THEN p.result ELSE l.result END AS result
     FROM jobq.jobs c
    CROSS JOIN LATERAL unnest(c.depends_on) WITH ORDINALITY AS d(id, n)
     LEFT JOIN jobq.jobs p ON p.id = d.id
     LEFT JOIN LATERAL (SELECT x.kind, x.status, x.result FROM jobq.log_job(d.id) x WHERE p.id IS NULL) l ON true
    WHERE c.id = :id
    ORDER BY d.n`,
);
