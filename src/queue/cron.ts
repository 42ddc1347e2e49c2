/**
 * A schedule's ticks: when a cron expression (in its time zone) or an interval comes due. Croner does
 * the calendar work (fields, nicknames, time zones and DST, as docs/schedules.md describes); this
 * module only bounds what a schedule may say and walks the ticks between two instants.
 */
import { Cron } from 'croner';

export interface Timing {
  cron: string | null;
  /** Ticks are the multiples of everyMs since the Unix epoch (absolute, whatever the time zone). */
  everyMs: number | null;
  timezone: string;
}

/** Cron nicknames croner knows (@reboot and the like have no tick). */
const NICKNAMES = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

/** Compiled expressions by "timezone expression": schedules are few, and each fire walks its own. */
const compiled = new Map<string, Cron>();
const MAX_COMPILED = 1000;

function cronOf(expr: string, timezone: string): Cron {
  const key = `${timezone} ${expr}`;
  let c = compiled.get(key);
  if (!c) {
    if (compiled.size >= MAX_COMPILED) compiled.clear();
    c = new Cron(expr, { paused: true, timezone });
    compiled.set(key, c);
  }
  return c;
}

/** Why `timezone` is not an IANA time zone this runtime knows, or null. */
export function timezoneProblem(timezone: string): string | null {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return null;
  } catch {
    return `is not an IANA time zone (such as "UTC" or "Europe/Paris")`;
  }
}

/**
 * Why `expr` is not a cron expression of ours, or null: five fields, six (seconds first), or a
 * nickname; and it must have a next tick (`0 0 31 2 *` never comes). Croner's messages name the field.
 */
export function cronProblem(expr: string, timezone: string): string | null {
  const text = expr.trim();
  if (text.startsWith('@')) {
    if (!NICKNAMES.has(text.toLowerCase())) return `nickname must be one of ${[...NICKNAMES].join(', ')}`;
  } else {
    const fields = text.split(/\s+/).length;
    if (fields !== 5 && fields !== 6) return `must have five fields (minute hour day month weekday) or six (seconds first), not ${fields}`;
  }
  try {
    if (cronOf(text, timezone).nextRun(new Date()) === null) return 'never comes due';
  } catch (err) {
    return `is not valid: ${(err as Error).message.replace(/^CronPattern: /, '')}`;
  }
  return null;
}

/** The first tick strictly after `after`, or null when there is none (a cron that never comes again). */
export function nextTick(t: Timing, after: Date): Date | null {
  if (t.everyMs !== null) return new Date((Math.floor(after.getTime() / t.everyMs) + 1) * t.everyMs);
  return cronOf(t.cron!.trim(), t.timezone).nextRun(after);
}

/**
 * The latest ticks from `first` (a tick, included) through `until` (included), at most `max`, oldest
 * first; `more` says whether earlier ones in that span were left out. Computed back from `until`
 * (croner's previousRuns, or arithmetic for an interval), so a long outage is never walked tick by tick.
 */
export function latestTicks(t: Timing, first: Date, until: Date, max: number): { ticks: Date[]; more: boolean } {
  const from = first.getTime();
  let back: Date[] = [];
  if (t.everyMs !== null) {
    for (let ms = Math.floor(until.getTime() / t.everyMs) * t.everyMs; ms >= from && back.length <= max; ms -= t.everyMs) back.push(new Date(ms));
  } else {
    // A few first, more only while all of them fall in the span: an on-time fire (one tick, found
    // milliseconds late) walks back a few ticks, not max + 1 (1001 steps cost croner 50-70 ms of CPU).
    const cron = cronOf(t.cron!.trim(), t.timezone);
    const before = new Date(until.getTime() + 1);
    for (let n = Math.min(4, max + 1); ; n = Math.min(n * 8, max + 1)) {
      back = cron.previousRuns(n, before);
      if (back.length < n || back.at(-1)!.getTime() < from || n === max + 1) break;
    }
    back = back.filter((d) => d.getTime() >= from);
  }
  const more = back.length > max;
  return { ticks: back.slice(0, max).reverse(), more };
}
