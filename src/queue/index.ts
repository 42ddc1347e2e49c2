/**
 * The queue module's entry: the Queue façade and its types, the NOTIFY channels and the migrations.
 * Layers above (api, worker, metrics, the package's index) import the queue from here.
 */
export {
  Queue,
  MAX_BATCH,
  type QueueOptions,
  type QueueEvents,
  type ClaimOptions,
  type ClaimLimitedOptions,
  type FlowQueue,
  type FlowState,
  type QueueThrottle,
  type ClaimRef,
  type ClaimsHeartbeat,
  type CompleteItem,
  type FailOptions,
  type PruneOptions,
} from './queue.ts';
export * from './types.ts';
export { JOBS_CHANNEL, CANCEL_CHANNEL, QUEUES_CHANNEL, SCHEDULES_CHANNEL, parseJobsPayload } from './channels.ts';
export { LISTENERS_CHANNEL } from './events/types.ts';
export { channels, checkSchemaName, DEFAULT_SCHEMA, schemaNameProblem } from './schema.ts';
export type { Publisher, PublisherOptions, PublishReport } from './events/publisher.ts';
export { toProgress, type ProgressOptions, type ProgressValue } from './progress.ts';
export { migrate, schemaVersion, LATEST_VERSION } from './migrate.ts';
export { QueueSchedules } from './queue-schedules.ts';
export { QueueInsights, RECENT_WORKERS_MS, type ChildJob, type ChildPage, type FinishedCounts, type Throughput, type WorkerInfo } from './insights.ts';
