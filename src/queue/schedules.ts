/**
 * Recurring jobs (docs/schedules.md): saving schedules, reading them, and firing their ticks. A tick
 * fires exactly once however many workers try (statements/schedules.ts fireTicks); what a schedule
 * says is checked when it is saved, never when it fires.
 */
import { type ErrorDetail, isJobqError, JobqError } from '../errors.ts';
import { formatDuration, parseDuration } from '../lib/duration.ts';
import { CATCH_UP_LIMIT, DEFAULT_QUEUE, SCHEDULE_EVERY_MS as EVERY_MS, SCHEDULE_NAME, SCHEDULE_PAGE_SIZE } from '../limits.ts';
import { checkout } from './checkout.ts';
import type { QueueContext } from './context.ts';
import { cronProblem, nextTick, type Timing, timezoneProblem } from './cron.ts';
import type { InsertRow } from './rows.ts';
import { CATCH_UPS, type Schedule, type ScheduleDefinition, type SchedulePage, type ScheduleReconciled, type ScheduleSaved, type ScheduleSource } from './schedule-types.ts';
import * as SQL from './statements/schedules.ts';
import type { KindRegistry } from '../kinds/registry.ts';
import type { EnqueueResult, NewJob, WriteOptions } from './types.ts';
import { prepareInsert } from './validate.ts';

const NAME_RE = new RegExp(SCHEDULE_NAME.pattern);
/** The key of the transaction lock that serialises reconciles of schedules files ("jsch"). */
const RECONCILE_LOCK_KEY = 0x6a736368;

/** A definition checked and put as the row is stored. */
type Checked = Omit<SQL.SaveParams, 'source' | 'nextFireAt' | 'now'>;

/**
 * Checks a definition: every problem at once, each with its path (`/cron`, `/job/payload/to`). The job
 * template goes through the same checks as an enqueued job, so a schedule cannot save what would fail
 * when it fires.
 */
export function checkDefinition(def: ScheduleDefinition, kinds: KindRegistry): Checked {
  if (def === null || typeof def !== 'object') throw invalid([{ path: '/', message: 'must be an object' }]);
  const problems: ErrorDetail[] = [];
  const problem = (path: string, message: string) => problems.push({ path, message });
  if (typeof def.name !== 'string' || !NAME_RE.test(def.name)) problem('/name', `must be ${SCHEDULE_NAME.description}`);
  const timezone = def.timezone ?? 'UTC';
  if (typeof timezone !== 'string' || timezoneProblem(timezone)) problem('/timezone', timezoneProblem(String(timezone)) ?? 'must be a string');
  let cron: string | null = null;
  let everyMs: number | null = null;
  if ((def.cron === undefined) === (def.every === undefined)) problem(def.cron === undefined ? '/cron' : '/every', 'give exactly one of cron and every');
  else if (def.cron !== undefined) {
    const why = typeof def.cron !== 'string' ? 'must be a string' : cronProblem(def.cron, problems.some((p) => p.path === '/timezone') ? 'UTC' : timezone);
    if (why) problem('/cron', why);
    else cron = def.cron.trim();
  } else {
    everyMs = everyOf(def.every);
    if (everyMs === null) problem('/every', `must be a duration ("30s", "5m", "1h") or whole milliseconds, from 1s to 366d`);
  }
  if (def.enabled !== undefined && typeof def.enabled !== 'boolean') problem('/enabled', 'must be true or false');
  const catchUp = def.catchUp ?? 'skip';
  if (!CATCH_UPS.includes(catchUp)) problem('/catch_up', `must be one of ${CATCH_UPS.join(', ')}`);
  const catchUpLimit = def.catchUpLimit ?? CATCH_UP_LIMIT.default;
  if (!Number.isInteger(catchUpLimit) || catchUpLimit < CATCH_UP_LIMIT.min || catchUpLimit > CATCH_UP_LIMIT.max) {
    problem('/catch_up_limit', `must be an integer from ${CATCH_UP_LIMIT.min} to ${CATCH_UP_LIMIT.max}`);
  }
  const job = def.job;
  let row: InsertRow | undefined;
  if (job === null || typeof job !== 'object') problem('/job', 'must be an object with a kind');
  else {
    try {
      row = prepareInsert({ kind: job.kind, payload: job.payload, queue: job.queue, priority: job.priority, maxAttempts: job.maxAttempts, timeoutMs: job.timeoutMs }, 0, '', kinds);
    } catch (err) {
      if (!isJobqError(err) || err.kind === 'internal') throw err;
      if (err.kind !== 'validation_failed' && problems.length === 0) {
        // unknown_kind, payload_invalid: their own kinds, with the paths under /job
        throw new JobqError(err.kind, `invalid schedule: job ${err.message}`, underJob(err.details));
      }
      problems.push(...underJob(err.details));
    }
  }
  if (problems.length > 0 || !row) throw invalid(problems);
  return {
    name: def.name,
    cron,
    every: everyMs === null ? null : formatDuration(everyMs),
    everyMs,
    timezone,
    kind: row.kind,
    payload: JSON.stringify(job.payload ?? null),
    queue: job.queue ?? DEFAULT_QUEUE,
    priority: row.priority,
    maxAttempts: job.maxAttempts ?? null,
    timeoutMs: row.timeout_ms,
    enabled: def.enabled ?? true,
    catchUp,
    catchUpLimit,
  };
}

