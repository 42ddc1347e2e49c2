/**
 * The statements of keyed enqueues: a job with a singleton key or a debounce key (migration 0012,
 * docs/lifecycle.md). A job without either never comes here: it takes enqueue.ts's `insert`, whose
 * text and plan these leave alone.
 *
 * Each statement answers for one job, in one round trip, idempotency key first: the job that already
 * holds the idempotency key (`idempotent_replay`; `same` says whether it has the kind and payload
 * asked for), else the keyed decision. The insert is `ON CONFLICT DO NOTHING` without a conflict
 * target, so that every unique index is its arbiter: a conflict on the singleton or debounce key and
 * a conflict on the idempotency key (a concurrent enqueue with the same one) both end as "not
 * inserted", never as an error, which inside a transaction would abort it. A statement can come back
 * empty: its insert met a row its snapshot does not show (committed meanwhile), or the job it
 * conflicted with finished (singleton) or was claimed (debounce) before it could be read. The caller
 * runs it again (keyed.ts), with a new snapshot.
 */
import { JOBS_CHANNEL, jobsPayloadSql } from '../channels.ts';
import type { JobRow } from '../rows.ts';
import type { EnqueueOutcome } from '../types.ts';
import { NOW, statement } from './statement.ts';

interface KeyedParams {
  /** The job as one JSON object (rows.ts InsertRow). */
  row: string;
  /** Notify in the statement itself when the job is runnable (see enqueue.ts `insert`). */
  notify: boolean;
  now: Date | null;
}

export interface SingletonParams extends KeyedParams {
  singletonKey: string;
}

export interface DebounceParams extends KeyedParams {
  debounceKey: string;
  debounceMs: number;
}

/** The job the statement made, found or rewrote, and what it did. */
export interface KeyedRow extends JobRow {
  outcome: EnqueueOutcome;
  /** For `idempotent_replay`: whether the job has the kind and payload asked for. Else true. */
  same: boolean;
  /** Whether the job is runnable now (its queue's workers should be woken). */
  runnable: boolean;
}

const INPUT = `input AS (
     SELECT * FROM jsonb_to_record(:row::jsonb) AS x(
       id uuid, queue text, kind text, payload jsonb, priority int, max_attempts int,
       run_at timestamptz, delay_ms int, timeout_ms int, idempotency_key text, group_key text, trace_context jsonb)
   ), replay AS (
     SELECT j.* FROM jobq.jobs j JOIN input i ON j.idempotency_key = i.idempotency_key
   )`;

/** The answer row of a job the statement wrote (`src`), notifying its queue when it is runnable. */
const WROTE = (outcome: EnqueueOutcome, src: string) =>
  `SELECT '${outcome}'::text AS outcome, true AS same, ${src}.run_at <= ${NOW} AS runnable, ${src}.*
     FROM ${src}
     LEFT JOIN LATERAL (SELECT pg_notify('${JOBS_CHANNEL}', ${jobsPayloadSql(src)}) WHERE :notify::boolean AND ${src}.run_at <= ${NOW}) n ON true`;

const REPLAYED = `SELECT 'idempotent_replay'::text, r.kind = i.kind AND r.payload = coalesce(i.payload, 'null'), false, r.*
     FROM replay r CROSS JOIN input i`;

/**
 * Singleton: inserts the job unless its idempotency key is taken or another job holding its singleton
 * key is unfinished (queued, retrying, running: jobs_singleton_key_idx); then returns that job.
 */
