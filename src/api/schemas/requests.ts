/**
 * Request schemas. Envelopes are closed (`additionalProperties: false`): an unknown or misspelt field
 * is a `validation_failed`, never silently dropped. Payloads are checked by their kind's schema in the
 * queue, not here.
 */
import { type Static, Type } from '@sinclair/typebox';
import {
  DEBOUNCE_KEY, DEBOUNCE_MS, DEFAULT_QUEUE, GROUP_KEY, IDEMPOTENCY_KEY, INT32_MAX, KIND_NAME, MAX_ATTEMPTS, MAX_BATCH, MAX_DEPENDS_ON, ON_PARENT_FAILURE, PAGE_SIZE,
  PRIORITY, QUEUE_NAME, SINGLETON_KEY,
} from '../../limits.ts';
import { JobStatusSchema } from './job.ts';

export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
/** A parent in depends_on: a job id, or `#i` for entry i of the same batch. */
const PARENT_PATTERN = '^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|#(0|[1-9][0-9]{0,5}))$';
const QUEUE_PATTERN = QUEUE_NAME.pattern;
const KIND_PATTERN = KIND_NAME.pattern;

export const NewJobSchema = Type.Object(
  {
    kind: Type.String({ minLength: 1, maxLength: KIND_NAME.maxLength, description: 'A registered kind (GET /v1/kinds).' }),
    payload: Type.Unknown({ description: "Checked against the kind's payload schema." }),
    queue: Type.Optional(Type.String({ pattern: QUEUE_PATTERN, description: `Default "${DEFAULT_QUEUE}".` })),
    priority: Type.Optional(Type.Integer({ minimum: PRIORITY.min, maximum: PRIORITY.max, description: 'Higher runs first. Default 0.' })),
    max_attempts: Type.Optional(Type.Integer({ minimum: MAX_ATTEMPTS.min, maximum: MAX_ATTEMPTS.max, description: "Default: the kind's default." })),
    run_at: Type.Optional(
      Type.String({ format: 'date-time', description: 'RFC 3339 with a time zone, 1970..9999; not together with delay_ms. Default now.' }),
    ),
    delay_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: INT32_MAX, description: 'Run after this many milliseconds; not together with run_at.' })),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: INT32_MAX, description: "Handler timeout; default the kind's." })),
    idempotency_key: Type.Optional(
      Type.String({ minLength: IDEMPOTENCY_KEY.minLength, maxLength: IDEMPOTENCY_KEY.maxLength, description: 'Same key, kind and payload: the existing job is returned instead of a new one.' }),
    ),
    group: Type.Optional(
      Type.String({
        minLength: GROUP_KEY.minLength, maxLength: GROUP_KEY.maxLength, pattern: GROUP_KEY.pattern,
        description: "A tenant, customer or account key: the queue's jobs are claimed in turns between groups, and group_concurrency limits each.",
      }),
    ),
    singleton_key: Type.Optional(
      Type.String({
        minLength: SINGLETON_KEY.minLength,
        maxLength: SINGLETON_KEY.maxLength,
        description:
          'At most one job with this key is queued, retrying or running at a time: while one is, it is returned (200, `Singleton-Existing: true`) ' +
          'whatever its kind or payload. Free again once that job finished. Global across queues. Not with debounce_key.',
      }),
    ),
    debounce_key: Type.Optional(
      Type.String({
        minLength: DEBOUNCE_KEY.minLength,
        maxLength: DEBOUNCE_KEY.maxLength,
        description:
          'With debounce_ms: a job with this key still queued and never claimed is rewritten with this request (kind, payload, queue, priority, ' +
          'max_attempts, timeout_ms) and runs debounce_ms from now (200, `Debounced: true`); without one, a new job runs debounce_ms from now. ' +
          'Global across queues. Not with singleton_key, run_at or delay_ms.',
      }),
    ),
    debounce_ms: Type.Optional(
      Type.Integer({ minimum: DEBOUNCE_MS.min, maximum: DEBOUNCE_MS.max, description: 'How long a debounced job waits after the latest enqueue with its key; required with debounce_key.' }),
    ),
    depends_on: Type.Optional(
      Type.Array(Type.String({ pattern: PARENT_PATTERN }), {
        minItems: 1,
        maxItems: MAX_DEPENDS_ON,
        uniqueItems: true,
        description:
          'Parents: the job waits (status `waiting`) until each has succeeded, then is queued in the same transaction as the last one\'s completion. ' +
          'Ids of existing jobs or, in a batch, `#i` for the batch\'s entry i (an earlier entry only: no cycle can be made). Not with singleton_key or debounce_key. See docs/flows.md.',
        examples: [['01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f'], ['#0', '#1']],
      }),
    ),
    on_parent_failure: Type.Optional(
      Type.Unsafe<(typeof ON_PARENT_FAILURE)[number]>({
        type: 'string',
        enum: [...ON_PARENT_FAILURE],
        description:
          'When a parent ends failed_permanent or cancelled: `cancel` (default) cancels this job and its waiting descendants that say `cancel`; ' +
          '`run` counts that parent as settled. Only with depends_on.',
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      {
        kind: 'send_email',
        payload: { to: 'ada@example.com', subject: 'Welcome', body: 'Hello Ada!' },
        queue: 'mail',
        priority: 5,
        max_attempts: 5,
        delay_ms: 60_000,
        idempotency_key: 'signup-42',
      },
    ],
  },
);
export type NewJobWire = Static<typeof NewJobSchema>;

