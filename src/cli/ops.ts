/**
 * The operator commands: a running jobq API, driven over HTTP through the typed client.
 *   jobq enqueue <kind> [payload-json|-]   jobq get <id>   jobq list   jobq cancel <id>
 *   jobq retry <id>   jobq stats   jobq kinds
 * Each takes --url (JOBQ_URL), --api-key (JOBQ_API_KEY), --json / --no-json and --request-timeout.
 * Output and exit codes: format.ts and exit.ts. Other operator commands (queues.ts) build on
 * operatorCommands and the argument parsers here.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { createClient, type JobqClient, JobqClientError, type JobListFilter, type JobWire, type NewJobWire } from '../client.ts';
import { parseDuration } from '../lib/duration.ts';
import { PAGE_SIZE } from '../limits.ts';
import { JOB_STATUSES } from '../queue/types.ts';
import { CliExit, EXIT, fromClientError, usage } from './exit.ts';
import * as format from './format.ts';
import type { CliIo } from './io.ts';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

export interface ClientFlags {
  url: string;
  apiKey?: string;
  json?: boolean;
  requestTimeout: number;
}

/** A commander argument parser from `parse`, whose Error becomes commander's one-line usage error. */
export const argument = <T>(parse: (raw: string) => T) => (raw: string): T => {
  try {
    return parse(raw);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};
const duration = argument(parseDuration);
export const integer = argument((raw) => {
  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(Number(raw))) throw new Error(`must be an integer, got "${raw}"`);
  return Number(raw);
});
/** A repeatable option's values, each occurrence split at commas when `split`. */
export const collect = (split: boolean) => (raw: string, previous: string[] = []) => [...previous, ...(split ? raw.split(',') : [raw])];
export const count = argument((raw) => {
  const n = integer(raw);
  if (n < 1) throw new Error(`must be at least 1, got ${n}`);
  return n;
});
/** An empty value (`JOBQ_URL=`) means unset. */
const url = argument((raw) => {
  if (raw.trim() === '') return DEFAULT_URL;
  const u = new URL(raw); // throws "Invalid URL"
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`must be an http or https URL, got "${raw}"`);
  return raw;
});

function clientOptions(): Option[] {
  return [
    new Option('--url <url>', 'the jobq API').env('JOBQ_URL').default(DEFAULT_URL).argParser(url),
    new Option('--api-key <key>', 'sent as "Authorization: Bearer <key>"').env('JOBQ_API_KEY'),
    new Option('--json', 'print JSON lines (the default when output is not a terminal)'),
    new Option('--no-json', 'print tables (the default in a terminal)'),
    new Option('--request-timeout <duration>', 'give up on a request unanswered this long').default(30_000, '30s').argParser(duration),
  ];
}

/** Calls the API with a client for these flags; a client failure ends the command with the code exit.ts gives it. */
async function request<T>(flags: ClientFlags, fn: (client: JobqClient) => Promise<T>): Promise<T> {
  const client = createClient({ baseUrl: flags.url, apiKey: flags.apiKey || undefined, timeoutMs: flags.requestTimeout });
  try {
    return await fn(client);
  } catch (err) {
    throw err instanceof JobqClientError ? fromClientError(err, flags.url) : err;
  }
}

/**
 * Helpers for commands under `parent`: `command` makes one with the client options, `show` makes one
 * call and prints its answer, `print` prints a value as a table or JSON lines.
 */
export function operatorCommands(parent: Command, io: CliIo) {
  const print = <T>(flags: ClientFlags, value: T, as: (value: T, mode: format.Mode) => string) => io.out(as(value, format.modeOf(flags.json, io)));
  /** A command that makes one call and prints its answer. */
  const show = <T>(flags: ClientFlags, fn: (client: JobqClient) => Promise<T>, as: (value: T, mode: format.Mode) => string) =>
    request(flags, fn).then((value) => print(flags, value, as));
  const command = (name: string, description: string) => {
    const cmd = parent.command(name).description(description);
    for (const opt of clientOptions()) cmd.addOption(opt);
    return cmd;
  };
  return { command, show, print };
}

interface EnqueueFlags {
  queue?: string;
  priority?: number;
  maxAttempts?: number;
  delay?: number;
  idempotencyKey?: string;
  group?: string;
  dependsOn?: string[];
  onParentFailure?: string;
  wait?: boolean;
  timeout?: number;
}

