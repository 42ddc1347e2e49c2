/** Schedules (jobq.schedules, migrations/0013; docs/schedules.md): saving, reading and firing them. */
import { SCHEDULES_CHANNEL } from '../channels.ts';
import type { JobStatus } from '../types.ts';
import type { InsertedRow } from './enqueue.ts';
import { insertedRows, insertInput, insertJobs } from './insert-sql.ts';
import { command, type NoParams, NOW, statement } from './statement.ts';

/** A row of jobq.schedules, with its last job's status (null once pruned). */
export interface ScheduleRow {
  name: string;
  cron: string | null;
  every: string | null;
  every_ms: string | null;
  timezone: string;
  kind: string;
  payload: unknown;
  queue: string;
  priority: number;
  max_attempts: number | null;
  timeout_ms: number | null;
  enabled: boolean;
  catch_up: 'skip' | 'latest' | 'all';
  catch_up_limit: number;
  source: 'api' | 'file';
  next_fire_at: Date | null;
  last_fire_at: Date | null;
  last_job_id: string | null;
  last_job_status: JobStatus | null;
  fires: string;
  created_at: Date;
  updated_at: Date;
}

/** The status of a schedule's last job, of either store (a plain scheduled job may be in the log store: QueueOptions.logStore). */
const lastJobStatus = (alias: string) =>
  `coalesce((SELECT j.status::text FROM jobq.jobs j WHERE j.id = ${alias}.last_job_id),
            (SELECT l.status FROM jobq.log_job(${alias}.last_job_id) l WHERE ${alias}.last_job_id IS NOT NULL AND l.status <> 'moved')) AS last_job_status`;

/**
 * A file's schedule stays the file's when saved through the API (a disable by an operator, say): the
 * file's next reconcile makes it what the file says again, or removes it. A file takes a schedule
 * saved through the API when it lists its name.
 */
const SOURCE = `CASE WHEN EXCLUDED.source = 'file' THEN 'file' ELSE s.source END`;

/** What a schedule is saved as (the caller checked it); `nextFireAt` is its first tick after now, or null. */
export interface SaveParams {
  name: string;
  cron: string | null;
  every: string | null;
  everyMs: number | null;
  timezone: string;
  kind: string;
  payload: string;
  queue: string;
  priority: number;
  maxAttempts: number | null;
  timeoutMs: number | null;
  enabled: boolean;
  catchUp: string;
  catchUpLimit: number;
  source: string;
  nextFireAt: Date | null;
  now: Date | null;
}

/**
 * Creates or replaces a schedule, and tells every worker's scheduler (SCHEDULES_CHANNEL, at commit).
 * A schedule saved already exactly so is left alone: no row comes back. Its next tick stays while its
 * timing (cron, interval, time zone) and `enabled` stay, so that an edit of the job takes effect at the
 * tick already planned; otherwise it becomes `nextFireAt` (the next tick after now; disabled: none).
 */
export const saveSchedule = statement<SaveParams, ScheduleRow & { created: boolean }>(
  'save_schedule',
  `WITH saved AS (
     INSERT INTO jobq.schedules AS s (name, cron, every, every_ms, timezone, kind, payload, queue, priority, max_attempts,
                                      timeout_ms, enabled, catch_up, catch_up_limit, source, next_fire_at, created_at, updated_at)
     VALUES (:name, :cron, :every, :everyMs::bigint, :timezone, :kind, :payload::jsonb, :queue, :priority::integer, :maxAttempts::integer,
             :timeoutMs::integer, :enabled::boolean, :catchUp, :catchUpLimit::integer, :source, :nextFireAt::timestamptz, ${NOW}, ${NOW})
     ON CONFLICT (name) DO UPDATE SET
       cron = EXCLUDED.cron, every = EXCLUDED.every, every_ms = EXCLUDED.every_ms, timezone = EXCLUDED.timezone,
       kind = EXCLUDED.kind, payload = EXCLUDED.payload, queue = EXCLUDED.queue, priority = EXCLUDED.priority,
       max_attempts = EXCLUDED.max_attempts, timeout_ms = EXCLUDED.timeout_ms, enabled = EXCLUDED.enabled,
       catch_up = EXCLUDED.catch_up, catch_up_limit = EXCLUDED.catch_up_limit, source = ${SOURCE},
       next_fire_at = CASE
         WHEN s.enabled = EXCLUDED.enabled AND s.cron IS NOT DISTINCT FROM EXCLUDED.cron
              AND s.every_ms IS NOT DISTINCT FROM EXCLUDED.every_ms AND s.timezone = EXCLUDED.timezone THEN s.next_fire_at
         ELSE EXCLUDED.next_fire_at END,
       updated_at = ${NOW}
     WHERE (s.cron, s.every, s.every_ms, s.timezone, s.kind, s.payload, s.queue, s.priority, s.max_attempts, s.timeout_ms,
            s.enabled, s.catch_up, s.catch_up_limit, s.source)
           IS DISTINCT FROM
           (EXCLUDED.cron, EXCLUDED.every, EXCLUDED.every_ms, EXCLUDED.timezone, EXCLUDED.kind, EXCLUDED.payload, EXCLUDED.queue,
            EXCLUDED.priority, EXCLUDED.max_attempts, EXCLUDED.timeout_ms, EXCLUDED.enabled, EXCLUDED.catch_up,
            EXCLUDED.catch_up_limit, ${SOURCE})
     RETURNING s.*, (xmax = 0) AS created
   )
   SELECT saved.*, ${lastJobStatus('saved')} FROM saved
   LEFT JOIN LATERAL (SELECT pg_notify('${SCHEDULES_CHANNEL}', saved.name)) n ON true`,
);

