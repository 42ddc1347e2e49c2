/**
 * GET /v1/events: job events as Server-Sent Events (issue #19; docs/events.md). Every stream of the
 * process subscribes to the one event hub (src/events/): a stream costs memory, not queries. The
 * filter is checked here (each value by the same pattern the jobs' fields have), the stream itself is
 * sse.ts; heartbeats go out from one timer for all streams; on shutdown (preClose) every stream ends.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type ErrorDetail, JobqError } from '../../errors.ts';
import type { EventFilter, EventHub, HubEvent } from '../../events/index.ts';
import { EVENT_DEFAULTS, frameOf, RETRY_HINT_MS } from '../../events/index.ts';
import { EVENT_FILTER, GROUP_KEY, KIND_NAME, QUEUE_NAME } from '../../limits.ts';
import { securityFor } from '../auth.ts';
import { errorResponses } from '../schemas/errors.ts';
import { EVENT_STREAM_DESCRIPTION, EVENT_STREAM_EXAMPLE, EventsHeadersSchema, EventsQuerySchema, type EventsQueryWire } from '../schemas/events.ts';
import { UUID_PATTERN } from '../schemas/requests.ts';
import { NO_HUB, resetFrame, type SentState, SseStream } from '../sse.ts';

export interface EventRoutesOptions {
  hub: EventHub | undefined;
  heartbeatMs?: number;
  streamBuffer?: number;
}

/** How long a stream ended by a shutdown may take to hand over what it holds before its socket is cut. */
const FINISH_GRACE_MS = 2_000;

const FIELDS = {
  id: { pattern: new RegExp(UUID_PATTERN), max: EVENT_FILTER.ids, split: true, what: 'a job id (UUID)' },
  queue: { pattern: new RegExp(QUEUE_NAME.pattern), max: EVENT_FILTER.values, split: true, what: `a queue name (${QUEUE_NAME.description})` },
  kind: { pattern: new RegExp(KIND_NAME.pattern), max: EVENT_FILTER.values, split: true, what: 'a kind name' },
  group: { pattern: new RegExp(GROUP_KEY.pattern), max: EVENT_FILTER.values, split: false, what: `a group key (1-${GROUP_KEY.maxLength} characters)` },
} as const;

/** The filter of a query: each field's values, split at commas (not group's), checked and bounded. */
export function parseFilter(query: EventsQueryWire): EventFilter {
  const filter: Record<string, string[]> = {};
  const details: ErrorDetail[] = [];
  for (const [field, rule] of Object.entries(FIELDS)) {
    const raw = query[field as keyof typeof FIELDS];
    if (raw === undefined) continue;
    const values = (Array.isArray(raw) ? raw : [raw]).flatMap((v) => (rule.split ? v.split(',') : [v]));
    const bad = values.find((v) => !rule.pattern.test(v) || (field === 'group' && v.length > GROUP_KEY.maxLength));
    if (bad !== undefined) details.push({ path: `/${field}`, message: `"${bad.slice(0, 80)}" is not ${rule.what}`, in: 'query parameter' });
    else if (new Set(values).size > rule.max) details.push({ path: `/${field}`, message: `at most ${rule.max} values`, in: 'query parameter' });
    else filter[field] = [...new Set(values)];
  }
  if (details.length > 0) throw new JobqError('validation_failed', `query parameter ${details[0]!.path.slice(1)}: ${details[0]!.message}`, details);
  return filter;
}

