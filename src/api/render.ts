/** The queue's camelCase model → the API's snake_case wire shapes. */
import type { RegisteredKind } from '../kinds/registry.ts';
import type { CancelOutcome, ChildPage, Job, JobPage, QueueInfo, QueueStats, Schedule, Throughput, WorkerInfo } from '../queue/index.ts';
import type { ChildListWire, ThroughputWire, WorkerListWire } from './schemas/insights.ts';
import type { JobWire } from './schemas/job.ts';
import type { QueueWire } from './schemas/queues.ts';
import type { ScheduleWire } from './schemas/schedules.ts';
import type { CancelResponseWire, JobListWire, KindWire, StatsWire } from './schemas/responses.ts';

const iso = (d: Date): string => d.toISOString();
const isoOrNull = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** A timestamp the database rendered inside JSON (any offset) as toISOString's UTC form. */
function normaliseTimestamp(text: string): string {
  const d = new Date(text);
  return Number.isFinite(d.getTime()) ? d.toISOString() : text;
}

export function renderJob(job: Job): JobWire {
  return {
    id: job.id,
    queue: job.queue,
    kind: job.kind,
    payload: job.payload ?? null,
    status: job.status,
    priority: job.priority,
    attempts: job.attempts,
    max_attempts: job.maxAttempts,
    run_at: iso(job.runAt),
    locked_by: job.lockedBy,
    locked_at: isoOrNull(job.lockedAt),
    cancel_requested: job.cancelRequested,
    idempotency_key: job.idempotencyKey,
    group: job.group,
    singleton_key: job.singletonKey,
    debounce_key: job.debounceKey,
    depends_on: job.dependsOn,
    on_parent_failure: job.onParentFailure,
    last_error: job.lastError,
    result: job.result ?? null,
    created_at: iso(job.createdAt),
    updated_at: iso(job.updatedAt),
    started_at: isoOrNull(job.startedAt),
    finished_at: isoOrNull(job.finishedAt),
    timeout_ms: job.timeoutMs,
    errors: (job.errors ?? []).map((e) => ({ at: normaliseTimestamp(e.at), attempt: e.attempt, error: e.error })),
    progress: job.progress ?? null,
  };
}

export function renderPage(page: JobPage): JobListWire {
  return { jobs: page.jobs.map(renderJob), next_cursor: page.nextCursor };
}

export function renderCancel(outcome: CancelOutcome): CancelResponseWire {
  return { outcome: outcome.outcome, job: renderJob(outcome.job) };
}

export function renderStats(stats: QueueStats): StatsWire {
  return {
    by_status: stats.byStatus,
    by_kind: stats.byKind,
    by_queue: stats.byQueue,
    oldest_runnable_age_seconds: stats.oldestRunnableAgeSeconds,
  };
}

export function renderKind(kind: RegisteredKind): KindWire {
  return {
    name: kind.name,
    description: kind.description ?? null,
    // A plain JSON copy: TypeBox schemas carry symbol keys that mean nothing on the wire.
    payload_schema: JSON.parse(JSON.stringify(kind.payloadSchema)) as unknown,
    default_max_attempts: kind.defaultMaxAttempts,
    timeout_ms: kind.timeoutMs,
  };
}

export function renderQueue(q: QueueInfo): QueueWire {
  return {
    name: q.name,
    paused: q.paused,
    concurrency: q.concurrency,
    rate: q.rate && { limit: q.rate.limit, period_ms: q.rate.periodMs },
    group_concurrency: q.groupConcurrency,
    depth: q.depth,
    running: q.running,
    oldest_waiting_age_seconds: q.oldestWaitingAgeSeconds,
    updated_at: isoOrNull(q.updatedAt),
  };
}

export function renderSchedule(s: Schedule): ScheduleWire {
  return {
    name: s.name,
    cron: s.cron,
    every: s.every,
    every_ms: s.everyMs,
    timezone: s.timezone,
    job: {
      kind: s.job.kind,
      payload: s.job.payload ?? null,
      queue: s.job.queue,
      priority: s.job.priority,
      max_attempts: s.job.maxAttempts,
      timeout_ms: s.job.timeoutMs,
    },
    enabled: s.enabled,
    catch_up: s.catchUp,
    catch_up_limit: s.catchUpLimit,
    source: s.source,
    next_fire_at: isoOrNull(s.nextFireAt),
    last_fire_at: isoOrNull(s.lastFireAt),
    last_job: s.lastJob && { id: s.lastJob.id, status: s.lastJob.status },
    fires: s.fires,
    created_at: iso(s.createdAt),
    updated_at: iso(s.updatedAt),
  };
}

export function renderWorkers(workers: WorkerInfo[]): WorkerListWire {
  return {
    workers: workers.map((w) => ({
      id: w.id, alive: w.alive, concurrency: w.concurrency, queues: w.queues, running: w.running, started_at: isoOrNull(w.startedAt), last_seen_at: w.lastSeenAt.toISOString(),
    })),
  };
}

export function renderThroughput(t: Throughput): ThroughputWire {
  return { minutes: t.minutes, until: t.until.toISOString(), queues: t.queues };
}

export function renderChildren(page: ChildPage): ChildListWire {
  return {
    jobs: page.jobs.map((c) => ({ id: c.id, queue: c.queue, kind: c.kind, status: c.status, created_at: c.createdAt.toISOString(), finished_at: isoOrNull(c.finishedAt) })),
    next_cursor: page.nextCursor,
  };
}
