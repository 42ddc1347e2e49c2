/**
 * A typed client of the jobq HTTP API, on the global `fetch` (or one you pass). Its inputs and outputs
 * are the wire types (snake_case, timestamps as strings), the same TypeBox schemas the server validates
 * and serialises with. Every failure is a JobqClientError: `status` is the HTTP status (0 when there was
 * no answer), `kind` the API's error kind, or `network_error`, `invalid_response`, `timeout`.
 * Its parts: client/http.ts (requests and errors), client/wait.ts (waitFor's long-polls), client/watch.ts
 * and client/sse.ts (watch: job events over Server-Sent Events).
 */
import type { ErrorBodyWire, ErrorDetailWire } from './api/schemas/errors.ts';
import type { JobEventWire } from './api/schemas/events.ts';
import type { ChildListWire, ChildrenQueryWire, ThroughputWire, WorkerListWire } from './api/schemas/insights.ts';
import type { JobWire } from './api/schemas/job.ts';
import type { ListQueryWire, NewJobWire } from './api/schemas/requests.ts';
import type { QueueListQueryWire, QueueListWire, QueueWire, SetQueueWire } from './api/schemas/queues.ts';
import type { ScheduleListQueryWire, ScheduleListWire, ScheduleSavedWire, ScheduleWire, SetScheduleWire } from './api/schemas/schedules.ts';
import type { BatchResponseWire, CancelResponseWire, JobListWire, KindWire, StatsWire } from './api/schemas/responses.ts';
import { http, JobqClientError, withQuery, type ClientErrorKind, type ClientOptions } from './client/http.ts';
import { waitFor, type WaitForOptions } from './client/wait.ts';
import { watch, type WatchEvent, type WatchFilter, type WatchOptions } from './client/watch.ts';
import type { JobStatus } from './statuses.ts';

export type { AttemptErrorWire, JobProgressWire, JobWire } from './api/schemas/job.ts';
/** A job's `on_parent_failure` (`NewJobWire.depends_on`: docs/flows.md). */
export type { OnParentFailure } from './limits.ts';
export type { ErrorBodyWire, ErrorDetailWire, JobListWire, KindWire, NewJobWire, StatsWire, CancelResponseWire, JobStatus };
export type { QueueListQueryWire, QueueListWire, QueueWire, SetQueueWire };
export type { ScheduleListQueryWire, ScheduleListWire, ScheduleSavedWire, ScheduleWire, SetScheduleWire };
export type { ChildListWire, ChildrenQueryWire, ThroughputWire, WorkerListWire };
export type { ClientErrorKind, ClientOptions, JobEventWire, WaitForOptions, WatchEvent, WatchFilter, WatchOptions };
export { JobqClientError };

export type JobListFilter = ListQueryWire;

export interface EnqueueOptions {
  /** Sent as the Idempotency-Key header. */
  idempotencyKey?: string;
}

export interface JobqClient {
  /** Enqueues a job; a replayed idempotency key gives the existing job. */
  enqueue(job: NewJobWire, opts?: EnqueueOptions): Promise<JobWire>;
  /** Enqueues up to 1,000 jobs, all or nothing; returns them in order. */
  enqueueBatch(jobs: NewJobWire[]): Promise<JobWire[]>;
  get(id: string): Promise<JobWire>;
  /** Every job matching the filter, newest first, walking the pages (`limit` is the page size). */
  list(filter?: JobListFilter): AsyncGenerator<JobWire, void, undefined>;
  listPage(filter?: JobListFilter): Promise<JobListWire>;
  cancel(id: string): Promise<CancelResponseWire>;
  retry(id: string): Promise<JobWire>;
  stats(): Promise<StatsWire>;
  kinds(): Promise<KindWire[]>;
  /** Every queue with unfinished jobs or a policy, walking the pages (`limit` is the page size). */
  listQueues(query?: QueueListQueryWire): AsyncGenerator<QueueWire, void, undefined>;
  listQueuesPage(query?: QueueListQueryWire): Promise<QueueListWire>;
  getQueue(name: string): Promise<QueueWire>;
  /** Changes a queue's policy: a field left out stays, null removes a limit (`rate: {limit, period: '1s'}`). */
  setQueue(name: string, policy: SetQueueWire): Promise<QueueWire>;
  pauseQueue(name: string): Promise<QueueWire>;
  resumeQueue(name: string): Promise<QueueWire>;
  /** Creates or replaces a schedule (the body is the whole schedule); `changed: false` when it was already so. */
  setSchedule(name: string, schedule: SetScheduleWire): Promise<ScheduleSavedWire>;
  getSchedule(name: string): Promise<ScheduleWire>;
  /** Every schedule, by name, walking the pages (`limit` is the page size). */
  listSchedules(query?: ScheduleListQueryWire): AsyncGenerator<ScheduleWire, void, undefined>;
  listSchedulesPage(query?: ScheduleListQueryWire): Promise<ScheduleListWire>;
  /** Deletes a schedule; rejects with kind `not_found` when there is none of that name. */
  deleteSchedule(name: string): Promise<void>;
  /** Enqueues the schedule's job now; its ticks stay as they were. */
  triggerSchedule(name: string): Promise<JobWire>;
  /** Workers alive now and those seen within the last hour, with what each runs. */
  workers(): Promise<WorkerListWire>;
  /** Jobs finished per queue in each of the last `minutes` minutes (1..60, default 30), oldest first. */
  throughput(minutes?: number): Promise<ThroughputWire>;
  /** One page of the jobs whose depends_on names job `id`, by id; rejects with `not_found` when there is no such job. */
  children(id: string, query?: ChildrenQueryWire): Promise<ChildListWire>;
  /**
   * Resolves once the job is succeeded, failed_permanent or cancelled (long-polls: the server answers
   * when it finishes); rejects with kind `timeout` after timeoutMs, with `signal.reason` on an abort.
   */
  waitFor(id: string, opts: WaitForOptions): Promise<JobWire>;
  /**
   * Job events as they happen (GET /v1/events), reconnecting by itself with Last-Event-ID: of one job
   * (an id: its state first, and the iteration ends once it has finished), or of those a filter
   * matches (`{queue: 'mail'}`, `{id: [a, b]}`, `{kind, group}`; until aborted or left).
   */
  watch(target: string | WatchFilter, opts?: WatchOptions): AsyncGenerator<WatchEvent, void, undefined>;
}

