/**
 * SQL text shared by the statements that insert jobs (enqueue.ts and schedules.ts): fragments, not
 * statements, so that both insert exactly alike.
 */
import { JOBS_CHANNEL, jobsPayloadSql } from '../channels.ts';
import { NOW } from './statement.ts';

/** The rows of a JSON array parameter (rows.ts InsertRow) as a relation, for `insertJobs`. */
export const insertInput = (param: string) =>
  `SELECT * FROM jsonb_to_recordset(${param}::jsonb) AS x(
       ord int, id uuid, queue text, kind text, payload jsonb, priority int, max_attempts int,
       run_at timestamptz, delay_ms int, timeout_ms int, idempotency_key text, group_key text, trace_context jsonb, row_store boolean)`;

/**
 * The insert of the rows of relation `input` (shaped as `insertInput` makes it), skipping those whose
 * idempotency key exists; returns what `InsertedRow` needs. Shared with the schedules' fire.
 */
export const insertJobs = (input: string) =>
  `INSERT INTO jobq.jobs (id, queue, kind, payload, priority, max_attempts, run_at, timeout_ms,
                          idempotency_key, group_key, trace_context, created_at, updated_at)
   SELECT id, queue, kind, coalesce(payload, 'null'), priority, max_attempts,
          coalesce(run_at, ${NOW} + delay_ms * interval '1 millisecond'),
          timeout_ms, idempotency_key, group_key, trace_context, ${NOW}, ${NOW}
     FROM ${input} ORDER BY ord
   ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
   RETURNING id, queue, group_key, run_at, created_at`;

/** The inserted rows of relation `ins` (from `insertJobs`) as `InsertedRow`s, each notified when runnable and `notify`. */
export const insertedRows = (ins: string, notify: string) =>
  `SELECT ${ins}.id, (extract(epoch FROM ${ins}.run_at) * 1000)::float8 AS run_at_ms,
          (extract(epoch FROM ${ins}.created_at) * 1000)::float8 AS created_at_ms, ${ins}.run_at <= ${NOW} AS runnable
     FROM ${ins}
   LEFT JOIN LATERAL (SELECT pg_notify('${JOBS_CHANNEL}', ${jobsPayloadSql(ins)}) WHERE ${notify} AND ${ins}.run_at <= ${NOW}) n ON true`;
