/** What a Worker is given (worker.ts); `jobq worker` fills it from its settings (src/config.ts). */
import type { Logger } from 'pino';
import type { Queue } from '../queue/index.ts';
import type { Retention } from '../queue/retention.ts';

export interface WorkerOptions {
  queue: Queue;
  /** For the dedicated LISTEN connection. */
  databaseUrl: string;
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
   * How long leases are kept renewed while the event loop is blocked (a synchronous handler). Default:
   * the largest timeout of the jobs held plus `timeoutGraceMs`; past it the worker counts as stuck and
   * its jobs are left to the sweeper.
   */
  maxBlockedMs?: number;
  /** Fire schedules' ticks (scheduler.ts). Default true; any number of workers may. */
  scheduler?: boolean;
}
