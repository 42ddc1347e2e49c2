/** Queues and their policies on the wire (GET /v1/queues, GET and PUT /v1/queues/{name}). */
import { type Static, Type } from '@sinclair/typebox';
import { QUEUE_LIMIT, QUEUE_NAME, QUEUE_PAGE_SIZE, RATE_PERIOD_MS } from '../../limits.ts';
import { Nullable, Ref, Timestamp } from './job.ts';

const Limit = (description: string) => Type.Integer({ minimum: QUEUE_LIMIT.min, maximum: QUEUE_LIMIT.max, description });

export const QueueNameParamsSchema = Type.Object({
  name: Type.String({ pattern: QUEUE_NAME.pattern, description: `Queue name (${QUEUE_NAME.description}).`, examples: ['mail'] }),
});

/** How a rate is sent: `period` as a duration ("1s", "10 minutes", "250ms") or milliseconds, or `period_ms`. */
export const RateInputSchema = Type.Object(
  {
    limit: Limit('At most this many jobs start in any window of the period.'),
    period: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 100 }), Type.Integer({ minimum: RATE_PERIOD_MS.min, maximum: RATE_PERIOD_MS.max })], {
        description: 'The window: a duration ("1s", "1h", "250ms", "10 minutes"; read by the `ms` package) or milliseconds. Give this or period_ms.',
      }),
    ),
    period_ms: Type.Optional(Type.Integer({ minimum: RATE_PERIOD_MS.min, maximum: RATE_PERIOD_MS.max, description: 'The window in milliseconds. Give this or period.' })),
  },
  { additionalProperties: false },
);

export const SetQueueBodySchema = Type.Object(
  {
    paused: Type.Optional(Type.Boolean({ description: 'true: nothing of the queue starts (running jobs finish, enqueues are accepted).' })),
    concurrency: Type.Optional(Nullable(Limit('At most this many jobs of the queue run at once, on all workers together. null: no limit.'))),
    rate: Type.Optional(Nullable(RateInputSchema)),
    group_concurrency: Type.Optional(Nullable(Limit('At most this many running jobs per group of the queue. null: no limit.'))),
  },
  {
    additionalProperties: false,
    description: 'What to change: a field left out stays as it is; null removes a limit.',
    examples: [{ concurrency: 5, rate: { limit: 10, period: '1s' } }, { paused: true }, { group_concurrency: 2, rate: null }],
  },
);
export type SetQueueWire = Static<typeof SetQueueBodySchema>;

export const QueueSchema = Type.Object(
  {
    name: Type.String(),
    paused: Type.Boolean(),
    concurrency: Nullable(Type.Integer({ minimum: 1, description: 'Running jobs at most, fleet-wide; null: no limit.' })),
    rate: Nullable(
      Type.Object(
        { limit: Type.Integer({ minimum: 1 }), period_ms: Type.Integer({ minimum: 1 }) },
        { additionalProperties: false, description: 'At most `limit` starts in any window of `period_ms`; null: no limit.' },
      ),
    ),
    group_concurrency: Nullable(Type.Integer({ minimum: 1, description: 'Running jobs at most per group; null: no limit.' })),
    depth: Type.Integer({ minimum: 0, description: 'Jobs runnable now (queued, or retrying whose time has come).' }),
    running: Type.Integer({ minimum: 0, description: 'Jobs running on any worker.' }),
    oldest_waiting_age_seconds: Type.Number({ minimum: 0, description: 'Since the oldest runnable job became runnable; 0 when none waits.' }),
    updated_at: Nullable({ ...Timestamp, description: 'When the policy last changed; null if it never had one.' }),
  },
  {
    $id: 'Queue',
    additionalProperties: false,
    description: 'A queue: its policy and what waits and runs in it.',
    examples: [
      {
        name: 'mail', paused: false, concurrency: 5, rate: { limit: 10, period_ms: 1000 }, group_concurrency: null,
        depth: 120, running: 5, oldest_waiting_age_seconds: 12.5, updated_at: '2025-01-31T09:30:00.000Z',
      },
    ],
  },
);
export type QueueWire = Static<typeof QueueSchema>;

export const QueueListQuerySchema = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: QUEUE_PAGE_SIZE.max, default: QUEUE_PAGE_SIZE.default, description: `Queues per page, 1..${QUEUE_PAGE_SIZE.max}. Default ${QUEUE_PAGE_SIZE.default}.` })),
    cursor: Type.Optional(Type.String({ pattern: QUEUE_NAME.pattern, description: 'next_cursor of the previous page.' })),
  },
  { additionalProperties: false },
);
export type QueueListQueryWire = Static<typeof QueueListQuerySchema>;

export const QueueListSchema = Type.Object(
  {
    queues: Type.Array(Ref(QueueSchema), { description: 'By name: every queue with unfinished jobs or a policy.' }),
    next_cursor: Nullable(Type.String({ description: 'Pass as `cursor` for the next page; null on the last page.' })),
  },
  { additionalProperties: false, examples: [{ queues: QueueSchema.examples, next_cursor: null }] },
);
export type QueueListWire = Static<typeof QueueListSchema>;