/**
 * The caller's W3C Trace Context (README, "Tracing"), read by the enqueue routes when an OpenTelemetry
 * SDK is registered. Free strings: a malformed value is ignored (the enqueue starts a trace of its
 * own), never refused, as the W3C recommendation has it.
 */
const TraceHeaders = {
  traceparent: Type.Optional(Type.String({ description: 'W3C Trace Context: the enqueue\'s span is a child of this one, and the job\'s run continues the trace. Ignored when malformed, or when no OpenTelemetry SDK is registered.' })),
  tracestate: Type.Optional(Type.String({ description: 'W3C Trace Context: vendor state carried along with traceparent.' })),
};

export const CreateJobHeadersSchema = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ pattern: `^[\\x21-\\x7E]([\\x20-\\x7E]{0,${IDEMPOTENCY_KEY.maxLength - 2}}[\\x21-\\x7E])?$`, description: `Same as the body field idempotency_key (printable ASCII, ${IDEMPOTENCY_KEY.minLength}-${IDEMPOTENCY_KEY.maxLength}); when both are given they must agree.` }),
  ),
  ...TraceHeaders,
});

export const CreateJobsHeadersSchema = Type.Object(TraceHeaders);

export const BatchRequestSchema = Type.Object(
  {
    jobs: Type.Array(NewJobSchema, { minItems: 1, maxItems: MAX_BATCH, description: 'Inserted all or nothing, in this order.' }),
  },
  {
    additionalProperties: false,
    examples: [
      {
        jobs: [
          { kind: 'summarize_text', payload: { text: 'First sentence. Second one.', max_sentences: 1 } },
          { kind: 'noop', payload: { sleep_ms: 10 }, priority: -1 },
        ],
      },
      {
        jobs: [
          { kind: 'noop', payload: { sleep_ms: 500 } },
          { kind: 'summarize_text', payload: { text: 'First report. It is long.' }, depends_on: ['#0'] },
          { kind: 'summarize_text', payload: { text: 'Second report. Also long.' }, depends_on: ['#0'] },
          { kind: 'send_email', payload: { to: 'ops@example.com', subject: 'Reports', body: 'Both summarised' }, depends_on: ['#1', '#2'], on_parent_failure: 'run' },
        ],
      },
    ],
  },
);
export type BatchRequestWire = Static<typeof BatchRequestSchema>;

export const JobIdParamsSchema = Type.Object({
  id: Type.String({ format: 'uuid', pattern: UUID_PATTERN, description: 'Job id.', examples: ['01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f'] }),
});

export const ListQuerySchema = Type.Object(
  {
    status: Type.Optional(JobStatusSchema),
    kind: Type.Optional(Type.String({ pattern: KIND_PATTERN })),
    queue: Type.Optional(Type.String({ pattern: QUEUE_PATTERN })),
    group: Type.Optional(Type.String({ minLength: GROUP_KEY.minLength, maxLength: GROUP_KEY.maxLength, pattern: GROUP_KEY.pattern, description: 'Jobs of this group.' })),
    idempotency_key: Type.Optional(
      Type.String({ minLength: IDEMPOTENCY_KEY.minLength, maxLength: IDEMPOTENCY_KEY.maxLength, description: 'The job holding this key: the page is that job (when it matches the other filters) or empty.' }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: PAGE_SIZE.max, default: PAGE_SIZE.default, description: `Jobs per page, 1..${PAGE_SIZE.max}. Default ${PAGE_SIZE.default}.` })),
    cursor: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,200}$', description: 'next_cursor of the previous page.' })),
  },
  { additionalProperties: false },
);
export type ListQueryWire = Static<typeof ListQuerySchema>;
