/** The worker's claim, and the watermark of the buffered jobs it has started. */
import type { ClaimedRow } from '../rows.ts';
import { command, NOW, statement } from './statement.ts';

export interface ClaimParams {
  workerId: string;
  limit: number;
  /** Only these queues; null: any. */
  queues: string[] | null;
  /** Only these kinds; null: any. */
  kinds: string[] | null;
  /** The cursor: the last job of the previous claim (all three, or none). */
  afterPriority: number | null;
  afterRunAt: Date | null;
  afterId: string | null;
  /** How many of the claimed jobs start now; null: all. */
  started: number | null;
  /** Commit without waiting for the WAL flush (only when the claim is the whole transaction: migration 0008). */
  async: boolean;
  now: Date | null;
  /** Not these queues (those with a policy, which `claimLimited` claims); null: none left out. */
  exclude: string[] | null;
}

/**
 * Claims up to `limit` runnable jobs of `queues` and `kinds`, highest priority, then oldest run_at
 * first; with a cursor only jobs after it at that priority; never a job that carries a group, nor one of
 * `exclude` (those are `claimLimited`'s: docs/flow-control.md). The first `started` start now; the rest
 * wait in the worker's buffer (see `markStartedThrough`). The work is the PostgreSQL function
 * jobq.claim (src/queue/functions.sql): a function so that it can pin the planner to the runnable
 * index. This returns only what a worker runs the job with: run_at and started_at come as epoch
 * milliseconds (a float, microseconds kept), since turning text into a Date was the worker's largest
 * single cost after GC.
 */
export const claim = statement<ClaimParams, ClaimedRow>(
  'claim',
  `SELECT id, queue, kind, payload, priority, attempts, max_attempts, timeout_ms, backoff_ms,
          (extract(epoch FROM started_at) * 1000)::float8 AS started_at_ms,
          (extract(epoch FROM run_at) * 1000)::float8 AS run_at_ms, claim_seq::float8 AS claim_seq, trace_context
     FROM jobq.claim(:workerId, :limit, :queues::text[], :kinds::text[], :now::timestamptz,
                     :afterPriority::integer, :afterRunAt::timestamptz, :afterId::uuid, :started::integer, :async::boolean,
                     :exclude::text[])`,
);

export interface ClaimLimitedParams {
  workerId: string;
  /** The queues to claim from, in the order they are offered room. */
  queues: string[];
  /** Jobs in all, at most. */
  limit: number;
  kinds: string[] | null;
  async: boolean;
  now: Date | null;
}

/** A row of `claimLimited`: a claimed job (id set), or what held a queue back (id null). */
export interface ClaimLimitedRow extends Omit<ClaimedRow, 'id'> {
  id: string | null;
  flow_queue: string | null;
  flow_state: 'empty' | 'paused' | 'concurrency' | 'rate' | 'group' | null;
  flow_wait_ms: number | null;
  flow_held: number | null;
}

/**
 * Claims up to `limit` jobs from `queues`, each under its policy and in turns between its groups, and
 * starts them all (no buffer). The work is jobq.claim_limited (functions.sql); its rows are the claimed
 * jobs, then one row per queue that gave less than it was offered, saying why.
 */
export const claimLimited = statement<ClaimLimitedParams, ClaimLimitedRow>(
  'claim_limited',
  `SELECT (r.job).id, (r.job).queue, (r.job).kind, (r.job).payload, (r.job).priority, (r.job).attempts, (r.job).max_attempts,
          (r.job).timeout_ms, (r.job).backoff_ms, (r.job).group_key,
          (extract(epoch FROM (r.job).started_at) * 1000)::float8 AS started_at_ms,
          (extract(epoch FROM (r.job).run_at) * 1000)::float8 AS run_at_ms, (r.job).claim_seq::float8 AS claim_seq,
          (r.job).trace_context, r.flow_queue, r.flow_state, r.flow_wait_ms, r.flow_held
     FROM jobq.claim_limited(:workerId, :queues::text[], :limit, :kinds::text[], :now::timestamptz, :async::boolean) r`,
);

/**
 * Worker `workerId` has started every job of its claims numbered up to `claimSeq` (migrations/0006):
 * one row per worker, however many buffered jobs started since the last write.
 */
export const markStartedThrough = command<{ workerId: string; claimSeq: number; now: Date | null }>(
  'mark_started_through',
  `INSERT INTO jobq.workers AS w (id, started_seq, updated_at) VALUES (:workerId, :claimSeq, ${NOW})
   ON CONFLICT (id) DO UPDATE SET started_seq = greatest(w.started_seq, excluded.started_seq), updated_at = excluded.updated_at`,
);
