/**
 * jobq as a library: embed the queue (and, if you like, a worker) in your own Node.js service.
 *
 *   import { Queue, KindRegistry, builtinKinds, createPool, migrate } from 'pgjobq';
 */
export * from './queue/index.ts';
export { JobqError, isJobqError, ERROR_KINDS, type ErrorKind, type ErrorDetail } from './errors.ts';
export { nextDelay, seededRandom, DEFAULT_BACKOFF, type BackoffPolicy, type RandomSource } from './queue/backoff.ts';
export {
  KindRegistry,
  PermanentError,
  type KindDefinition,
  type JobHandler,
  type HandlerContext,
} from './kinds/registry.ts';
export { builtinKinds, type BuiltinKindOptions } from './kinds/index.ts';
export { Worker, WorkerIdInUseError, type WorkerOptions, type WorkerEvents, type FinishOutcome } from './worker/worker.ts';
export { JobTimeoutError, JobCancelledError, WorkerShutdownError } from './worker/execute.ts';
export { createPool } from './db/pool.ts';
export { openDatabase, type Database } from './db/index.ts';
export { startEmbeddedPostgres } from './db/embedded.ts';
export { resolveConfig, type Config } from './config.ts';
export { startService, type Service } from './server.ts';
export { createMetrics, type Metrics } from './metrics/metrics.ts';
export { EventHub, type HubOptions, type HubStats } from './events/index.ts';
export { createClient, JobqClientError, type JobqClient, type ClientOptions, type JobWire, type NewJobWire, type QueueWire, type SetQueueWire, type ScheduleWire, type SetScheduleWire, type ScheduleSavedWire, type ScheduleListWire } from './client.ts';
export { createLogger } from './logger.ts';
