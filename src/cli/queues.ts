/**
 * The queue policy commands (docs/flow-control.md), over the HTTP API like the other operator
 * commands (ops.ts: the same options, output and exit codes):
 *   jobq queue list   jobq queue get <name>   jobq queue pause <name>   jobq queue resume <name>
 *   jobq queue set <name> [--concurrency N|none] [--rate LIMIT/PERIOD|none] [--group-concurrency N|none] [--paused|--no-paused]
 */
import type { Command } from 'commander';
import type { QueueWire, SetQueueWire } from '../client.ts';
import { parseDuration } from '../lib/duration.ts';
import { QUEUE_LIMIT, QUEUE_PAGE_SIZE, RATE_PERIOD_MS } from '../limits.ts';
import { usage } from './exit.ts';
import * as format from './format.ts';
import type { CliIo } from './io.ts';
import { argument, type ClientFlags, count, integer, operatorCommands } from './ops.ts';

/** What removes a limit: null on the wire. (The parsers keep it as 'none': commander turns a parsed null into ''.) */
const NONE = 'none';
type OrNone<T> = T | typeof NONE;
const orNull = <T>(value: OrNone<T> | undefined) => (value === NONE ? null : value);

function limitOf(raw: string): number {
  const n = integer(raw);
  if (n < QUEUE_LIMIT.min || n > QUEUE_LIMIT.max) throw new Error(`must be from ${QUEUE_LIMIT.min} to ${QUEUE_LIMIT.max}, got ${n}`);
  return n;
}

/** N, or none. */
const limit = argument((raw): OrNone<number> => (raw.trim() === NONE ? NONE : limitOf(raw)));

/** LIMIT/PERIOD (10/1s, 1000/1h), or none; sent as {limit, period_ms}. */
const rate = argument((raw): OrNone<{ limit: number; period_ms: number }> => {
  if (raw.trim() === NONE) return NONE;
  const [starts, period, ...rest] = raw.split('/');
  if (period === undefined || rest.length > 0) throw new Error(`must be LIMIT/PERIOD (10/1s, 1000/1h) or none, got "${raw}"`);
  const periodMs = parseDuration(period);
  if (periodMs < RATE_PERIOD_MS.min || periodMs > RATE_PERIOD_MS.max) throw new Error(`the period must be from ${RATE_PERIOD_MS.min} ms to ${RATE_PERIOD_MS.max} ms, got "${period}"`);
  return { limit: limitOf(starts!), period_ms: periodMs };
});

interface SetFlags extends ClientFlags {
  concurrency?: OrNone<number>;
  rate?: OrNone<{ limit: number; period_ms: number }>;
  groupConcurrency?: OrNone<number>;
  paused?: boolean;
}

export function addQueueCommands(program: Command, io: CliIo): void {
  const queue = program.command('queue').description("show and change queues' policies: concurrency, rate, pause, group concurrency");
  const { command, show } = operatorCommands(queue, io);
  const named = (name: string, description: string) => command(name, description).argument('<name>', 'queue name');

  command('list', 'list queues with unfinished jobs or a policy: policy, depth, running, oldest waiting job')
    .option('--limit <n>', 'at most this many queues (more than a page are fetched page by page)', count, QUEUE_PAGE_SIZE.default)
    .action((o: ClientFlags & { limit: number }) =>
      show(o, async (c) => {
        const found: QueueWire[] = [];
        for await (const q of c.listQueues({ limit: Math.min(o.limit, QUEUE_PAGE_SIZE.max) })) if (found.push(q) >= o.limit) break;
        return found;
      }, format.queues),
    );

  named('get', 'show a queue').action((name: string, o: ClientFlags) => show(o, (c) => c.getQueue(name), format.queue));

  named('set', "change a queue's policy: only the options given change; then show it")
    .option('--concurrency <n|none>', 'at most this many running at once on all workers; none: no limit', limit)
    .option('--rate <limit/period|none>', 'at most this many starts in any window of the period (10/1s, 1000/1h); none: no limit', rate)
    .option('--group-concurrency <n|none>', 'at most this many running per group; none: no limit', limit)
    .option('--paused', 'start nothing new (running jobs finish, enqueues are accepted)')
    .option('--no-paused', 'start jobs again')
    .action((name: string, o: SetFlags) => {
      const given = { concurrency: orNull(o.concurrency), rate: orNull(o.rate), group_concurrency: orNull(o.groupConcurrency), paused: o.paused };
      const policy: SetQueueWire = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
      if (Object.keys(policy).length === 0) throw usage('queue set needs at least one of --concurrency, --rate, --group-concurrency, --paused, --no-paused');
      return show(o, (c) => c.setQueue(name, policy), format.queue);
    });

  named('pause', 'start nothing new of the queue; running jobs finish, enqueues are accepted').action((name: string, o: ClientFlags) => show(o, (c) => c.pauseQueue(name), format.queue));
  named('resume', 'start jobs of the queue again').action((name: string, o: ClientFlags) => show(o, (c) => c.resumeQueue(name), format.queue));
}