function everyOf(every: unknown): number | null {
  let value: number | undefined;
  if (typeof every === 'number') value = every;
  else if (typeof every === 'string') {
    try {
      value = parseDuration(every);
    } catch {
      return null;
    }
  }
  return value !== undefined && Number.isInteger(value) && value >= EVERY_MS.min && value <= EVERY_MS.max ? value : null;
}

const underJob = (details: ErrorDetail[] = []): ErrorDetail[] => details.map(({ index: _i, ...d }) => ({ ...d, path: `/job${d.path === '/' ? '' : d.path}` }));

function invalid(problems: ErrorDetail[]): JobqError {
  const first = problems[0] ?? { path: '/', message: 'is invalid' };
  return new JobqError('validation_failed', `invalid schedule: ${first.path.slice(1)} ${first.message}`, problems);
}

const timingOf = (c: { cron: string | null; everyMs: number | null; timezone: string }): Timing => ({ cron: c.cron, everyMs: c.everyMs, timezone: c.timezone });

/** The clock schedules are planned by: the test clock, else this process's (ticks are then checked against the database's). */
const nowOf = (ctx: QueueContext) => ctx.now() ?? new Date();

async function save(ctx: QueueContext, kinds: KindRegistry, def: ScheduleDefinition, source: ScheduleSource, opts: WriteOptions): Promise<ScheduleSaved> {
  const c = checkDefinition(def, kinds);
  const nextFireAt = c.enabled ? nextTick(timingOf(c), nowOf(ctx)) : null;
  const db = opts.db ?? ctx.pool;
  const [row] = await SQL.saveSchedule(db, { ...c, source, nextFireAt, now: ctx.now() });
  if (row) return { schedule: toSchedule(row), created: row.created, changed: true };
  const [same] = await SQL.getSchedule(db, { name: c.name });
  return { schedule: toSchedule(same!), created: false, changed: false };
}

export function setSchedule(ctx: QueueContext, kinds: KindRegistry, def: ScheduleDefinition, opts: WriteOptions = {}): Promise<ScheduleSaved> {
  return save(ctx, kinds, def, 'api', opts);
}

export async function getSchedule(ctx: QueueContext, name: string, opts: WriteOptions = {}): Promise<Schedule | null> {
  const [row] = await SQL.getSchedule(opts.db ?? ctx.readPool, { name: String(name) });
  return row ? toSchedule(row) : null;
}

export async function listSchedules(ctx: QueueContext, page: { after?: string; limit?: number }, opts: WriteOptions = {}): Promise<SchedulePage> {
  const limit = page.limit ?? SCHEDULE_PAGE_SIZE.default;
  if (!Number.isInteger(limit) || limit < 1 || limit > SCHEDULE_PAGE_SIZE.max) {
    throw new JobqError('validation_failed', `limit must be an integer from 1 to ${SCHEDULE_PAGE_SIZE.max}`, [{ path: '/limit', message: `must be an integer from 1 to ${SCHEDULE_PAGE_SIZE.max}` }]);
  }
  const rows = await SQL.listSchedules(opts.db ?? ctx.readPool, { after: page.after ?? null, limit: limit + 1 });
  const schedules = rows.slice(0, limit).map(toSchedule);
  return { schedules, nextAfter: rows.length > limit ? schedules.at(-1)!.name : null };
}

