/** Job events in tests: a real client LISTENing on jobq_events, a sentinel that marks "all arrived", and a statement counter. */
import { after } from 'node:test';
import pg from 'pg';
import { decodeNotification, EVENTS_CHANNEL, type JobEvent } from '../../src/queue/events/types.ts';
import { eventually } from './poll.ts';

export interface EventsListener {
  /** Every event received, in arrival order, with its id. */
  events: (JobEvent & { eventId: string })[];
  /** Every payload received (the sentinel's too, until `sentinel` takes it). */
  payloads: string[];
  /** Resolves once a notification sent now has arrived: everything committed before it has arrived first. */
  sentinel(pool: pg.Pool): Promise<void>;
  close(): Promise<void>;
}

/** LISTENs on jobq_events on a connection of its own (closed after the calling test or file). */
export async function listenEvents(url: string): Promise<EventsListener> {
  const client = new pg.Client({ connectionString: url });
  const events: (JobEvent & { eventId: string })[] = [];
  const payloads: string[] = [];
  client.on('notification', (n) => {
    if (n.channel !== EVENTS_CHANNEL) return;
    payloads.push(n.payload!);
    if (n.payload !== 'sentinel') events.push(...decodeNotification(n.payload!).events);
  });
  client.on('error', () => {});
  await client.connect();
  await client.query(`LISTEN ${EVENTS_CHANNEL}`);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await client.end();
  };
  after(close);
  return {
    events,
    payloads,
    close,
    async sentinel(pool) {
      await pool.query(`SELECT pg_notify('${EVENTS_CHANNEL}', 'sentinel')`);
      await eventually(() => (payloads.at(-1) === 'sentinel' ? true : undefined), 10_000, 'the sentinel notification');
      payloads.pop();
    },
  };
}

/** Counts the named statements run through the pool's own `query` (every single statement; not those of a checked-out client). */
export function countStatements(pool: pg.Pool): Map<string, number> {
  const counts = new Map<string, number>();
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const name = (args[0] as { name?: string } | undefined)?.name ?? 'unnamed';
    counts.set(name, (counts.get(name) ?? 0) + 1);
    return query(...args);
  };
  return counts;
}

/** An event as the tests compare it: type, the id's last characters, status and attempt. */
export const briefEvent = (e: Pick<JobEvent, 'type' | 'id' | 'status' | 'attempt'>) => `${e.type} ${e.id.slice(-4)} ${e.status} #${e.attempt}`;
