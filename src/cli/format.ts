/**
 * How the operator commands print: a readable table (or a field list, for one job) in a terminal,
 * JSON lines (one object per line, as the API gives it) when output is piped or `--json` is given.
 */
import type { CancelResponseWire, JobWire, KindWire, QueueWire, ScheduleSavedWire, ScheduleWire, StatsWire } from '../client.ts';
import { formatDuration, roughDuration } from '../lib/duration.ts';
import type { CliIo } from './io.ts';

export type Mode = 'table' | 'json';

/** `--json` / `--no-json` when given, else tables for a terminal and JSON lines for anything else. */
export const modeOf = (json: boolean | undefined, io: CliIo): Mode => ((json ?? !io.isTTY) ? 'json' : 'table');

/**
 * Text from the API made safe for a terminal: control characters (newlines, escape sequences that
 * could move the cursor or recolour the screen) become spaces; long values are cut with an ellipsis.
 */
function cell(value: unknown, max = Infinity): string {
  const text = value === null || value === undefined ? '-' : typeof value === 'string' ? value : JSON.stringify(value);
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

const jsonLines = (values: unknown[]): string => values.map((v) => `${JSON.stringify(v)}\n`).join('');
/** A timestamp to the second: 2025-01-31 09:30:00Z. */
const time = (iso: string | null): string => (iso === null ? '-' : iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z'));

export function jobs(list: JobWire[], mode: Mode): string {
  if (mode === 'json') return jsonLines(list);
  return table(
    ['ID', 'KIND', 'QUEUE', 'STATUS', 'PRIORITY', 'ATTEMPTS', 'RUN AT', 'LAST ERROR'],
    list.map((j) => [j.id, cell(j.kind), cell(j.queue, 32), j.status, String(j.priority), `${j.attempts}/${j.max_attempts}`, time(j.run_at), cell(j.last_error, 60)]),
  );
}

/** One job: every field on its own line, payload and result as compact JSON. */
export function job(j: JobWire, mode: Mode): string {
  if (mode === 'json') return jsonLines([j]);
  const width = Math.max(...Object.keys(j).map((f) => f.length));
  const rows = Object.entries(j).map(([field, value]) => {
    if (field === 'errors') return [field, j.errors.length === 0 ? '-' : j.errors.map((e) => `#${e.attempt} ${time(e.at)} ${cell(e.error, 200)}`).join('\n' + ' '.repeat(width + 2))];
    return [field, field.endsWith('_at') ? time(value as string | null) : cell(value)];
  });
  return rows.map(([field, value]) => `${field!.padEnd(width)}  ${value}`).join('\n') + '\n';
}

const OUTCOMES: Record<CancelResponseWire['outcome'], string> = {
  cancelled: 'cancelled',
  cancel_requested: 'cancel requested: it is running and its worker was told to stop',
  already_terminal: 'already finished',
};

export function cancelled(r: CancelResponseWire, mode: Mode): string {
  return mode === 'json' ? jsonLines([r]) : `job ${r.job.id}: ${OUTCOMES[r.outcome]} (${r.job.status})\n`;
}

/** Counts per status for all jobs, then by queue and by kind; the oldest runnable job's age. */
export function stats(s: StatsWire, mode: Mode): string {
  if (mode === 'json') return jsonLines([s]);
  const statuses = Object.keys(s.by_status) as (keyof StatsWire['by_status'])[];
  const counts = (name: string, c: StatsWire['by_status']) => [cell(name, 40), ...statuses.map((st) => String(c[st]))];
  const section = (title: string, by: Record<string, StatsWire['by_status']>) =>
    table([title, ...statuses.map((st) => st.toUpperCase())], [...Object.entries(by).map(([name, c]) => counts(name, c)), counts('(all)', s.by_status)]);
  return `${section('QUEUE', s.by_queue)}\n${section('KIND', s.by_kind)}\noldest runnable job: ${s.oldest_runnable_age_seconds} s\n`;
}

export function kinds(list: KindWire[], mode: Mode): string {
  if (mode === 'json') return jsonLines(list);
  return table(
    ['NAME', 'MAX ATTEMPTS', 'TIMEOUT MS', 'DESCRIPTION'],
    list.map((k) => [cell(k.name), String(k.default_max_attempts), String(k.timeout_ms), cell(k.description, 80)]),
  );
}

/** Queues with their policies ("-": no limit; a rate as 10/1s) and counts; the oldest waiting job's age, roughly. */
export function queues(list: QueueWire[], mode: Mode): string {
  if (mode === 'json') return jsonLines(list);
  const limit = (n: number | null) => (n === null ? '-' : String(n));
  return table(
    ['NAME', 'PAUSED', 'CONCURRENCY', 'RATE', 'GROUP CONCURRENCY', 'DEPTH', 'RUNNING', 'OLDEST WAITING'],
    list.map((q) => [
      cell(q.name), q.paused ? 'yes' : 'no', limit(q.concurrency), q.rate === null ? '-' : `${q.rate.limit}/${formatDuration(q.rate.period_ms)}`,
      limit(q.group_concurrency), String(q.depth), String(q.running), q.depth === 0 ? '-' : roughDuration(q.oldest_waiting_age_seconds * 1000),
    ]),
  );
}

export const queue = (q: QueueWire, mode: Mode): string => queues([q], mode);

/** When a schedule fires: its cron expression (with its time zone unless UTC) or its interval. */
const cadence = (s: ScheduleWire): string =>
  s.cron !== null ? `${s.cron}${s.timezone === 'UTC' ? '' : ` (${s.timezone})`}` : `every ${s.every ?? formatDuration(s.every_ms ?? 0)}`;

/** Schedules: when they fire, what they enqueue, their next and last tick, the last tick's job and its status. */
export function schedules(list: ScheduleWire[], mode: Mode): string {
  if (mode === 'json') return jsonLines(list);
  return table(
    ['NAME', 'SCHEDULE', 'KIND', 'QUEUE', 'ENABLED', 'NEXT FIRE', 'LAST FIRE', 'LAST JOB', 'FIRES', 'SOURCE'],
    list.map((s) => [
      cell(s.name), cell(cadence(s), 60), cell(s.job.kind), cell(s.job.queue, 32), s.enabled ? 'yes' : 'no', time(s.next_fire_at), time(s.last_fire_at),
      s.last_job === null ? '-' : `${s.last_job.id} ${s.last_job.status ?? 'pruned'}`, String(s.fires), s.source,
    ]),
  );
}

export const schedule = (s: ScheduleWire, mode: Mode): string => schedules([s], mode);

/** The answer of a PUT: the schedule, then whether it was created, replaced or already so. */
export function scheduleSaved(saved: ScheduleSavedWire, mode: Mode): string {
  if (mode === 'json') return jsonLines([saved]);
  const what = saved.created ? 'created' : saved.changed ? 'replaced' : 'unchanged (it was already so)';
  return `${schedules([saved.schedule], mode)}schedule ${cell(saved.schedule.name)} ${what}\n`;
}

export function scheduleDeleted(name: string, mode: Mode): string {
  return mode === 'json' ? jsonLines([{ name, deleted: true }]) : `schedule ${cell(name)} deleted\n`;
}