/** How many schedules there are, and how many are enabled: one scan of a table of schedules (not of jobs). */
export async function countSchedules(ctx: QueueContext, opts: WriteOptions = {}): Promise<{ total: number; enabled: number }> {
  const [row] = await SQL.countSchedules(opts.db ?? ctx.readPool, {});
  return { total: row!.total, enabled: row!.enabled };
}

export async function deleteSchedule(ctx: QueueContext, name: string, opts: WriteOptions = {}): Promise<boolean> {
  return (await SQL.deleteSchedule(opts.db ?? ctx.pool, { name: String(name) })) > 0;
}

/** Enqueues the schedule's job now (`enqueue` validates it against the kinds of today); its ticks stay as they are. */
export async function triggerSchedule(
  ctx: QueueContext,
  name: string,
  enqueue: (job: NewJob, opts: WriteOptions) => Promise<EnqueueResult>,
  opts: WriteOptions = {},
): Promise<EnqueueResult> {
  const db = opts.db ?? ctx.pool;
  const [row] = await SQL.getSchedule(db, { name: String(name) });
  if (!row) throw new JobqError('not_found', `no schedule named ${name}`);
  const result = await enqueue(
    { kind: row.kind, payload: row.payload, queue: row.queue, priority: row.priority, maxAttempts: row.max_attempts ?? undefined, timeoutMs: row.timeout_ms ?? undefined },
    { db },
  );
  await SQL.setLastJob(db, { name: row.name, jobId: result.job.id });
  return result;
}

/**
 * Makes the database's schedules of source `file` what `defs` says, in one transaction (and one at a
 * time across processes): adds and changes the listed ones (a listed name saved through the API
 * becomes the file's), removes the file's schedules no longer listed, leaves schedules saved through
 * the API alone. Every definition is checked before anything is written.
 */
export async function reconcileSchedules(ctx: QueueContext, kinds: KindRegistry, defs: ScheduleDefinition[]): Promise<ScheduleReconciled> {
  const names = new Set<string>();
  defs.forEach((d, i) => {
    try {
      checkDefinition(d, kinds);
    } catch (err) {
      if (isJobqError(err)) throw new JobqError(err.kind, `schedule ${i} (${String(d?.name)}): ${err.message}`, err.details?.map((x) => ({ ...x, index: i })));
      throw err;
    }
    if (names.has(d.name)) throw new JobqError('validation_failed', `schedule ${d.name} is listed twice`, [{ path: '/name', message: 'is listed twice', index: i }]);
    names.add(d.name);
  });
  const out: ScheduleReconciled = { added: [], changed: [], removed: [], unchanged: [] };
  const client = await checkout(ctx.pool);
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [RECONCILE_LOCK_KEY]);
    for (const def of defs) {
      const saved = await save(ctx, kinds, def, 'file', { db: client });
      (saved.created ? out.added : saved.changed ? out.changed : out.unchanged).push(def.name);
    }
    out.removed = (await SQL.deleteFileSchedules(client, { keep: [...names] })).map((r) => r.name);
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

export function toSchedule(r: SQL.ScheduleRow): Schedule {
  return {
    name: r.name,
    cron: r.cron,
    every: r.every,
    everyMs: r.every_ms === null ? null : Number(r.every_ms),
    timezone: r.timezone,
    job: { kind: r.kind, payload: r.payload, queue: r.queue, priority: r.priority, maxAttempts: r.max_attempts, timeoutMs: r.timeout_ms },
    enabled: r.enabled,
    catchUp: r.catch_up,
    catchUpLimit: r.catch_up_limit,
    source: r.source,
    nextFireAt: r.next_fire_at,
    lastFireAt: r.last_fire_at,
    lastJob: r.last_job_id === null ? null : { id: r.last_job_id, status: r.last_job_status },
    fires: Number(r.fires),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

