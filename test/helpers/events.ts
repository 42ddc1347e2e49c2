/**
 * Live events in tests: a real client LISTENing on jobq_events, a sentinel that marks "all arrived", a
 * statement counter; publishing job events as a publisher would (the contract's publishEvents
 * statement, a real NOTIFY), and reading an SSE stream over a real socket frame by frame. The frame
 * reader is the test's own (split at blank lines, as the server writes them), not the client's parser.
 * node:http, not fetch: an aborted fetch leaves a new idle connection behind (undici's), which holds
 * up the server's close for a keep-alive timeout.
 */
import http from 'node:http';
import { after } from 'node:test';
import pg from 'pg';
import { decodeNotification, encodeChunks, EVENTS_CHANNEL, type JobEvent, type JobEventType } from '../../src/queue/events/types.ts';
import { publishEvents } from '../../src/queue/statements/events.ts';
import { directUrl } from './db.ts';
import { eventually } from './poll.ts';
import { statementName } from './statement-names.ts';

export interface EventsListener {
  /** Every event received, in arrival order, with its id. */
  events: (JobEvent & { eventId: string })[];
  /** Every payload received (the sentinel's too, until `sentinel` takes it). */
  payloads: string[];
  /** Resolves once a notification sent now has arrived: everything committed before it has arrived first. */
  sentinel(pool: pg.Pool): Promise<void>;
  close(): Promise<void>;
}

const SENTINEL = 'sentinel:';
let sentinels = 0;

/** LISTENs on jobq_events on a connection of its own (closed after the calling test or file). */
export async function listenEvents(url: string): Promise<EventsListener> {
  const client = new pg.Client({ connectionString: directUrl(url) });
  const events: (JobEvent & { eventId: string })[] = [];
  const payloads: string[] = [];
  client.on('notification', (n) => {
    if (n.channel !== EVENTS_CHANNEL) return;
    payloads.push(n.payload!);
    if (!n.payload!.startsWith(SENTINEL)) events.push(...decodeNotification(n.payload!).events);
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
      // Numbered, and looked for anywhere: what arrives after it shows in the test's assertions, not as a timeout here.
      const mark = `${SENTINEL}${++sentinels}`;
      await pool.query(`SELECT pg_notify($1, $2)`, [EVENTS_CHANNEL, mark]);
      await eventually(() => (payloads.includes(mark) ? true : undefined), 10_000, 'the sentinel notification');
      payloads.splice(payloads.indexOf(mark), 1);
    },
  };
}

/** Counts the named statements run through the pool's own `query` (every single statement; not those of a checked-out client). */
export function countStatements(pool: pg.Pool): Map<string, number> {
  const counts = new Map<string, number>();
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const name = statementName(args[0]) ?? 'unnamed';
    counts.set(name, (counts.get(name) ?? 0) + 1);
    return query(...args);
  };
  return counts;
}

/** An event as the tests compare it: type, the id's last characters, status and attempt. */
export const briefEvent = (e: Pick<JobEvent, 'type' | 'id' | 'status' | 'attempt'>) => `${e.type} ${e.id.slice(-4)} ${e.status} #${e.attempt}`;

/**
 * One job's events (briefEvent, or anything that starts with the type) with its `enqueued` moved to
 * the front, the others in the order they came. An enqueue publishes `enqueued` once it reads its
 * commit's reply, and a worker of the same process, woken by the commit's notification, may claim, run
 * and even finish the job before that (docs/events.md): `enqueued` may come anywhere among the run's
 * events, which keep their order.
 */
export const enqueuedFirst = (events: string[]) => [...events.filter((e) => e.startsWith('enqueued ')), ...events.filter((e) => !e.startsWith('enqueued '))];


export interface Frame {
  id?: string;
  event?: string;
  data?: any;
  retry?: number;
  /** A comment line (`: heartbeat`). */
  comment?: string;
  raw: string;
}

/** A job event for `job` (a row or a wire job: id, queue, kind, group) of this type. */
export function jobEvent(job: { id: string; queue: string; kind: string; group?: string | null }, type: JobEventType, extra: Partial<JobEvent> = {}): JobEvent {
  const status = { enqueued: 'queued', released: 'queued', started: 'running', progress: 'running' }[type as string] ?? type;
  return { type, id: job.id, queue: job.queue, kind: job.kind, group: job.group ?? null, status, attempt: type === 'enqueued' ? 0 : 1, at: new Date().toISOString(), ...extra };
}

/** Publishes events as the publisher does: one notification per chunk, numbered from jobq.event_ids. */
export async function publish(pool: pg.Pool, ...events: JobEvent[]): Promise<void> {
  await publishEvents(pool, { chunks: encodeChunks(events) });
}

export interface OpenStream {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body, when the answer is not a stream (an error). */
  body(): Promise<string>;
  /** Every frame so far. */
  frames: Frame[];
  /** The next frame not yet taken that satisfies `match` (default: any job event or reset, not comments or retry). */
  next(match?: (f: Frame) => boolean, ms?: number): Promise<Frame>;
  /** Takes frames until one satisfies `until` (inclusive); returns them. */
  until(until: (f: Frame) => boolean, ms?: number): Promise<Frame[]>;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  close(): void;
}

const isEvent = (f: Frame) => f.event !== undefined;

function parseFrame(raw: string): Frame {
  const f: Frame = { raw };
  for (const line of raw.split('\n')) {
    if (line.startsWith(':')) f.comment = line.slice(1).trim();
    else if (line.startsWith('id: ')) f.id = line.slice(4);
    else if (line.startsWith('event: ')) f.event = line.slice(7);
    else if (line.startsWith('data: ')) f.data = JSON.parse(line.slice(6));
    else if (line.startsWith('retry: ')) f.retry = Number(line.slice(7));
  }
  return f;
}

/** Opens GET `url` as an event stream (node:http), reading frames in the background. */
export async function openStream(url: string, headers: Record<string, string> = {}): Promise<OpenStream> {
  const req = http.get(url, { headers: { accept: 'text/event-stream', ...headers } });
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => req.once('response', resolve).once('error', reject));
  req.on('error', () => {});
  res.setEncoding('utf8');
  const frames: Frame[] = [];
  let taken = 0;
  let wake: (() => void) | undefined;
  let done = false;
  let text = '';
  const ended = (async () => {
    let buffer = '';
    try {
      for await (const chunk of res) {
        text += chunk as string;
        buffer += chunk as string;
        let at: number;
        while ((at = buffer.indexOf('\n\n')) >= 0) {
          frames.push(parseFrame(buffer.slice(0, at)));
          buffer = buffer.slice(at + 2);
        }
        wake?.();
      }
    } catch {
      // aborted or cut
    } finally {
      done = true;
      wake?.();
    }
  })();
  const next = async (match: (f: Frame) => boolean = isEvent, ms = 10_000): Promise<Frame> => {
    const deadline = Date.now() + ms;
    for (;;) {
      while (taken < frames.length) {
        const f = frames[taken++]!;
        if (match(f)) return f;
      }
      if (done) throw new Error(`the stream ended before the frame awaited (frames: ${frames.map((f) => f.raw).join(' | ').slice(0, 500)})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no such frame within ${ms} ms (frames: ${frames.map((f) => f.raw).join(' | ').slice(0, 500)})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  };
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    body: async () => {
      await ended;
      return text;
    },
    frames,
    next,
    async until(until, ms = 10_000) {
      const got: Frame[] = [];
      for (;;) {
        const f = await next(isEvent, ms);
        got.push(f);
        if (until(f)) return got;
      }
    },
    ended,
    close: () => req.destroy(),
  };
}
