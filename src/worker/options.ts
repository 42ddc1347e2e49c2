/** What a Worker is given (worker.ts); `jobq worker` fills it from its settings (src/config.ts). */
import type { Logger } from 'pino';
import type { Queue } from '../queue/index.ts';
import type { Retention } from '../queue/retention.ts';

export interface WorkerOptions {
  queue: Queue;
  /** The database's URL: the lease keeper's connection, and LISTEN's unless `listenUrl` is given. */
  databaseUrl: string;
  /**
   * Where the dedicated LISTEN connection goes: a direct URL when `databaseUrl` leads through a pooler
   * in transaction mode (PgBouncer), where LISTEN cannot work. Without one there, the worker polls
   * every POLL_ONLY_INTERVAL_MS (or its poll interval, if shorter) instead, and says so at start.
   */
  listenUrl?: string;
  logger: Logger;
  workerId: string;
  concurrency: number;
  /** Empty: all queues. */
  queues: string[];
  leaseMs: number;
  heartbeatMs: number;
  pollIntervalMs: number;
  shutdownGraceMs: number;
  /** How long a handler may ignore its aborted signal before its slot is freed. */
  timeoutGraceMs: number;
  /** How long finished jobs are kept before the sweeper deletes them. Default DEFAULT_RETENTION. */
  retention?: Retention;
  /**
   * How long leases are kept renewed while the event loop is blocked (a synchronous handler), or the
   * worker's own renewal is late (its pool exhausted; a heartbeat more then). Default:
   * the largest timeout of the jobs held plus `timeoutGraceMs`; past it the worker counts as stuck and
   * its jobs are left to the sweeper.
   */
  maxBlockedMs?: number;
  /** Fire schedules' ticks (scheduler.ts). Default true; any number of workers may. */
  scheduler?: boolean;
}
