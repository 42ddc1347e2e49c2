/**
 * Enqueue's statements: the insert of a batch, the look-up of jobs whose idempotency key existed, and
 * the wake-up of workers.
 */
import { JOBS_CHANNEL, jobsPayloadSql } from '../channels.ts';
import type { JobRow } from '../rows.ts';
import { NOW, statement } from './statement.ts';

export interface InsertParams {
  /** The batch as one JSON array of rows (rows.ts InsertRow). */
  input: string;
  /** Notify in the statement itself (see `insert`). */
  notify: boolean;
  now: Date | null;
}

/** What the database decided about a job it inserted. */
export interface InsertedRow {
  id: string;
  run_at_ms: number;
  created_at_ms: number;
  runnable: boolean;
}

/**
 * Inserts a batch given as one JSON array; rows whose idempotency key exists are skipped (resolved by
 * `findByKeys`). A JSON null payload, which jsonb_to_recordset reads as SQL NULL, is stored as JSON
 * null. With `notify` the statement itself notifies (delivered when the caller's transaction commits);
 * otherwise the caller sends `notifyQueues` after the commit, which keeps concurrent inserts from
 * queueing behind the notification lock that every NOTIFY takes at commit. It returns only what the
 * database decided (the ids inserted, run_at and created_at as epoch milliseconds): the caller has the
 * rest (see newJobFromInsert). Sending every row back and parsing it was a third of the API's CPU on a
 * batch of 1,000.
 */
export const insert = statement<InsertParams, InsertedRow>(
  'insert',
  `WITH input AS (
     SELECT * FROM jsonb_to_recordset(:input::jsonb) AS x(
       ord int, id uuid, queue text, kind text, payload jsonb, priority int, max_attempts int,
       run_at timestamptz, delay_ms int, timeout_ms int, idempotency_key text, group_key text)
   ), ins AS (
     INSERT INTO jobq.jobs (id, queue, kind, payload, priority, max_attempts, run_at, timeout_ms,
                            idempotency_key, group_key, created_at, updated_at)
     SELECT id, queue, kind, coalesce(payload, 'null'), priority, max_attempts,
            coalesce(run_at, ${NOW} + delay_ms * interval '1 millisecond'),
            timeout_ms, idempotency_key, group_key, ${NOW}, ${NOW}
       FROM input ORDER BY ord
     ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
     RETURNING id, queue, group_key, run_at, created_at
   )
   SELECT ins.id, (extract(epoch FROM ins.run_at) * 1000)::float8 AS run_at_ms,
          (extract(epoch FROM ins.created_at) * 1000)::float8 AS created_at_ms, ins.run_at <= ${NOW} AS runnable
     FROM ins
   LEFT JOIN LATERAL (SELECT pg_notify('${JOBS_CHANNEL}', ${jobsPayloadSql('ins')}) WHERE :notify::boolean AND ins.run_at <= ${NOW}) n ON true`,
);

/** Wakes workers of these queues (JOBS_CHANNEL payloads): sent after the inserts committed, coalesced (see enqueue.ts). */
export const notifyQueues = statement<{ queues: string[] }, unknown>(
  'notify_queues',
  `SELECT pg_notify('${JOBS_CHANNEL}', q) FROM unnest(:queues::text[]) AS q`,
);

export interface FindByKeysParams {
  keys: string[];
  /** A JSON object {key: {kind, payload}}: what each key was asked for. */
  asked: string;
}

/** The jobs holding the given idempotency keys, and whether each matches the kind and payload asked for. */
export const findByKeys = statement<FindByKeysParams, JobRow & { same: boolean }>(
  'find_by_keys',
  `SELECT *, (kind = :asked::jsonb -> idempotency_key ->> 'kind' AND payload = :asked::jsonb -> idempotency_key -> 'payload') AS same
     FROM jobq.jobs
    WHERE idempotency_key = ANY(:keys::text[])`,
);