/** Every item of every page from `cursor` on, following each page's next cursor until it is null. */
async function* walk<T>(cursor: string | undefined, page: (cursor: string | undefined) => Promise<[T[], string | null]>): AsyncGenerator<T, void, undefined> {
  do {
    const [items, next] = await page(cursor);
    yield* items;
    cursor = next ?? undefined;
  } while (cursor !== undefined);
}

export function createClient(options: ClientOptions): JobqClient {
  const h = http(options);
  const call = <T>(method: string, path: string, body?: unknown, extraHeaders?: Record<string, string>) => h.call<T>(method, path, body, extraHeaders);

  const jobPath = (id: string, action = '') => `/v1/jobs/${encodeURIComponent(id)}${action}`;
  const queuePath = (name: string) => `/v1/queues/${encodeURIComponent(name)}`;
  const schedulePath = (name: string, action = '') => `/v1/schedules/${encodeURIComponent(name)}${action}`;

  const client: JobqClient = {
    enqueue: (job, opts = {}) =>
      call<JobWire>('POST', '/v1/jobs', job, opts.idempotencyKey !== undefined ? { 'idempotency-key': opts.idempotencyKey } : {}),
    enqueueBatch: async (jobs) => (await call<BatchResponseWire>('POST', '/v1/jobs/batch', { jobs })).jobs,
    get: (id) => call<JobWire>('GET', jobPath(id)),
    listPage: (filter = {}) => call<JobListWire>('GET', withQuery('/v1/jobs', filter)),
    list: (filter = {}) => walk(filter.cursor, async (cursor) => {
      const page = await client.listPage({ ...filter, cursor });
      return [page.jobs, page.next_cursor];
    }),
    cancel: (id) => call<CancelResponseWire>('POST', jobPath(id, '/cancel')),
    retry: (id) => call<JobWire>('POST', jobPath(id, '/retry')),
    stats: () => call<StatsWire>('GET', '/v1/stats'),
    kinds: () => call<KindWire[]>('GET', '/v1/kinds'),
    listQueuesPage: (query = {}) => call<QueueListWire>('GET', withQuery('/v1/queues', query)),
    listQueues: (query = {}) => walk(query.cursor, async (cursor) => {
      const page = await client.listQueuesPage({ ...query, cursor });
      return [page.queues, page.next_cursor];
    }),
    getQueue: (name) => call<QueueWire>('GET', queuePath(name)),
    setQueue: (name, policy) => call<QueueWire>('PUT', queuePath(name), policy),
    pauseQueue: (name) => call<QueueWire>('PUT', queuePath(name), { paused: true }),
    resumeQueue: (name) => call<QueueWire>('PUT', queuePath(name), { paused: false }),
    setSchedule: (name, schedule) => call<ScheduleSavedWire>('PUT', schedulePath(name), schedule),
    getSchedule: (name) => call<ScheduleWire>('GET', schedulePath(name)),
    listSchedulesPage: (query = {}) => call<ScheduleListWire>('GET', withQuery('/v1/schedules', query)),
    listSchedules: (query = {}) => walk(query.cursor, async (cursor) => {
      const page = await client.listSchedulesPage({ ...query, cursor });
      return [page.schedules, page.next_cursor];
    }),
    deleteSchedule: (name) => call<void>('DELETE', schedulePath(name)),
    triggerSchedule: (name) => call<JobWire>('POST', schedulePath(name, '/trigger')),
    workers: () => call<WorkerListWire>('GET', '/v1/workers'),
    throughput: (minutes) => call<ThroughputWire>('GET', withQuery('/v1/stats/throughput', minutes === undefined ? {} : { minutes })),
    children: (id, query = {}) => call<ChildListWire>('GET', withQuery(jobPath(id, '/children'), query)),
    waitFor: (id, opts) => waitFor(h, id, opts),
    watch: (target, opts) => watch(h, target, opts),
  };
  return client;
}
