/**
 * Schedules as sent (snake_case: a PUT /v1/schedules/{name} body, an entry of a schedules file) → the
 * queue's ScheduleDefinition, in one place for the API's route and the start-up reconcile (server.ts).
 * And the schedules file itself (`--schedules`, JOBQ_SCHEDULES): read, parsed and checked against the
 * same TypeBox schema as a PUT body, so a file accepts exactly what the API accepts; its errors name
 * the file and the field (`/schedules/2/cron`), like the API's name the field of a body.
 */
import { readFile } from 'node:fs/promises';
import { type ErrorDetail, type ErrorKind, isJobqError, JobqError } from '../errors.ts';
import type { KindRegistry } from '../kinds/registry.ts';
import type { ScheduleDefinition } from '../queue/index.ts';
// The queue's own check of a definition, not re-done here (it needs the kinds; the façade is not built yet).
import { checkDefinition } from '../queue/schedules.ts';
import { validationDetails } from './errors.ts';
import { ScheduleFileSchema, type ScheduleFileWire, type SetScheduleWire } from './schemas/schedules.ts';
import { bodyValidator } from './validator.ts';

/** Without its undefined fields: a field left out is left out, not sent to the queue as undefined. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** A PUT body (or a file entry without its name) → the queue's definition. */
export function toScheduleDefinition(name: string, body: SetScheduleWire): ScheduleDefinition {
  const { job } = body;
  return defined({
    name,
    cron: body.cron,
    every: body.every,
    timezone: body.timezone,
    job: defined({ kind: job.kind, payload: job.payload, queue: job.queue, priority: job.priority, maxAttempts: job.max_attempts, timeoutMs: job.timeout_ms }),
    enabled: body.enabled,
    catchUp: body.catch_up,
    catchUpLimit: body.catch_up_limit,
  });
}

let checkFile: ReturnType<ReturnType<typeof bodyValidator>['compile']> | undefined;

/** Problems listed in a file's error message; the details hold them all. */
const LISTED = 5;

/**
 * A file's problems as one error: the file, then each problem (up to LISTED) as its path, the name of
 * the schedule it is in, and what is wrong: `schedules file s.json: /schedules/2/cron (schedule "nightly") ...`.
 */
function fileError(file: string, details: ErrorDetail[], entries?: unknown, kind: ErrorKind = 'validation_failed'): JobqError {
  const describe = (d: ErrorDetail) => {
    const index = /^\/schedules\/(\d+)(?:\/|$)/.exec(d.path)?.[1];
    const name = index === undefined ? undefined : (entries as { schedules?: { name?: unknown }[] } | undefined)?.schedules?.[Number(index)]?.name;
    return `${d.path === '/' ? '' : `${d.path} `}${typeof name === 'string' ? `(schedule "${name}") ` : ''}${d.message}`;
  };
  const more = details.length > LISTED ? `; and ${details.length - LISTED} more` : '';
  return new JobqError(kind, `schedules file ${file}: ${details.slice(0, LISTED).map(describe).join('; ')}${more}`, details);
}

/**
 * The text of a schedules file → its definitions, each checked as the queue checks a schedule it saves
 * (a cron expression that parses, a time zone that exists, a known kind, a payload its kind accepts),
 * so a bad file is refused before anything starts. Throws a JobqError naming the file and the field.
 */
export function parseSchedulesFile(text: string, file: string, kinds: KindRegistry): ScheduleDefinition[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw fileError(file, [{ path: '/', message: `is not valid JSON (${(err as Error).message})` }]);
  }
  checkFile ??= bodyValidator().compile(ScheduleFileSchema);
  if (!checkFile(parsed)) throw fileError(file, validationDetails(checkFile.errors ?? [], 'file'), parsed);
  const { schedules } = parsed as ScheduleFileWire;
  const seen = new Map<string, number>();
  schedules.forEach(({ name }, i) => {
    const earlier = seen.get(name);
    if (earlier !== undefined) throw fileError(file, [{ path: `/schedules/${i}/name`, message: `repeats the name of /schedules/${earlier}` }], parsed);
    seen.set(name, i);
  });
  const defs = schedules.map(({ name, ...body }) => toScheduleDefinition(name, body));
  defs.forEach((def, i) => {
    try {
      checkDefinition(def, kinds);
    } catch (err) {
      if (!isJobqError(err)) throw err;
      const details = (err.details ?? [{ path: '/', message: err.message }]).map((d) => ({ ...d, path: `/schedules/${i}${d.path === '/' ? '' : d.path}` }));
      throw fileError(file, details, parsed, err.kind);
    }
  });
  return defs;
}

/** Reads and checks a schedules file (parseSchedulesFile); an unreadable file is a validation_failed naming it. */
export async function readSchedulesFile(file: string, kinds: KindRegistry): Promise<ScheduleDefinition[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw fileError(file, [{ path: '/', message: `cannot be read (${(err as Error).message})` }]);
  }
  return parseSchedulesFile(text, file, kinds);
}
