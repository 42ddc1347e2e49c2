/** Recurring jobs' types (docs/schedules.md): what a schedule says, and what the queue reports of it. */
import type { JobStatus } from '../statuses.ts';

/**
 * What happens to ticks that came due while no worker ran (found more than ON_TIME_MS late): `skip`
 * fires none of them, `latest` only the most recent, `all` each of them (the latest `catchUpLimit`).
 */
export type CatchUp = 'skip' | 'latest' | 'all';
export const CATCH_UPS: readonly CatchUp[] = ['skip', 'latest', 'all'];

/** Who owns a schedule: `file` ones are added, changed and removed by the reconcile of a schedules file. */
export type ScheduleSource = 'api' | 'file';

/** The job each tick enqueues. */
export interface ScheduleJob {
  kind: string;
  payload?: unknown;
  queue?: string;
  priority?: number;
  /** Default: the kind's. */
  maxAttempts?: number;
  timeoutMs?: number;
}

/** A schedule as it is saved: `name` and exactly one of `cron` and `every`. */
export interface ScheduleDefinition {
  /** 1-128 letters, digits or _ . : -, starting with a letter or digit. */
  name: string;
  /** Five fields, six (seconds first), or a nickname (@yearly @annually @monthly @weekly @daily @midnight @hourly). */
  cron?: string;
  /** A duration ("30s", "5m", src/lib/duration.ts) or whole milliseconds, at least 1 s; ticks are its multiples since the epoch. */
  every?: string | number;
  /** IANA time zone the cron expression reads in. Default UTC. */
  timezone?: string;
  job: ScheduleJob;
  /** Default true. */
  enabled?: boolean;
  /** Default `skip`. */
  catchUp?: CatchUp;
  /** With `all`: at most this many missed ticks fire (the latest), 1..1000. Default 100. */
  catchUpLimit?: number;
}

export interface Schedule {
  name: string;
  cron: string | null;
  every: string | null;
  everyMs: number | null;
  timezone: string;
  job: { kind: string; payload: unknown; queue: string; priority: number; maxAttempts: number | null; timeoutMs: number | null };
  enabled: boolean;
  catchUp: CatchUp;
  catchUpLimit: number;
  source: ScheduleSource;
  /** The next tick to fire; null while disabled (or for a cron that never comes again). */
  nextFireAt: Date | null;
  /** The last tick fired. */
  lastFireAt: Date | null;
  /** The job of the last fire (a tick or a trigger); status null once the job has been pruned. */
  lastJob: { id: string; status: JobStatus | null } | null;
  /** Ticks fired so far. */
  fires: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface SchedulePage {
  schedules: Schedule[];
  /** Pass as `after` for the next page; null on the last. */
  nextAfter: string | null;
}

/** What `Queue.schedules.set` did: `changed` is false when the schedule was saved already exactly so. */
export interface ScheduleSaved {
  schedule: Schedule;
  created: boolean;
  changed: boolean;
}

/** What a reconcile with a schedules file did, by schedule name. */
export interface ScheduleReconciled {
  added: string[];
  changed: string[];
  removed: string[];
  unchanged: string[];
}

/** One tick fired: its job, and how late (fire time minus tick time, by the database's clock). */
export interface ScheduleFire {
  schedule: string;
  tick: Date;
  jobId: string;
  lagMs: number;
  /** Fired by the catch-up policy after an outage (the tick was more than ON_TIME_MS late). */
  catchUp: boolean;
}
