/**
 * Enqueue's statements: the insert of a batch, the look-up of jobs whose idempotency key existed, and
 * the wake-up of workers.
 */
import { JOBS_CHANNEL } from '../channels.ts';
import type { JobRow } from '../rows.ts';
import { insertedRows, insertInput, insertJobs } from './insert-sql.ts';
import { statement } from './statement.ts';

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
  `WITH input AS (${insertInput(':input')}), ins AS (${insertJobs('input')})
   ${insertedRows('ins', ':notify::boolean')}`,
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
