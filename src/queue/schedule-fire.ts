/**
 * Firing schedules' ticks (docs/schedules.md, "How a tick fires"). Every worker's scheduler calls
 * `fireDueSchedules` when the next tick comes due: one read of the soonest schedules, then one statement
 * per due schedule, which fires its ticks only if no other worker fired them first.
 */
import { DEFAULT_MAX_ATTEMPTS } from '../kinds/registry.ts';
import type { KindRegistry } from '../kinds/registry.ts';
import type { QueueContext } from './context.ts';
import { latestTicks, nextTick, type Timing } from './cron.ts';
import { publishAll } from './events/publish.ts';
import { newJobId } from './ids.ts';
import { newJobFromInsert, type InsertRow } from './rows.ts';
import type { ScheduleFire } from './schedule-types.ts';
import type { Job } from './types.ts';
import type { InsertedRow } from './statements/enqueue.ts';
import * as SQL from './statements/schedules.ts';

/** A tick found at most this late is on time: the scheduler is only behind, and every such tick fires. */
export const ON_TIME_MS = 60_000;
/** The most ticks one fire of a schedule makes (a 1 s schedule found a minute late makes 61). */
const MAX_ON_TIME_TICKS = 1000;
/** Schedules read per round; more due ones are fired by the next round at once. */
const DEFAULT_BATCH = 20;
/** Rounds of one call; a fleet with more due schedules than this goes on at its next call, at once. */
const MAX_ROUNDS = 50;

/** What to do with a due schedule at `now`: the ticks to fire, and its next tick after them. */
export interface FirePlan {
  ticks: Date[];
  /** The ticks were missed (the first unfired one was more than ON_TIME_MS late) and `catch_up` chose them. */
  catchUp: boolean;
  /** Missed ticks the policy left out. */
  skipped: boolean;
  next: Date | null;
}

/**
 * When the first unfired tick is at most ON_TIME_MS late, the scheduler is only behind (a pause, a
 * slow database): every tick up to now fires. Later than that, no worker ran while they came due, and
 * the catch-up policy decides: `skip` fires none, `latest` only the most recent, `all` the latest
 * `catchUpLimit`. Either way the next tick is the first after now.
 */
export function planFire(timing: Timing, first: Date, now: Date, policy: { catchUp: 'skip' | 'latest' | 'all'; catchUpLimit: number }): FirePlan {
  const next = nextTick(timing, now);
  if (now.getTime() - first.getTime() <= ON_TIME_MS) {
    const { ticks, more } = latestTicks(timing, first, now, MAX_ON_TIME_TICKS);
    return { ticks, catchUp: false, skipped: more, next };
  }
  const max = policy.catchUp === 'skip' ? 0 : policy.catchUp === 'latest' ? 1 : policy.catchUpLimit;
  if (max === 0) return { ticks: [], catchUp: true, skipped: true, next };
  const { ticks, more } = latestTicks(timing, first, now, max);
  return { ticks, catchUp: true, skipped: more, next };
}

/** The idempotency key of a tick's job. */
export const tickKey = (schedule: string, tick: Date) => `schedule:${schedule}:${tick.toISOString()}`;

/**
 * Fires every due schedule's ticks (at most `limit` schedules per read, reading again while more are
 * due). Returns the ticks this process fired, and how long until the next tick of any schedule (null:
 * none planned), by the database's clock.
 */
export async function fireDueSchedules(
  ctx: QueueContext,
  kinds: KindRegistry,
  opts: { limit?: number } = {},
): Promise<{ fired: ScheduleFire[]; nextInMs: number | null }> {
  const limit = opts.limit ?? DEFAULT_BATCH;
  const fired: ScheduleFire[] = [];
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const rows = await SQL.upcomingSchedules(ctx.pool, { limit, now: ctx.now() });
    if (rows.length === 0) return { fired, nextInMs: null };
    const now = rows[0]!.db_now;
    const due = rows.filter((r) => r.next_fire_at!.getTime() <= now.getTime());
    // The soonest tick to come: the first row not due, or a fired schedule's next tick (planned here,
    // so no second read). Read again when every row was due (more may be), or when another process
    // fired a schedule first (its next tick is the one that process planned).
    let soonest = rows.find((r) => r.next_fire_at!.getTime() > now.getTime())?.next_fire_at ?? null;
    let again = due.length === limit;
    for (const row of due) {
      const { fires, next } = await fireOne(ctx, kinds, row, now);
      fired.push(...fires);
      if (next === undefined) again = true;
      else if (next !== null && (soonest === null || next < soonest)) soonest = next;
    }
    if (!again) return { fired, nextInMs: soonest === null ? null : soonest.getTime() - now.getTime() };
  }
  return { fired, nextInMs: 0 };
}

/** Fires one due schedule's ticks; `next` is its next tick (null: none), undefined when another process fired it first. */
async function fireOne(ctx: QueueContext, kinds: KindRegistry, row: SQL.ScheduleRow, now: Date): Promise<{ fires: ScheduleFire[]; next: Date | null | undefined }> {
  const timing: Timing = { cron: row.cron, everyMs: row.every_ms === null ? null : Number(row.every_ms), timezone: row.timezone };
  const plan = planFire(timing, row.next_fire_at!, now, { catchUp: row.catch_up, catchUpLimit: row.catch_up_limit });
  const maxAttempts = row.max_attempts ?? kinds.get(row.kind)?.defaultMaxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  const inputs: InsertRow[] = plan.ticks.map((tick, ord) => ({
    ord,
    id: newJobId(),
    queue: row.queue,
    kind: row.kind,
    payload: row.payload,
    priority: row.priority,
    max_attempts: maxAttempts,
    run_at: null,
    delay_ms: 0,
    timeout_ms: row.timeout_ms,
    idempotency_key: tickKey(row.name, tick),
    group_key: null,
    trace_context: undefined, // a tick has no caller to trace
  }));
  const last = inputs.at(-1);
  const result = await SQL.fireTicks(ctx.pool, {
    name: row.name,
    expected: row.next_fire_at!,
    input: JSON.stringify(inputs),
    next: plan.next,
    lastTick: plan.ticks.at(-1) ?? null,
    lastJobId: last?.id ?? null,
    count: plan.ticks.length,
    now: ctx.now(),
  });
  if (!result[0]?.won) return { fires: [], next: undefined };
  const byId = new Map(inputs.map((r, i) => [r.id, { input: r, tick: plan.ticks[i]! }]));
  const fires: ScheduleFire[] = [];
  const created: Job[] = [];
  for (const r of result) {
    const made = r.id === null || r.id === undefined ? undefined : byId.get(r.id);
    if (!made) continue;
    const job = newJobFromInsert(made.input, row.payload, r as InsertedRow);
    created.push(job);
    if (ctx.events.listenerCount('enqueued') > 0) ctx.events.emit('enqueued', { job, isNew: true, outcome: 'created' });
    const fire: ScheduleFire = { schedule: row.name, tick: made.tick, jobId: job.id, lagMs: job.createdAt.getTime() - made.tick.getTime(), catchUp: plan.catchUp };
    ctx.events.emit('scheduleFired', fire);
    fires.push(fire);
  }
  publishAll(ctx.publisher, ctx.now(), 'enqueued', created, null); // committed: fireTicks is a statement of its own
  return { fires, next: plan.next };
}
