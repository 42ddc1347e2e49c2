/**
 * Prometheus metrics. The queue, the worker and the API emit typed events; this module subscribes to
 * them and is the only code that calls prom-client. Gauges of the table's contents are read at scrape
 * time with one cheap query, cached for a second so that many scrapers do not load the database.
 * Labels come from bounded sets only: kind (registered), queue (bounded by BoundedLabels: known queues
 * and the first few others keep their name, the rest count under `(other)`), outcome, status, method,
 * route template, schedule (bounded the same way, src/metrics/schedules.ts).
 *
 * jobq_jobs_finished_total counts each attempt's outcome once. Cancellations are counted from the
 * queue's `cancelled` event, wherever they happen (an API cancel of a waiting job has no worker; a
 * release or recovery may end a job cancelled), and never from the worker's `job:finish`.
 */
import type { EventEmitter } from 'node:events';
import client from 'prom-client';
import { cached } from '../lib/cached.ts';
import type { Queue } from '../queue/index.ts';
import { JOB_STATUSES, type QueueStats, type StatusCounts } from '../queue/types.ts';
import type { Worker } from '../worker/worker.ts';
import { eventMetrics } from './events.ts';
import { BoundedLabels, DEFAULT_MAX_LABELS } from './labels.ts';
import { scheduleMetrics } from './schedules.ts';

export interface ApiEvents {
  request: [{ method: string; route: string; statusCode: number; durationMs: number }];
}

export interface MetricsOptions {
  queue: Queue;
  worker?: Worker;
  api?: EventEmitter<ApiEvents>;
  /** How long a read of the table's counts is reused. Default 1000 ms. */
  statsCacheMs?: number;
  /** Node.js process metrics (event loop lag, heap, GC). Default true. */
  processMetrics?: boolean;
  /** Queues that always keep their own label (besides `default`). */
  knownQueues?: string[];
  /** How many other queue names get a label of their own; later ones count as `(other)`. Default 100. */
  maxQueueLabels?: number;
  /** How many schedule names get a label of their own; later ones count as `(other)`. Default 100. */
  maxScheduleLabels?: number;
}

export interface Metrics {
  registry: client.Registry;
  contentType: string;
  render(): Promise<string>;
}

const FINISH_OUTCOMES = new Set(['succeeded', 'retried', 'failed_permanent', 'cancelled', 'timed_out']);
const RUN_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800];
const WAIT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