export const enqueueSingleton = statement<SingletonParams, KeyedRow>(
  'enqueue_singleton',
  `WITH ${INPUT}, ins AS (
     INSERT INTO jobq.jobs (id, queue, kind, payload, priority, max_attempts, run_at, timeout_ms,
                            idempotency_key, group_key, singleton_key, trace_context, created_at, updated_at)
     SELECT id, queue, kind, coalesce(payload, 'null'), priority, max_attempts,
            coalesce(run_at, ${NOW} + delay_ms * interval '1 millisecond'),
            timeout_ms, idempotency_key, group_key, :singletonKey, trace_context, ${NOW}, ${NOW}
       FROM input
      WHERE NOT EXISTS (SELECT FROM replay)
     ON CONFLICT DO NOTHING
     RETURNING *
   ), held AS (
     SELECT j.* FROM jobq.jobs j
      WHERE j.singleton_key = :singletonKey AND j.status IN ('queued', 'retrying', 'running')
        AND NOT EXISTS (SELECT FROM replay) AND NOT EXISTS (SELECT FROM ins)
   )
   ${WROTE('created', 'ins')}
   UNION ALL
   ${REPLAYED}
   UNION ALL
   SELECT 'singleton_existing', true, false, held.* FROM held`,
);

/**
 * Debounce: rewrites the open job of the debounce key (queued and never claimed:
 * jobs_debounce_key_idx) with what this enqueue asks for and run_at = now + debounceMs; when there is
 * none, inserts the job to run then. Concurrent debounces of one key queue on the open job's row lock,
 * so the one that commits last is the one whose payload stays. A claim that takes the job first (its
 * row lock, then claim_seq) leaves it out of the UPDATE's recheck: this enqueue then makes a new job.
 */
export const enqueueDebounced = statement<DebounceParams, KeyedRow>(
  'enqueue_debounced',
  `WITH ${INPUT}, upd AS (
     UPDATE jobq.jobs j
        SET queue = i.queue, kind = i.kind, payload = coalesce(i.payload, 'null'), priority = i.priority,
            max_attempts = i.max_attempts, timeout_ms = i.timeout_ms, group_key = i.group_key, trace_context = i.trace_context,
            run_at = ${NOW} + :debounceMs * interval '1 millisecond', updated_at = ${NOW}
       FROM input i
      WHERE j.debounce_key = :debounceKey AND j.status = 'queued' AND j.claim_seq IS NULL
        AND NOT EXISTS (SELECT FROM replay)
     RETURNING j.*
   ), ins AS (
     INSERT INTO jobq.jobs (id, queue, kind, payload, priority, max_attempts, run_at, timeout_ms,
                            idempotency_key, group_key, debounce_key, trace_context, created_at, updated_at)
     SELECT id, queue, kind, coalesce(payload, 'null'), priority, max_attempts,
            ${NOW} + :debounceMs * interval '1 millisecond',
            timeout_ms, idempotency_key, group_key, :debounceKey, trace_context, ${NOW}, ${NOW}
       FROM input
      WHERE NOT EXISTS (SELECT FROM replay) AND NOT EXISTS (SELECT FROM upd)
     ON CONFLICT DO NOTHING
     RETURNING *
   )
   ${WROTE('created', 'ins')}
   UNION ALL
   ${WROTE('debounced', 'upd')}
   UNION ALL
   ${REPLAYED}`,
);

/**
 * Which other job holds the singleton or debounce key of job `id` in the way its retry would need it
 * (unfinished, or open): why a retry of the job broke a key's unique index.
 */
export const keyHolder = statement<{ id: string }, { id: string; key: 'singleton_key' | 'debounce_key'; value: string }>(
  'key_holder',
  `SELECT o.id, 'singleton_key' AS key, o.singleton_key AS value
     FROM jobq.jobs j JOIN jobq.jobs o ON o.singleton_key = j.singleton_key
    WHERE j.id = :id AND o.id <> j.id AND o.status IN ('queued', 'retrying', 'running')
   UNION ALL
   SELECT o.id, 'debounce_key', o.debounce_key
     FROM jobq.jobs j JOIN jobq.jobs o ON o.debounce_key = j.debounce_key
    WHERE j.id = :id AND o.id <> j.id AND o.status = 'queued' AND o.claim_seq IS NULL`,
);
