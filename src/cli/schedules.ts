/**
 * The schedule commands (recurring jobs, issue #18), over the HTTP API like the other operator
 * commands (ops.ts: the same options, output and exit codes):
 *   jobq schedule list   jobq schedule get <name>   jobq schedule delete <name>   jobq schedule trigger <name>
 *   jobq schedule set <name> (--cron EXPR | --every DURATION) --kind KIND [--payload JSON|-] [--queue NAME]
 *       [--priority N] [--max-attempts N] [--timeout DURATION] [--timezone TZ] [--catch-up skip|latest|all]
 *       [--catch-up-limit N] [--disabled]
 *   jobq schedule enable <name>   jobq schedule disable <name>
 * `set` sends the whole schedule (PUT replaces it: an option left out takes its default); enable and
 * disable read the schedule and send it back with only `enabled` changed.
 */
import { type Command, Option } from 'commander';
import type { ScheduleWire, SetScheduleWire } from '../client.ts';
import { parseDuration } from '../lib/duration.ts';
import { SCHEDULE_PAGE_SIZE } from '../limits.ts';
import { CATCH_UPS } from '../queue/schedule-types.ts';
import { usage } from './exit.ts';
import * as format from './format.ts';
import type { CliIo } from './io.ts';
import { argument, type ClientFlags, count, integer, operatorCommands } from './ops.ts';

/** Checked here (a usage error), sent as written: the schedule shows its interval as it was given. */
const every = argument((raw) => {
  parseDuration(raw);
  return raw.trim();
});
const duration = argument(parseDuration);

interface SetFlags extends ClientFlags {
  cron?: string;
  every?: string;
  kind: string;
  payload: string;
  queue?: string;
  priority?: number;
  maxAttempts?: number;
  timeout?: number;
  timezone?: string;
  catchUp?: SetScheduleWire['catch_up'];
  catchUpLimit?: number;
  disabled?: boolean;
}

/** A schedule as the API shows it → the PUT body that saves it as it is (enable and disable change one field of it). */
export function bodyOf(s: ScheduleWire): SetScheduleWire {
  const body: SetScheduleWire = {
    job: { kind: s.job.kind, payload: s.job.payload, queue: s.job.queue, priority: s.job.priority },
    enabled: s.enabled,
    catch_up: s.catch_up,
    catch_up_limit: s.catch_up_limit,
  };
  if (s.cron !== null) Object.assign(body, { cron: s.cron, timezone: s.timezone });
  else body.every = s.every ?? s.every_ms ?? undefined;
  if (s.job.max_attempts !== null) body.job.max_attempts = s.job.max_attempts;
  if (s.job.timeout_ms !== null) body.job.timeout_ms = s.job.timeout_ms;
  return body;
}

export function addScheduleCommands(program: Command, io: CliIo): void {
  const schedule = program.command('schedule').description('recurring jobs: list, show, set, delete, trigger, enable and disable schedules');
  const { command, show } = operatorCommands(schedule, io);
  const named = (name: string, description: string) => command(name, description).argument('<name>', 'schedule name');

  command('list', 'list schedules: when they fire, what they enqueue, their next and last tick and its job')
    .option('--limit <n>', 'at most this many schedules (more than a page are fetched page by page)', count, SCHEDULE_PAGE_SIZE.default)
    .action((o: ClientFlags & { limit: number }) =>
      show(o, async (c) => {
        const found: ScheduleWire[] = [];
        for await (const s of c.listSchedules({ limit: Math.min(o.limit, SCHEDULE_PAGE_SIZE.max) })) if (found.push(s) >= o.limit) break;
        return found;
      }, format.schedules),
    );

  named('get', 'show a schedule').action((name: string, o: ClientFlags) => show(o, (c) => c.getSchedule(name), format.schedule));

  named('set', 'create or replace a schedule (the whole of it: an option left out takes its default); then show it')
    .option('--cron <expr>', 'fire on this cron expression: 5 fields, 6 (seconds first) or @daily, @hourly...')
    .option('--every <duration>', 'or fire at this interval (30s, 5m, 1h; at least 1s)', every)
    .requiredOption('--kind <kind>', 'the kind of the job each tick enqueues (jobq kinds lists them)')
    .option('--payload <json>', 'its payload as JSON, or - to read it from standard input', '{}')
    .option('--queue <name>', 'its queue (default: "default")')
    .option('--priority <n>', 'its priority; higher runs first (default: 0)', integer)
    .option('--max-attempts <n>', "its attempts before it fails for good (default: the kind's)", integer)
    .option('--timeout <duration>', "its handler timeout (default: the kind's)", duration)
    .option('--timezone <tz>', 'the IANA time zone the cron expression is read in (default: UTC)')
    .addOption(new Option('--catch-up <policy>', 'ticks missed while no worker ran: none, the latest, or all (up to --catch-up-limit)').choices(CATCH_UPS))
    .option('--catch-up-limit <n>', 'with --catch-up all: at most this many missed ticks (default: 100)', count)
    .option('--disabled', 'save it disabled: it fires nothing until enabled')
    .action(async (name: string, o: SetFlags) => {
      if ((o.cron === undefined) === (o.every === undefined)) throw usage('schedule set needs exactly one of --cron and --every');
      const text = o.payload === '-' ? await io.readStdin() : o.payload;
      let payload: unknown;
      try {
        payload = JSON.parse(text);
      } catch (err) {
        throw usage(`the payload is not JSON (${(err as Error).message})${o.payload === '-' ? ' on standard input' : ''}`);
      }
      const given: Record<string, unknown> = {
        cron: o.cron, every: o.every, timezone: o.timezone, catch_up: o.catchUp, catch_up_limit: o.catchUpLimit, enabled: o.disabled ? false : undefined,
        job: Object.fromEntries(
          Object.entries({ kind: o.kind, payload, queue: o.queue, priority: o.priority, max_attempts: o.maxAttempts, timeout_ms: o.timeout }).filter(([, v]) => v !== undefined),
        ),
      };
      const body = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as SetScheduleWire;
      return show(o, (c) => c.setSchedule(name, body), format.scheduleSaved);
    });

  const toggle = (enabled: boolean) => (name: string, o: ClientFlags) =>
    show(o, async (c) => c.setSchedule(name, { ...bodyOf(await c.getSchedule(name)), enabled }), format.scheduleSaved);
  named('enable', 'let a schedule fire again (from its next tick on)').action(toggle(true));
  named('disable', 'keep a schedule but fire nothing (trigger still runs it)').action(toggle(false));

  named('delete', 'delete a schedule; the jobs it enqueued stay').action((name: string, o: ClientFlags) =>
    show(o, async (c) => {
      await c.deleteSchedule(name);
      return name;
    }, format.scheduleDeleted),
  );

  named('trigger', "enqueue a schedule's job now; its ticks stay as they were").action((name: string, o: ClientFlags) =>
    show(o, (c) => c.triggerSchedule(name), format.job),
  );
}