export function createMetrics(opts: MetricsOptions): Metrics {
  const registry = new client.Registry();
  if (opts.processMetrics !== false) client.collectDefaultMetrics({ register: registry, prefix: 'jobq_' });
  const registers = [registry];
  const queues = new BoundedLabels(['default', ...(opts.knownQueues ?? [])], opts.maxQueueLabels ?? DEFAULT_MAX_LABELS);

  const enqueued = new client.Counter({ name: 'jobq_jobs_enqueued_total', help: 'Jobs created by enqueue.', labelNames: ['kind', 'queue'], registers });
  const replays = new client.Counter({ name: 'jobq_jobs_idempotent_replays_total', help: 'Enqueues answered with an existing job of the same idempotency key.', labelNames: ['kind'], registers });
  const existing = new client.Counter({ name: 'jobq_jobs_singleton_existing_total', help: 'Enqueues answered with the unfinished job of the same singleton key.', labelNames: ['kind'], registers });
  const debounced = new client.Counter({ name: 'jobq_jobs_debounced_total', help: 'Enqueues that rewrote the waiting job of the same debounce key.', labelNames: ['kind'], registers });
  opts.queue.events.on('enqueued', ({ job, outcome }) => {
    if (outcome === 'created') enqueued.inc({ kind: job.kind, queue: queues.of(job.queue) });
    else if (outcome === 'idempotent_replay') replays.inc({ kind: job.kind });
    else if (outcome === 'singleton_existing') existing.inc({ kind: job.kind });
    else debounced.inc({ kind: job.kind });
  });
  const finished = new client.Counter({ name: 'jobq_jobs_finished_total', help: 'Job attempts finished, by outcome (cancelled: every job cancelled, wherever).', labelNames: ['kind', 'queue', 'outcome'], registers });
  opts.queue.events.on('cancelled', ({ jobs }) => {
    for (const job of jobs) finished.inc({ kind: job.kind, queue: queues.of(job.queue), outcome: 'cancelled' });
  });
  const recovered = new client.Counter({ name: 'jobq_stale_jobs_recovered_total', help: 'Running jobs whose worker was lost (lease expired), given another run or failed.', registers });
  opts.queue.events.on('recovered', ({ jobs }) => recovered.inc(jobs.length));
  const pruned = new client.Counter({ name: 'jobq_jobs_pruned_total', help: 'Finished jobs deleted after their retention period.', registers });
  opts.queue.events.on('pruned', ({ count }) => pruned.inc(count));

  scheduleMetrics(opts.queue, registers, opts.maxScheduleLabels ?? DEFAULT_MAX_LABELS, opts.statsCacheMs ?? 1_000);
  eventMetrics(opts.queue, registers);
  if (opts.worker) subscribeWorker(opts.worker, registers, finished, queues);
  if (opts.api) subscribeApi(opts.api, registers);

  // What is kept between scrapes is already folded into bounded labels: a table of 100,000 queues
  // must not leave a 100,000-entry stats object alive in the cache.
  const tables = cached(async () => foldByLabel(await opts.queue.stats(), queues), opts.statsCacheMs ?? 1_000);
  new client.Gauge({
    name: 'jobq_jobs',
    help: 'Jobs in the table by queue and status, read at scrape time.',
    labelNames: ['queue', 'status'],
    registers,
    async collect() {
      const t = await tables().catch(() => undefined);
      if (!t) return; // database unreachable: keep the last values rather than fail the scrape
      this.reset();
      for (const [queue, counts] of t.counts) {
        for (const status of JOB_STATUSES) this.set({ queue, status }, counts[status]);
      }
    },
  });
  new client.Gauge({
    name: 'jobq_oldest_runnable_job_age_seconds',
    help: 'Seconds since the oldest runnable job of the queue became runnable (0: none waits).',
    labelNames: ['queue'],
    registers,
    async collect() {
      const t = await tables().catch(() => undefined);
      if (!t) return;
      this.reset();
      for (const [queue, age] of t.oldest) this.set({ queue }, age);
    },
  });

  policyGauges(opts, registers, queues);

  return { registry, contentType: registry.contentType, render: () => registry.metrics() };
}

/**
 * Queue policies (jobq.queues), read at scrape time like the table's counts: whether a queue is paused,
 * and each limit it has (a rate as starts per second: limit ÷ period). A removed limit's series goes.
 */
function policyGauges(opts: MetricsOptions, registers: client.Registry[], queues: BoundedLabels): void {
  const policies = cached(async () => (await opts.queue.flowQueues()).filter((q) => q.policy !== null), opts.statsCacheMs ?? 1_000);
  new client.Gauge({
    name: 'jobq_queue_paused',
    help: 'Whether a queue with a policy is paused (1) or not (0).',
    labelNames: ['queue'],
    registers,
    async collect() {
      const rows = await policies().catch(() => undefined);
      if (!rows) return;
      this.reset();
      for (const q of rows) this.set({ queue: queues.of(q.name) }, q.policy!.paused ? 1 : 0);
    },
  });
  new client.Gauge({
    name: 'jobq_queue_limit',
    help: 'A queue\'s limits: concurrency (running jobs, fleet-wide), rate (starts per second), group (running jobs per group).',
    labelNames: ['queue', 'kind'],
    registers,
    async collect() {
      const rows = await policies().catch(() => undefined);
      if (!rows) return;
      this.reset();
      for (const { name, policy } of rows) {
        const queue = queues.of(name);
        if (policy!.concurrency !== null) this.set({ queue, kind: 'concurrency' }, policy!.concurrency);
        if (policy!.rate !== null) this.set({ queue, kind: 'rate' }, policy!.rate.limit / (policy!.rate.periodMs / 1000));
        if (policy!.groupConcurrency !== null) this.set({ queue, kind: 'group' }, policy!.groupConcurrency);
      }
    },
  });
}