export function addOpsCommands(program: Command, io: CliIo): void {
  const { command, show, print } = operatorCommands(program, io);

  command('enqueue', 'enqueue a job; with --wait, wait until it finishes')
    .argument('<kind>', 'a registered kind (jobq kinds lists them)')
    .argument('[payload]', 'the payload as JSON, or - to read it from standard input', '{}')
    .option('--queue <name>', 'queue (default: "default")')
    .option('--priority <n>', 'higher runs first (default: 0)', integer)
    .option('--max-attempts <n>', "attempts before it fails for good (default: the kind's)", integer)
    .option('--delay <duration>', 'run no sooner than this from now (250ms, 30s, 5m, 2h, 7d)', duration)
    .option('--idempotency-key <key>', 'the same key, kind and payload again gives the existing job')
    .option('--group <key>', "the tenant or account whose turn it waits for (the queue's group limits)")
    .option('--depends-on <ids>', 'parents (job ids; repeatable or comma-separated): it waits until each has succeeded (docs/flows.md)', collect(true))
    .option('--on-parent-failure <what>', 'with --depends-on, a parent that fails or is cancelled: cancel (default) or run')
    .option('--wait', 'wait until the job has finished; exit 1 if it failed or was cancelled')
    .option('--timeout <duration>', 'with --wait: give up after this long (exit 4)', duration)
    .action(async (kind: string, payloadArg: string, o: ClientFlags & EnqueueFlags) => {
      if (o.timeout !== undefined && !o.wait) throw usage('--timeout needs --wait');
      const text = payloadArg === '-' ? await io.readStdin() : payloadArg;
      let payload: unknown;
      try {
        payload = JSON.parse(text);
      } catch (err) {
        throw usage(`the payload is not JSON (${(err as Error).message})${payloadArg === '-' ? ' on standard input' : ''}`);
      }
      const job: NewJobWire = {
        kind, payload, queue: o.queue, priority: o.priority, max_attempts: o.maxAttempts, delay_ms: o.delay, group: o.group,
        depends_on: o.dependsOn, on_parent_failure: o.onParentFailure as NewJobWire['on_parent_failure'],
      };
      const done = await request(o, async (client) => {
        const enqueued = await client.enqueue(job, o.idempotencyKey === undefined ? {} : { idempotencyKey: o.idempotencyKey });
        return o.wait ? client.waitFor(enqueued.id, { timeoutMs: o.timeout ?? Infinity }) : enqueued;
      });
      print(o, done, format.job);
      if (o.wait && done.status !== 'succeeded') {
        // The first line of the error: a stack, if the error has one, is in the job printed above.
        throw new CliExit(EXIT.failed, `job ${done.id} ended ${done.status}${done.last_error === null ? '' : `: ${done.last_error.split('\n')[0]}`}`);
      }
    });

  command('get', 'show a job').argument('<id>', 'job id').action((id: string, o: ClientFlags) => show(o, (c) => c.get(id), format.job));

  command('list', 'list jobs, newest first')
    .addOption(new Option('--status <status>', 'only jobs in this status').choices(JOB_STATUSES))
    .option('--kind <kind>', 'only jobs of this kind')
    .option('--queue <name>', 'only jobs in this queue')
    .option('--limit <n>', 'at most this many jobs (more than a page are fetched page by page)', count, PAGE_SIZE.default)
    .action((o: ClientFlags & Omit<JobListFilter, 'limit' | 'cursor'> & { limit: number }) =>
      show(o, async (c) => {
        const found: JobWire[] = [];
        const filter = { status: o.status, kind: o.kind, queue: o.queue, limit: Math.min(o.limit, PAGE_SIZE.max) };
        for await (const job of c.list(filter)) if (found.push(job) >= o.limit) break;
        return found;
      }, format.jobs),
    );

  command('cancel', 'cancel a job: at once if waiting; a running one is told to stop')
    .argument('<id>', 'job id')
    .action((id: string, o: ClientFlags) => show(o, (c) => c.cancel(id), format.cancelled));

  command('retry', 'run a failed or cancelled job again')
    .argument('<id>', 'job id')
    .action((id: string, o: ClientFlags) => show(o, (c) => c.retry(id), format.job));

  command('stats', 'count jobs per status, queue and kind').action((o: ClientFlags) => show(o, (c) => c.stats(), format.stats));

  command('kinds', 'list the kinds the API accepts').action((o: ClientFlags) => show(o, (c) => c.kinds(), format.kinds));
}
