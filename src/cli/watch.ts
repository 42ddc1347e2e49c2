/**
 * `jobq watch`: job events as they happen (GET /v1/events through the client's watch), one JSON line
 * each: the event's fields as the stream sends them, `event_id` added (give it back with
 * --last-event-id to resume). Filters: --id, --queue, --kind (repeatable or comma-separated) and
 * --group (repeatable). Watching ids only, it ends once every one of them has finished; otherwise it
 * runs until interrupted, reconnecting by itself.
 */
import type { Command } from 'commander';
import { createClient, JobqClientError, type WatchFilter } from '../client.ts';
import { isTerminal, type JobStatus } from '../statuses.ts';
import { fromClientError, usage } from './exit.ts';
import type { CliIo } from './io.ts';
import { type ClientFlags, collect, operatorCommands } from './ops.ts';

interface WatchFlags extends ClientFlags {
  id?: string[];
  queue?: string[];
  kind?: string[];
  group?: string[];
  lastEventId?: string;
}

export function addWatchCommand(program: Command, io: CliIo): void {
  const { command } = operatorCommands(program, io);
  command('watch', 'print job events as they happen, one JSON line each')
    .option('--id <ids>', 'only these jobs (repeatable or comma-separated); each one\'s state comes first, and watching ids only ends once all have finished', collect(true))
    .option('--queue <names>', 'only jobs of these queues (repeatable or comma-separated)', collect(true))
    .option('--kind <kinds>', 'only jobs of these kinds (repeatable or comma-separated)', collect(true))
    .option('--group <key>', 'only jobs of this group (repeatable)', collect(false))
    .option('--last-event-id <id>', 'resume after this event (the event_id of a line printed before)')
    .action(async (o: WatchFlags) => {
      if (o.json === false) throw usage('watch prints JSON lines only');
      const filter: WatchFilter = { id: o.id, queue: o.queue, kind: o.kind, group: o.group };
      const idsOnly = o.id !== undefined && o.queue === undefined && o.kind === undefined && o.group === undefined;
      const unfinished = new Set((o.id ?? []).map((id) => id.toLowerCase()));
      const client = createClient({ baseUrl: o.url, apiKey: o.apiKey || undefined });
      try {
        for await (const e of client.watch(filter, { lastEventId: o.lastEventId })) {
          const { eventId, ...fields } = e;
          io.out(`${JSON.stringify(eventId === undefined ? fields : { ...fields, event_id: eventId })}\n`);
          if (idsOnly && e.type !== 'reset' && isTerminal(e.status as JobStatus)) {
            unfinished.delete(e.id);
            if (unfinished.size === 0) return;
          }
        }
      } catch (err) {
        throw err instanceof JobqClientError ? fromClientError(err, o.url) : err;
      }
    });
}