export const getSchedule = statement<{ name: string }, ScheduleRow>(
  'get_schedule',
  `SELECT s.*, ${lastJobStatus('s')} FROM jobq.schedules s WHERE s.name = :name`,
);

/** Schedules by name after `after`, `limit` of them. */
export const listSchedules = statement<{ after: string | null; limit: number }, ScheduleRow>(
  'list_schedules',
  `SELECT s.*, ${lastJobStatus('s')} FROM jobq.schedules s
    WHERE :after::text IS NULL OR s.name > :after::text ORDER BY s.name LIMIT :limit::integer`,
);

/** How many schedules there are, and how many of them are enabled (the metrics' gauge, read at scrape time). */
export const countSchedules = statement<NoParams, { total: number; enabled: number }>(
  'count_schedules',
  `SELECT count(*)::int AS total, (count(*) FILTER (WHERE enabled))::int AS enabled FROM jobq.schedules`,
);

/** Deletes a schedule (its jobs stay) and tells the schedulers. */
export const deleteSchedule = command<{ name: string }>(
  'delete_schedule',
  `WITH d AS (DELETE FROM jobq.schedules WHERE name = :name RETURNING name)
   SELECT pg_notify('${SCHEDULES_CHANNEL}', name) FROM d`,
);

/** Deletes the file's schedules not in `keep`; returns their names. */
export const deleteFileSchedules = statement<{ keep: string[] }, { name: string }>(
  'delete_file_schedules',
  `WITH d AS (DELETE FROM jobq.schedules WHERE source = 'file' AND name <> ALL(:keep::text[]) RETURNING name)
   SELECT name FROM d, LATERAL (SELECT pg_notify('${SCHEDULES_CHANNEL}', d.name)) n`,
);

/** The job of a trigger becomes the schedule's last job. */
export const setLastJob = command<{ name: string; jobId: string }>(
  'set_schedule_last_job',
  `UPDATE jobq.schedules SET last_job_id = :jobId::uuid WHERE name = :name`,
);

/**
 * The next `limit` schedules to come due, soonest first, with the database's time: those whose next
 * tick has passed are due; the first that is not says how long the scheduler may sleep. A few rows
 * of schedules_due_idx, whatever the number of schedules.
 */
export const upcomingSchedules = statement<{ limit: number; now: Date | null }, ScheduleRow & { db_now: Date }>(
  'upcoming_schedules',
  `SELECT s.*, NULL::text AS last_job_status, ${NOW} AS db_now FROM jobq.schedules s
    WHERE s.next_fire_at IS NOT NULL ORDER BY s.next_fire_at LIMIT :limit::integer`,
);

export interface FireParams {
  name: string;
  /** The tick the firer read as next_fire_at: the fire happens only if it is still there. */
  expected: Date;
  /** The jobs to insert, one per tick fired (rows.ts InsertRow, JSON); may be empty (ticks skipped). */
  input: string;
  /** The schedule's next tick after this fire (null: none). */
  next: Date | null;
  /** The latest tick fired (null: none fired, ticks skipped). */
  lastTick: Date | null;
  /** The job of `lastTick`. */
  lastJobId: string | null;
  count: number;
  now: Date | null;
}

/**
 * Fires ticks of a schedule, exactly once: it locks the schedule's row only while next_fire_at is still
 * the tick the firer read (a second firer waits for the first, then finds it moved and does nothing),
 * inserts the ticks' jobs (their idempotency keys make a tick unable to have two jobs even across an
 * edit) and moves next_fire_at on, in one statement. Returns one row per job inserted, or one row with
 * a null id; `won` says whether this firer fired.
 */
export const fireTicks = statement<FireParams, Partial<InsertedRow> & { won: boolean }>(
  'fire_ticks',
  `WITH s AS (
     SELECT name FROM jobq.schedules WHERE name = :name AND next_fire_at = :expected::timestamptz AND enabled FOR UPDATE
   ), input AS (
     SELECT * FROM (${insertInput(':input')}) i WHERE EXISTS (SELECT FROM s)
   ), ins AS (${insertJobs('input')}),
   inserted AS (${insertedRows('ins', 'true')}),
   moved AS (
     UPDATE jobq.schedules t SET next_fire_at = :next::timestamptz,
            last_fire_at = coalesce(:lastTick::timestamptz, t.last_fire_at),
            last_job_id = CASE WHEN EXISTS (SELECT FROM ins WHERE ins.id = :lastJobId::uuid) THEN :lastJobId::uuid ELSE t.last_job_id END,
            fires = t.fires + :count::integer
       FROM s WHERE t.name = s.name
     RETURNING t.name
   )
   SELECT EXISTS (SELECT FROM moved) AS won, inserted.* FROM (SELECT) one LEFT JOIN inserted ON true`,
);
