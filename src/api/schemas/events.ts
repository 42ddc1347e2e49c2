/**
 * Live events on the wire (issue #19; docs/events.md): the query of GET /v1/events, the `data:` of
 * its frames (JobEvent, a shared schema), and the `wait` of GET /v1/jobs/{id}.
 */
import { type Static, Type } from '@sinclair/typebox';
import { EVENT_FILTER, GROUP_KEY, LONG_POLL_MS } from '../../limits.ts';
import { EVENT_TYPES, PROGRESS_MESSAGE_MAX } from '../../queue/events/types.ts';
import { JobStatusSchema, Nullable, Timestamp } from './job.ts';

/** A filter field: repeated (`?queue=a&queue=b`) and/or comma-separated (`?queue=a,b`); parsed and checked in routes/events.ts. */
const listParam = (description: string, max: number) =>
  Type.Optional(
    Type.Union([Type.String({ maxLength: 8_192 }), Type.Array(Type.String({ maxLength: 8_192 }), { maxItems: max })], { description }),
  );

export const EventsQuerySchema = Type.Object(
  {
    id: listParam(`Job ids (UUIDs), at most ${EVENT_FILTER.ids}. Without Last-Event-ID, the stream starts with a \`state\` event per job.`, EVENT_FILTER.ids),
    queue: listParam(`Queue names, at most ${EVENT_FILTER.values}.`, EVENT_FILTER.values),
    kind: listParam(`Kind names, at most ${EVENT_FILTER.values}.`, EVENT_FILTER.values),
    group: listParam(`Group keys, at most ${EVENT_FILTER.values}; repeat the parameter (a group key may hold a comma, so it is not split).`, EVENT_FILTER.values),
    last_event_id: Type.Optional(Type.String({ maxLength: 200, description: 'The same as the Last-Event-ID header, for clients that cannot set headers; the header wins.' })),
  },
  { additionalProperties: false },
);
export type EventsQueryWire = Static<typeof EventsQuerySchema>;

export const EventsHeadersSchema = Type.Object({
  'last-event-id': Type.Optional(Type.String({ description: 'The id of the last event received: the stream resumes after it, or starts with `event: reset` when it is no longer known.' })),
});

export const JobProgressSchema = Type.Object(
  {
    value: Type.Number({ minimum: 0, maximum: 1, description: '0..1: current / total when a count was given.' }),
    current: Type.Optional(Type.Number()),
    total: Type.Optional(Type.Number()),
    message: Type.Optional(Type.String({ maxLength: PROGRESS_MESSAGE_MAX })),
  },
  { additionalProperties: true },
);

export const JobEventSchema = Type.Object(
  {
    type: Type.Unsafe<(typeof EVENT_TYPES)[number] | 'state'>({
      type: 'string',
      enum: [...EVENT_TYPES, 'state'],
      description: 'What happened; `state`: the job as it was when the stream opened (streams filtered by id).',
    }),
    id: Type.String({ format: 'uuid', description: 'The job.' }),
    queue: Type.String(),
    kind: Type.String(),
    group: Nullable(Type.String({ maxLength: GROUP_KEY.maxLength })),
    status: JobStatusSchema,
    attempt: Type.Integer({ minimum: 0, description: 'The attempt the event belongs to (0 before the first claim).' }),
    at: Type.String({ ...Timestamp, description: 'When it happened.' }),
    progress: Type.Optional(JobProgressSchema),
  },
  {
    $id: 'JobEvent',
    additionalProperties: true,
    description: 'The `data:` of every job event and `state` frame of GET /v1/events (one line of JSON).',
    examples: [
      { type: 'succeeded', id: '01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f', queue: 'default', kind: 'send_email', group: null, status: 'succeeded', attempt: 1, at: '2025-01-31T09:30:01.250Z' },
    ],
  },
);
export type JobEventWire = Static<typeof JobEventSchema>;

export const EVENT_STREAM_EXAMPLE =
  'retry: 2000\n\n' +
  'event: state\ndata: {"type":"state","id":"01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f","queue":"default","kind":"send_email","group":null,"status":"running","attempt":1,"at":"2025-01-31T09:30:00.500Z"}\n\n' +
  'id: 4711-0\nevent: succeeded\ndata: {"type":"succeeded","id":"01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f","queue":"default","kind":"send_email","group":null,"status":"succeeded","attempt":1,"at":"2025-01-31T09:30:01.250Z"}\n\n' +
  ': heartbeat\n\n';

export const EVENT_STREAM_DESCRIPTION =
  'Server-Sent Events, one frame per event: `id: <n>-<i>` (published events only), `event: <type>`, `data: <JobEvent JSON>`. ' +
  'Types: enqueued, released, started, progress, succeeded, retrying, failed_permanent, cancelled; `state` (no id): a watched job as it is when ' +
  'the stream opens (`id` filters without Last-Event-ID); `reset` (data `{"reason": …}`): events may have been missed (an unknown Last-Event-ID, ' +
  'or this server lost its database notifications for a moment): re-read what you need. Events without `id:` were made up by this server ' +
  '(`state`, or an event reconciliation found missing) and cannot be replayed. A `retry:` hint comes first; `: heartbeat` comments keep idle ' +
  'streams open. A client that reads too slowly is disconnected: reconnect with Last-Event-ID.';

/** `?wait=` of GET /v1/jobs/{id}. */
export const GetJobQuerySchema = Type.Object(
  {
    wait: Type.Optional(
      Type.String({
        maxLength: 32,
        description: `Long-poll: answer as soon as the job is succeeded, failed_permanent or cancelled, or with its state then when this much time has passed: a duration (\`30s\`, \`1500ms\`) or milliseconds, at most ${LONG_POLL_MS.max / 1000} s.`,
        examples: ['30s'],
      }),
    ),
  },
  { additionalProperties: false },
);
export type GetJobQueryWire = Static<typeof GetJobQuerySchema>;
