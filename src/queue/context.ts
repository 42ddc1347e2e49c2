/**
 * What the queue's modules share: the pools, the clock, the backoff policy and the event emitter. The
 * Queue façade (queue.ts) makes one and passes it to every operation.
 */
import type { EventEmitter } from 'node:events';
import type pg from 'pg';
import type { BackoffPolicy, RandomSource } from './backoff.ts';
import { JobqError } from '../errors.ts';
import type { ListBounds } from './list.ts';
import type { EnqueueResult, Job, ScheduleFire } from './types.ts';

export interface QueueEvents {
  /** A job made, or an existing one answered with (`outcome` says which and why). */
  enqueued: [EnqueueResult];
  claimed: [{ jobs: Pick<Job, 'id' | 'kind' | 'queue'>[]; workerId: string }];
  recovered: [{ jobs: Job[] }];
  pruned: [{ count: number }];
  /**
   * Jobs that became cancelled, by whichever transition: an API cancel of a waiting job, a worker
   * finalizing a running or buffered one, a failed attempt or a release that found a cancel request,
   * recovery of a lost one with a cancel request. Each cancellation is emitted exactly once.
   */
  cancelled: [{ jobs: Pick<Job, 'id' | 'kind' | 'queue'>[] }];
  /** A schedule's tick fired (its job is also emitted as `enqueued`), once per tick across the fleet. */
  scheduleFired: [ScheduleFire];
}

export interface QueueContext {
  /** Where writes run. */
  readonly pool: pg.Pool;
  /** Where `get` and `list` run (see QueueOptions.readPool). */
  readonly readPool: pg.Pool;
  readonly events: EventEmitter<QueueEvents>;
  readonly backoff: BackoffPolicy;
  readonly random: RandomSource;
  readonly listBounds: ListBounds;
  /** The time the database should take as "now": null (its own clock) unless a test set a clock. */
  now(): Date | null;
}

/** Emits `cancelled` for those of `jobs` (what a transition returned) that it made cancelled. */
export function emitCancelled(ctx: QueueContext, jobs: Job[]): void {
  if (ctx.events.listenerCount('cancelled') === 0) return;
  const cancelled = jobs.filter((j) => j.status === 'cancelled');
  if (cancelled.length > 0) ctx.events.emit('cancelled', { jobs: cancelled });
}

export function notFound(id: string): JobqError {
  return new JobqError('not_found', `no job with id ${id}`);
}
