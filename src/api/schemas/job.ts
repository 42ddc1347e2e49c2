/**
 * The job as it travels over the wire: snake_case, timestamps as RFC 3339 UTC strings, absent values
 * null. One TypeBox schema serves response serialisation, the OpenAPI document and the client's types.
 */
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { PROGRESS_MESSAGE_MAX } from '../../queue/events/types.ts';
import { ON_PARENT_FAILURE } from '../../limits.ts';
import { JOB_STATUSES, type JobStatus } from '../../statuses.ts';

/** `T | null` as one JSON schema (`type: [T, 'null']`), which OpenAPI 3.1 and fast-json-stringify both read well. */
export function Nullable<T extends TSchema>(schema: T) {
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [schema.type as string, 'null'] });
}

/** A reference to a shared schema (registered with `addSchema`), typed as that schema. */
export function Ref<T extends TSchema>(schema: T, options: Record<string, unknown> = {}) {
  if (!schema.$id) throw new Error('Ref needs a schema with an $id');
  return Type.Unsafe<Static<T>>(Type.Ref(schema.$id, options));
}

/** Options of Timestamp, for variants (spreading the schema itself would give a type the emitted .d.ts cannot name). */
const TIMESTAMP = { format: 'date-time', description: 'RFC 3339, UTC.', examples: ['2025-01-31T09:30:00.000Z'] };
export const Timestamp = Type.String(TIMESTAMP);
/** A Timestamp with a description of its own. */
export const TimestampOf = (description: string) => Type.String({ ...TIMESTAMP, description });

export const JobStatusSchema = Type.Unsafe<JobStatus>({
  type: 'string',
  enum: [...JOB_STATUSES],
  description: 'queued → running → succeeded, or retrying / failed_permanent / cancelled; waiting: for its parents (depends_on). See docs/lifecycle.md.',
});

export const AttemptErrorSchema = Type.Object(
  {
    at: Timestamp,
    attempt: Type.Integer({ minimum: 0, description: 'Which attempt failed (1 is the first).' }),
    error: Type.String({ description: 'The error text of that attempt.' }),
  },
  { additionalProperties: false },
);

/** A handler's last progress report (`ctx.progress`), as stored on the job and carried by `progress` events. */
export const JobProgressSchema = Type.Object(
  {
    value: Type.Number({ minimum: 0, maximum: 1, description: 'How far the job has got, from 0 to 1 (current / total when a count was reported).' }),
    current: Type.Optional(Type.Number({ minimum: 0, description: 'The count reported, out of `total`.' })),
    total: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    message: Type.Optional(Type.String({ maxLength: PROGRESS_MESSAGE_MAX })),
    at: Type.String({ ...TIMESTAMP, description: 'When the handler reported it (its worker\'s clock).' }),
  },
  { additionalProperties: false, description: "The handler's last progress report; null until it reports." },
);

const EXAMPLE_JOB = {
  id: '01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f',
  queue: 'default',
  kind: 'send_email',
  payload: { to: 'ada@example.com', subject: 'Welcome', body: 'Hello Ada!' },
  status: 'queued',
  priority: 0,
  attempts: 0,
  max_attempts: 3,
  run_at: '2025-01-31T09:30:00.000Z',
  locked_by: null,
  locked_at: null,
  cancel_requested: false,
  idempotency_key: 'signup-42',
  group: null,
  singleton_key: null,
  debounce_key: null,
  depends_on: null,
  on_parent_failure: null,
  last_error: null,
  result: null,
  created_at: '2025-01-31T09:30:00.000Z',
  updated_at: '2025-01-31T09:30:00.000Z',
  started_at: null,
  finished_at: null,
  timeout_ms: null,
  errors: [],
  progress: null,
};

export const JobSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid', description: 'UUID v7 (time ordered).' }),
    queue: Type.String({ description: 'Queue name; workers can be limited to some queues.' }),
    kind: Type.String({ description: 'What the job does; see GET /v1/kinds.' }),
    payload: Type.Unknown({ description: "The job's input, valid against its kind's payload schema." }),
    status: JobStatusSchema,
    priority: Type.Integer({ description: 'Higher runs first.' }),
    attempts: Type.Integer({ minimum: 0, description: 'Attempts started so far.' }),
    max_attempts: Type.Integer({ minimum: 1 }),
    run_at: Type.String({ ...TIMESTAMP, description: 'When the job is (or was) runnable.' }),
    locked_by: Nullable(Type.String({ description: 'The worker running the job.' })),
    locked_at: Nullable(Timestamp),
    cancel_requested: Type.Boolean({ description: 'A cancel was requested while the job was running.' }),
    idempotency_key: Nullable(Type.String()),
    group: Nullable(Type.String({ description: 'The group (tenant, customer, account) whose turn the job waits for; see GET /v1/queues.' })),
    singleton_key: Nullable(Type.String({ description: 'At most one unfinished job holds it at a time.' })),
    debounce_key: Nullable(Type.String({ description: 'While the job is queued and never claimed, enqueues with this key rewrite it.' })),
    depends_on: Nullable(
      Type.Array(Type.String({ format: 'uuid' }), { description: 'The parents it waits (or waited) for, in the order given; null: none. See docs/flows.md.' }),
    ),
    on_parent_failure: Type.Unsafe<(typeof ON_PARENT_FAILURE)[number] | null>({
      type: ['string', 'null'],
      enum: [...ON_PARENT_FAILURE, null],
      description: 'What a failed or cancelled parent does to it; null without parents.',
    }),
    last_error: Nullable(Type.String({ description: 'Error of the latest failed attempt.' })),
    result: Type.Unknown({ description: "The handler's result once succeeded; null otherwise." }),
    created_at: Timestamp,
    updated_at: Timestamp,
    started_at: Nullable(
      TimestampOf(
        "When its latest attempt started; null before the first, and while an attempt that started from its worker's buffer (claimed ahead of a free slot) runs: that start is stored with the attempt's outcome.",
      ),
    ),
    finished_at: Nullable(Timestamp),
    timeout_ms: Nullable(Type.Integer({ minimum: 1, description: "Handler timeout of this job; null: the kind's default." })),
    errors: Type.Array(AttemptErrorSchema, { description: 'The latest attempt errors, oldest first.' }),
    progress: Nullable(JobProgressSchema),
  },
  { $id: 'Job', additionalProperties: false, description: 'A job.', examples: [EXAMPLE_JOB] },
);

export type JobWire = Static<typeof JobSchema>;
export type AttemptErrorWire = Static<typeof AttemptErrorSchema>;
export type JobProgressWire = Static<typeof JobProgressSchema>;
export { EXAMPLE_JOB };
