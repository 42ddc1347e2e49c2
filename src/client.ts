/**
 * A typed client of the jobq HTTP API, on the global `fetch` (or one you pass). Its inputs and outputs
 * are the wire types (snake_case, timestamps as strings), the same TypeBox schemas the server validates
 * and serialises with. Every failure is a JobqClientError: `status` is the HTTP status (0 when there was
 * no answer), `kind` the API's error kind, or `network_error`, `invalid_response`, `timeout`.
 */
import type { ErrorBodyWire, ErrorDetailWire } from './api/schemas/errors.ts';
import type { JobWire } from './api/schemas/job.ts';
import type { ListQueryWire, NewJobWire } from './api/schemas/requests.ts';
import type { QueueListQueryWire, QueueListWire, QueueWire, SetQueueWire } from './api/schemas/queues.ts';
import type { ScheduleListQueryWire, ScheduleListWire, ScheduleSavedWire, ScheduleWire, SetScheduleWire } from './api/schemas/schedules.ts';
import type { BatchResponseWire, CancelResponseWire, JobListWire, KindWire, StatsWire } from './api/schemas/responses.ts';
import type { ErrorKind } from './errors.ts';
import { isTerminal, type JobStatus } from './statuses.ts';

export type { AttemptErrorWire, JobProgressWire, JobWire } from './api/schemas/job.ts';
/** A job's `on_parent_failure` (`NewJobWire.depends_on`: docs/flows.md). */
export type { OnParentFailure } from './limits.ts';
export type { ErrorBodyWire, ErrorDetailWire, JobListWire, KindWire, NewJobWire, StatsWire, CancelResponseWire, JobStatus };
export type { QueueListQueryWire, QueueListWire, QueueWire, SetQueueWire };
export type { ScheduleListQueryWire, ScheduleListWire, ScheduleSavedWire, ScheduleWire, SetScheduleWire };

export type JobListFilter = ListQueryWire;
export type ClientErrorKind = ErrorKind | 'network_error' | 'invalid_response' | 'timeout';

export interface ClientOptions {
  /** Where the API is, e.g. `http://127.0.0.1:8080` (a path prefix is kept). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Default: the global fetch. */
  fetch?: typeof globalThis.fetch;
  /** A request with no complete answer this long after it began fails with kind `network_error`. Default: no limit. */
  timeoutMs?: number;
}

export interface EnqueueOptions {
  /** Sent as the Idempotency-Key header. */
  idempotencyKey?: string;
}

export interface WaitForOptions {
  /** Give up (reject with kind `timeout`) after this long. */
  timeoutMs: number;
  /** Pause between polls. Default 250 ms. */
  intervalMs?: number;
  signal?: AbortSignal;
}

export class JobqClientError extends Error {
  override readonly name = 'JobqClientError';

  constructor(
    /** HTTP status; 0 when no response arrived (network error, timeout of waitFor). */
    readonly status: number,
    readonly kind: ClientErrorKind,
    message: string,
    readonly details?: ErrorDetailWire[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
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
  /** Polls the job until it is succeeded, failed_permanent or cancelled; rejects with kind `timeout` after timeoutMs. */
  waitFor(id: string, opts: WaitForOptions): Promise<JobWire>;
}

// Not node:timers/promises: this module must also run in browsers and edge runtimes.
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Why a fetch failed: fetch's own message is a bare "fetch failed"; its cause says ECONNREFUSED or ENOTFOUND. */
function reasonOf(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.message === 'string' && cause.message !== '') return `${(err as Error).message} (${cause.message})`;
  if (typeof cause?.code === 'string') return `${(err as Error).message} (${cause.code})`;
  return (err as Error)?.message ?? String(err);
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
  const base = options.baseUrl.replace(/\/+$/, '');
  const fetchFn = options.fetch ?? globalThis.fetch;

  /** One request; its JSON answer (undefined for a 204, which has none). */
  async function call<T>(method: string, path: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...extraHeaders };
    if (options.apiKey !== undefined) headers.authorization = `Bearer ${options.apiKey}`;
    const init: RequestInit = { method, headers };
    if (options.timeoutMs !== undefined) init.signal = AbortSignal.timeout(options.timeoutMs);
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let status = 0;
    let text: string;
    try {
      const res = await fetchFn(`${base}${path}`, init);
      status = res.status;
      text = await res.text();
    } catch (err) {
      const why = (err as Error)?.name === 'TimeoutError' ? `no answer within ${options.timeoutMs} ms` : reasonOf(err);
      throw new JobqClientError(status, 'network_error', `${method} ${path} failed: ${why}`, undefined, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (status < 200 || status > 299) {
      const e = (parsed as Partial<ErrorBodyWire> | undefined)?.error;
      if (e && typeof e.kind === 'string' && typeof e.message === 'string') {
        throw new JobqClientError(status, e.kind, e.message, Array.isArray(e.details) ? e.details : undefined);
      }
      throw new JobqClientError(status, 'invalid_response', `${method} ${path} answered HTTP ${status} without an error body`);
    }
    if (status === 204) return undefined as T;
    if (parsed === undefined) throw new JobqClientError(status, 'invalid_response', `${method} ${path} answered HTTP ${status} without a JSON body`);
    return parsed as T;
  }

  const jobPath = (id: string, action = '') => `/v1/jobs/${encodeURIComponent(id)}${action}`;
  const queuePath = (name: string) => `/v1/queues/${encodeURIComponent(name)}`;
  const schedulePath = (name: string, action = '') => `/v1/schedules/${encodeURIComponent(name)}${action}`;
  const withQuery = (path: string, query: Record<string, unknown>) => {
    const q = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) if (value !== undefined) q.set(key, String(value));
    const qs = q.toString();
    return qs ? `${path}?${qs}` : path;
  };

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
    async waitFor(id, { timeoutMs, intervalMs = 250, signal }) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const job = await client.get(id);
        if (isTerminal(job.status)) return job;
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new JobqClientError(0, 'timeout', `job ${id} is still ${job.status} after ${timeoutMs} ms`, [
            { path: '/status', message: `is ${job.status}` },
          ]);
        }
        await sleep(Math.min(intervalMs, left), signal);
      }
    },
  };
  return client;
}
