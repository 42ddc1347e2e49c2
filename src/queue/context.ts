/**
 * What the queue's modules share: the pools, the clock, the backoff policy, the event emitter and the
 * publisher of job events. The Queue façade (queue.ts) makes one and passes it to every operation.
 */
import type { EventEmitter } from 'node:events';
import type pg from 'pg';
import { type BackoffPolicy, DEFAULT_BACKOFF, type RandomSource, validatePolicy } from './backoff.ts';
import { JobqError } from '../errors.ts';
import { Publisher, type PublishReport } from './events/publisher.ts';
import { DEFAULT_LOG_STORE } from './log/busy.ts';
import { LogClaims } from './log/store.ts';
import { LIST_SCAN_ROWS, type ListBounds, PAGE_BYTES } from './list.ts';
import type { QueueOptions } from './queue.ts';
import { bindSchema, checkSchemaName, DEFAULT_SCHEMA } from './schema.ts';
import type { EnqueueResult, Job, ScheduleFire, WriteOptions } from './types.ts';

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
  /**
   * The publisher of job events sent a batch (events/publisher.ts): how many events it published, how
   * many were dropped since its last report (a publish that failed, with its `error`, or events pushed
   * out of a full buffer while the database was away).
   */
  eventsPublished: [PublishReport];
}

export interface QueueContext {
  /** The schema the queue lives in (schema.ts); its pools are bound to it. */
  readonly schema: string;
  /** Where writes run. */
  readonly pool: pg.Pool;
  /** Where `get` and `list` run (see QueueOptions.readPool). */
  readonly readPool: pg.Pool;
  readonly events: EventEmitter<QueueEvents>;
  readonly backoff: BackoffPolicy;
  readonly random: RandomSource;
  readonly listBounds: ListBounds;
  /** Job events go out through it, after the change they report committed (events/publish.ts). */
  readonly publisher: Publisher;
  /** The time the database should take as "now": null (its own clock) unless a test set a clock. */
  now(): Date | null;
  /** The log store's claims when it is on (QueueOptions.logStore; log/store.ts), else null. */
  readonly log: LogClaims | null;
}

/** The context of a Queue made with `options`, emitting on `events`. */
export function createContext(options: Omit<QueueOptions, 'kinds'>, events: EventEmitter<QueueEvents>): QueueContext {
  const clock = options.clock;
  const schema = checkSchemaName(options.schema ?? DEFAULT_SCHEMA);
  const readPool = options.readPool ?? options.pool;
  bindSchema(options.pool, schema);
  bindSchema(readPool, schema);
  const logStore = options.logStore ?? DEFAULT_LOG_STORE;
  return {
    schema,
    pool: options.pool,
    readPool,
    events,
    backoff: validatePolicy(options.backoff ?? DEFAULT_BACKOFF),
    random: options.random ?? Math.random,
    listBounds: { scanRows: LIST_SCAN_ROWS, pageBytes: PAGE_BYTES, ...options.listBounds },
    now: clock ? () => clock() : () => null,
    log: logStore ? new LogClaims(logStore) : null,
    publisher: new Publisher(options.pool, (r) => events.emit('eventsPublished', r), options.publish),
  };
}

/** `opts`, its caller's client (if any) bound to the queue's schema first: what every operation given `opts.db` takes. */
export function withDb<T extends WriteOptions>(ctx: QueueContext, opts: T): T {
  if (opts.db) bindSchema(opts.db, ctx.schema);
  return opts;
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
