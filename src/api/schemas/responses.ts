/** Response bodies other than the job itself and the error body. */
import { type Static, Type } from '@sinclair/typebox';
import { JOB_STATUSES } from '../../statuses.ts';
import { EXAMPLE_JOB, JobSchema, Nullable, Ref } from './job.ts';

export const JobListSchema = Type.Object(
  {
    jobs: Type.Array(Ref(JobSchema), { description: 'Newest first.' }),
    next_cursor: Nullable(Type.String({ description: 'Pass as `cursor` for the next page; null on the last page.' })),
  },
  { additionalProperties: false, examples: [{ jobs: [EXAMPLE_JOB], next_cursor: 'MDE5NDhmNmUtNWIyYS03YzNkLTllNGYtMGExYjJjM2Q0ZTVm' }] },
);
export type JobListWire = Static<typeof JobListSchema>;

export const BatchResponseSchema = Type.Object(
  { jobs: Type.Array(Ref(JobSchema), { description: 'In request order; a replayed idempotency key gives the existing job.' }) },
  { additionalProperties: false, examples: [{ jobs: [EXAMPLE_JOB] }] },
);
export type BatchResponseWire = Static<typeof BatchResponseSchema>;

export const CancelResponseSchema = Type.Object(
  {
    outcome: Type.Unsafe<'cancelled' | 'cancel_requested' | 'already_terminal'>({
      type: 'string',
      enum: ['cancelled', 'cancel_requested', 'already_terminal'],
      description: 'cancelled: it was waiting and is cancelled now; cancel_requested: it is running and its worker was told; already_terminal: it had finished.',
    }),
    job: Ref(JobSchema),
  },
  { additionalProperties: false, examples: [{ outcome: 'cancelled', job: { ...EXAMPLE_JOB, status: 'cancelled', finished_at: '2025-01-31T09:31:00.000Z' } }] },
);
export type CancelResponseWire = Static<typeof CancelResponseSchema>;

const countsExample = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0]));
export const StatusCountsSchema = Type.Object(
  Object.fromEntries(JOB_STATUSES.map((s) => [s, Type.Integer({ minimum: 0 })])) as Record<(typeof JOB_STATUSES)[number], ReturnType<typeof Type.Integer>>,
  { additionalProperties: false, description: 'Jobs per status.' },
);

export const StatsSchema = Type.Object(
  {
    by_status: StatusCountsSchema,
    by_kind: Type.Record(Type.String(), StatusCountsSchema, { description: 'Kind name → counts per status.' }),
    by_queue: Type.Record(Type.String(), StatusCountsSchema, { description: 'Queue name → counts per status.' }),
    oldest_runnable_age_seconds: Type.Number({ minimum: 0, description: 'Age of the oldest runnable job; 0 when none waits.' }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        by_status: { ...countsExample, queued: 2, succeeded: 5 },
        by_kind: { send_email: { ...countsExample, queued: 2, succeeded: 5 } },
        by_queue: { default: { ...countsExample, queued: 2, succeeded: 5 } },
        oldest_runnable_age_seconds: 1.5,
      },
    ],
  },
);
export type StatsWire = Static<typeof StatsSchema>;

export const KindSchema = Type.Object(
  {
    name: Type.String(),
    description: Nullable(Type.String()),
    payload_schema: Type.Unknown({ description: 'JSON Schema of the payload.' }),
    default_max_attempts: Type.Integer({ minimum: 1 }),
    timeout_ms: Type.Integer({ minimum: 1, description: 'Default handler timeout.' }),
  },
  { additionalProperties: false },
);
export const KindListSchema = Type.Array(KindSchema, {
  examples: [
    [
      {
        name: 'noop',
        description: 'Does nothing, optionally sleeping sleep_ms first; for benchmarks and tests.',
        payload_schema: { type: 'object', properties: { sleep_ms: { type: 'integer', minimum: 0 } }, additionalProperties: false },
        default_max_attempts: 3,
        timeout_ms: 86_460_000,
      },
    ],
  ],
});
export type KindWire = Static<typeof KindSchema>;

export const HealthSchema = Type.Object({ status: Type.Literal('ok') }, { additionalProperties: false, examples: [{ status: 'ok' }] });
export const ReadySchema = Type.Object({ status: Type.Literal('ready') }, { additionalProperties: false, examples: [{ status: 'ready' }] });
