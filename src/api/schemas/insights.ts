/** The dashboard's reads on the wire (issue #20): workers, jobs finished per minute, a job's children. */
import { type Static, Type } from '@sinclair/typebox';
import { CHILDREN_PAGE_SIZE, THROUGHPUT_MINUTES } from '../../limits.ts';
import { JobStatusSchema, Nullable, Timestamp, TimestampOf } from './job.ts';

export const WorkerSchema = Type.Object(
  {
    id: Type.String({ description: 'Its worker id: locked_by of the jobs it runs.' }),
    alive: Type.Boolean({ description: 'Holds its id now (renewed with its heartbeat); false: stopped, or died and its lease has passed.' }),
    concurrency: Nullable(Type.Integer({ minimum: 1, description: 'Jobs it runs at once; null when it did not say.' })),
    queues: Nullable(Type.Array(Type.String(), { description: 'The queues it works; null: all.' })),
    running: Type.Integer({ minimum: 0, description: 'Jobs running under it now.' }),
    started_at: Nullable(Timestamp),
    last_seen_at: TimestampOf('Its last heartbeat.'),
  },
  { additionalProperties: false },
);

export const WorkerListSchema = Type.Object(
  { workers: Type.Array(WorkerSchema, { description: 'By id: workers alive now, and those seen within the last hour.' }) },
  {
    additionalProperties: false,
    examples: [
      {
        workers: [
          { id: 'web-1:4711:9f2c1a0b', alive: true, concurrency: 10, queues: null, running: 3, started_at: '2025-01-31T09:00:00.000Z', last_seen_at: '2025-01-31T09:30:00.000Z' },
        ],
      },
    ],
  },
);
export type WorkerListWire = Static<typeof WorkerListSchema>;

export const ThroughputQuerySchema = Type.Object(
  {
    minutes: Type.Optional(
      Type.Integer({
        minimum: THROUGHPUT_MINUTES.min, maximum: THROUGHPUT_MINUTES.max, default: THROUGHPUT_MINUTES.default,
        description: `Minutes to count, the current one included; ${THROUGHPUT_MINUTES.min}..${THROUGHPUT_MINUTES.max}, default ${THROUGHPUT_MINUTES.default}.`,
      }),
    ),
  },
  { additionalProperties: false },
);

const PerMinute = (description: string) => Type.Array(Type.Integer({ minimum: 0 }), { description });

export const ThroughputSchema = Type.Object(
  {
    minutes: Type.Integer({ minimum: 1 }),
    until: TimestampOf('The end of the last minute counted (the current minute, so far).'),
    queues: Type.Record(
      Type.String(),
      Type.Object(
        {
          succeeded: PerMinute('Jobs that succeeded in each minute, oldest first; `minutes` entries.'),
          failed: PerMinute('Jobs that failed for good (failed_permanent) in each minute.'),
          cancelled: PerMinute('Jobs cancelled in each minute.'),
        },
        { additionalProperties: false },
      ),
      { description: 'Queue name → counts; queues with no job finished in the window are absent.' },
    ),
  },
  {
    additionalProperties: false,
    examples: [{ minutes: 3, until: '2025-01-31T09:31:00.000Z', queues: { mail: { succeeded: [120, 98, 40], failed: [0, 1, 0], cancelled: [0, 0, 0] } } }],
  },
);
export type ThroughputWire = Static<typeof ThroughputSchema>;

export const ChildrenQuerySchema = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: CHILDREN_PAGE_SIZE.max, default: CHILDREN_PAGE_SIZE.default, description: `Children per page, 1..${CHILDREN_PAGE_SIZE.max}. Default ${CHILDREN_PAGE_SIZE.default}.` })),
    cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,200}$', description: 'next_cursor of the previous page.' })),
  },
  { additionalProperties: false },
);
export type ChildrenQueryWire = Static<typeof ChildrenQuerySchema>;

export const ChildListSchema = Type.Object(
  {
    jobs: Type.Array(
      Type.Object(
        {
          id: Type.String({ format: 'uuid' }),
          queue: Type.String(),
          kind: Type.String(),
          status: JobStatusSchema,
          created_at: Timestamp,
          finished_at: Nullable(Timestamp),
        },
        { additionalProperties: false },
      ),
      { description: 'The jobs whose depends_on names this job, by id (oldest first).' },
    ),
    next_cursor: Nullable(Type.String({ description: 'Pass as `cursor` for the next page; null on the last page.' })),
  },
  {
    additionalProperties: false,
    examples: [
      {
        jobs: [{ id: '01948f6e-5b2b-7c3d-9e4f-0a1b2c3d4e60', queue: 'default', kind: 'send_email', status: 'waiting', created_at: '2025-01-31T09:30:00.000Z', finished_at: null }],
        next_cursor: null,
      },
    ],
  },
);
export type ChildListWire = Static<typeof ChildListSchema>;