function subscribeWorker(worker: Worker, registers: client.Registry[], finished: client.Counter, queues: BoundedLabels): void {
  const run = new client.Histogram({ name: 'jobq_job_run_seconds', help: 'Handler run time per attempt.', labelNames: ['kind', 'outcome'], buckets: RUN_BUCKETS, registers });
  const wait = new client.Histogram({ name: 'jobq_job_wait_seconds', help: 'Time from run_at to claim: how long a runnable job waited for a worker.', labelNames: ['kind', 'queue'], buckets: WAIT_BUCKETS, registers });
  const batch = new client.Histogram({ name: 'jobq_claim_batch_size', help: 'Jobs taken per non-empty claim.', buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500], registers });
  const reconnects = new client.Counter({ name: 'jobq_listener_reconnects_total', help: 'Reconnections of the LISTEN connection after it was lost.', registers });
  const throttled = new client.Counter({
    name: 'jobq_jobs_throttled_total',
    help: 'Runnable jobs a claim left waiting because of a queue policy (reason: paused, concurrency, rate, group), at most the room the claim had.',
    labelNames: ['queue', 'reason'],
    registers,
  });
  worker.events.on('throttled', ({ queue, reason, jobs }) => throttled.inc({ queue: queues.of(queue), reason }, jobs));
  new client.Gauge({
    name: 'jobq_worker_slots',
    help: 'Worker slots by state.',
    labelNames: ['state'],
    registers,
    collect() {
      this.set({ state: 'busy' }, worker.busy);
      this.set({ state: 'free' }, Math.max(0, worker.concurrency - worker.busy));
    },
  });
  worker.events.on('job:start', ({ job, waitMs }) => wait.observe({ kind: job.kind, queue: queues.of(job.queue) }, waitMs / 1000));
  worker.events.on('job:finish', ({ job, outcome, durationMs }) => {
    if (!FINISH_OUTCOMES.has(outcome)) return; // released (shutdown) and lost are not outcomes of the job
    // A cancellation is counted from the queue's `cancelled` event, which sees every one exactly once.
    if (outcome !== 'cancelled') finished.inc({ kind: job.kind, queue: queues.of(job.queue), outcome });
    run.observe({ kind: job.kind, outcome }, durationMs / 1000);
  });
  worker.events.on('claim', ({ claimed }) => {
    if (claimed > 0) batch.observe(claimed);
  });
  worker.events.on('listener:reconnect', () => reconnects.inc());
}

function subscribeApi(api: EventEmitter<ApiEvents>, registers: client.Registry[]): void {
  const requests = new client.Counter({ name: 'jobq_http_requests_total', help: 'HTTP requests by route template and status.', labelNames: ['method', 'route', 'status'], registers });
  const duration = new client.Histogram({
    name: 'jobq_http_request_duration_seconds',
    help: 'HTTP request duration by route template.',
    labelNames: ['method', 'route'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  api.on('request', ({ method, route, statusCode, durationMs }) => {
    requests.inc({ method, route, status: String(statusCode) });
    duration.observe({ method, route }, durationMs / 1000);
  });
}

/** The table's counts and ages per queue label: counts of queues sharing a label add up, ages take the oldest. */
function foldByLabel(stats: QueueStats, queues: BoundedLabels): { counts: Map<string, StatusCounts>; oldest: Map<string, number> } {
  const counts = new Map<string, StatusCounts>();
  for (const [queue, c] of Object.entries(stats.byQueue)) {
    const label = queues.of(queue);
    const into = counts.get(label);
    if (!into) counts.set(label, { ...c });
    else for (const status of JOB_STATUSES) into[status] += c[status];
  }
  const oldest = new Map<string, number>();
  for (const [queue, age] of Object.entries(stats.oldestRunnableAgeSecondsByQueue)) {
    const label = queues.of(queue);
    oldest.set(label, Math.max(age, oldest.get(label) ?? 0));
  }
  return { counts, oldest };
}