export const eventRoutes: FastifyPluginAsyncTypebox<EventRoutesOptions> = async (app, opts) => {
  const { hub } = opts;
  const heartbeatMs = opts.heartbeatMs ?? EVENT_DEFAULTS.heartbeatMs;
  const streamBuffer = opts.streamBuffer ?? EVENT_DEFAULTS.streamBuffer;
  /** Open streams and their responses. */
  const open = new Map<SseStream, import('node:http').ServerResponse>();
  const heartbeat = setInterval(() => {
    for (const s of open.keys()) s.heartbeat();
  }, heartbeatMs);
  heartbeat.unref();
  app.addHook('preClose', async () => {
    clearInterval(heartbeat);
    for (const [s, res] of open) {
      s.finish();
      // A client that does not take its last frames is not waited for.
      setTimeout(() => res.writableFinished || res.destroy(), FINISH_GRACE_MS).unref();
    }
  });

  app.get(
    '/events',
    {
      schema: {
        operationId: 'streamEvents',
        tags: ['jobs'],
        summary: 'Stream job events (Server-Sent Events)',
        description:
          'Job events as they happen, filtered by `id`, `queue`, `kind` and `group` (each repeatable or comma-separated: a value of any of them ' +
          'matches; several parameters must all match; none: every event). With `Last-Event-ID` (or `last_event_id`) the stream first replays the ' +
          'events after it that this server still holds (its last 10,000 events of at most 5 minutes by default), or starts with `event: reset`. ' +
          'See docs/events.md.',
        security: securityFor('read'),
        querystring: EventsQuerySchema,
        headers: EventsHeadersSchema,
        response: {
          200: {
            description: EVENT_STREAM_DESCRIPTION,
            headers: { 'Cache-Control': { type: 'string', description: 'no-cache' } },
            content: { 'text/event-stream': { schema: { type: 'string', examples: [EVENT_STREAM_EXAMPLE] } } },
          },
          ...errorResponses(400, 401, 403, 500, 503),
        },
      },
    },
    async (request, reply) => {
      if (!hub) throw new JobqError('too_many_streams', NO_HUB);
      const filter = parseFilter(request.query);
      const header = request.headers['last-event-id'];
      const lastEventId = (typeof header === 'string' && header !== '' ? header : undefined) ?? request.query.last_event_id;
      let subscription: ReturnType<EventHub['subscribe']> | undefined;
      const stream = new SseStream({
        maxQueued: streamBuffer,
        retryMs: RETRY_HINT_MS,
        onSlow: () => {
          request.log.info({ buffered: streamBuffer }, 'event stream closed: its client reads too slowly');
          stream.destroy();
          reply.raw.destroy();
        },
      });
      subscription = hub.subscribe(filter, { event: (e) => stream.event(e), reset: () => stream.reset() }, { lastEventId });
      open.set(stream, reply.raw);
      const closed = () => {
        open.delete(stream);
        subscription?.close();
        subscription = undefined;
      };
      reply.raw.once('close', closed);
      void opening(hub, filter, subscription).then(
        ({ frames, seq, states }) => stream.start(frames, seq, states),
        (err: unknown) => {
          request.log.warn({ err: (err as Error).message }, 'event stream could not open; its client reconnects');
          reply.raw.destroy();
        },
      );
      // Answered once this process listens: a client that has the response headers misses no later event.
      await subscription?.ready;
      reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache')
        .header('x-accel-buffering', 'no')
        // The connection is the stream's: it closes when the stream ends (a shutdown, then, is not held up by it).
        .header('connection', 'close');
      return reply.send(stream);
    },
  );
};

/**
 * What a stream opens with. After a Last-Event-ID: the replay, or when the id is not known here a
 * reset. A stream of ids then gets each job's state, unless its replay brought it up to date: so a
 * watcher never misses a job that finished while it was away (with a replay, the states are only
 * read, as what its client knows, for reconciliation to compare against).
 */
async function opening(
  hub: EventHub,
  filter: EventFilter,
  sub: ReturnType<EventHub['subscribe']>,
): Promise<{ frames: string[]; seq?: number; states?: Map<string, SentState> }> {
  await sub.ready;
  const replayed = Array.isArray(sub.replay);
  const frames = sub.replay === 'reset' ? [resetFrame('unknown_last_event_id')] : replayed ? (sub.replay as HubEvent[]).map(frameOf) : [];
  if (filter.id === undefined) return { frames };
  const { states, seq } = await hub.states(filter.id);
  if (replayed) return { frames };
  // Events already reflected in the states the client is sent need not follow them: those that came
  // up to `seq`, and those that come later but led to a state sent (SseStream.start).
  const sent = new Map(states.map((s) => [s.data.id, { status: s.data.status, attempt: s.data.attempt }]));
  return { frames: [...frames, ...states.map(frameOf)], seq, states: sent };
}
