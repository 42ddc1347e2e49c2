/**
 * Recurring jobs on the wire (issue #18): PUT, GET and DELETE /v1/schedules/{name}, GET /v1/schedules,
 * POST /v1/schedules/{name}/trigger, and the schedules file read at start (`--schedules`), whose entries
 * are a PUT body plus the name. The fields are declared once (SCHEDULE_FIELDS) for both.
 * What a shape cannot say (a cron expression that parses, a time zone that exists, exactly one of cron
 * and every, a payload valid for its kind) the queue checks, naming the field the same way.
 */
import { type Static, Type } from '@sinclair/typebox';
import { CATCH_UP_LIMIT, INT32_MAX, KIND_NAME, MAX_ATTEMPTS, PRIORITY, QUEUE_NAME, SCHEDULE_EVERY_MS, SCHEDULE_NAME, SCHEDULE_PAGE_SIZE } from '../../limits.ts';
// schedule-types.ts, not queue/types.ts: the client's types must not reach pg's (test/package).
import { CATCH_UPS, type CatchUp } from '../../queue/schedule-types.ts';
import { EXAMPLE_JOB, JobStatusSchema, Nullable, Ref, Timestamp } from './job.ts';

const ScheduleNameSchema = Type.String({ pattern: SCHEDULE_NAME.pattern, description: `Schedule name (${SCHEDULE_NAME.description}).`, examples: ['nightly-report'] });

export const ScheduleNameParamsSchema = Type.Object({ name: ScheduleNameSchema });

const CatchUpSchema = Type.Unsafe<CatchUp>({
  type: 'string',
  enum: [...CATCH_UPS],
  description:
    'When the first unfired tick is over 60 s late (no worker ran): skip fires none of the missed ticks, latest only the most recent, ' +
    'all the latest catch_up_limit of them. Default skip.',
});

/** The job each tick enqueues (checked against its kind's schema when the schedule is saved). */
export const ScheduleJobInputSchema = Type.Object(
  {
    kind: Type.String({ minLength: 1, maxLength: KIND_NAME.maxLength, description: 'A registered kind (GET /v1/kinds).' }),
    payload: Type.Unknown({ description: "Checked against the kind's payload schema (as POST /v1/jobs requires it)." }),
    queue: Type.Optional(Type.String({ pattern: QUEUE_NAME.pattern, description: 'Default "default".' })),
    priority: Type.Optional(Type.Integer({ minimum: PRIORITY.min, maximum: PRIORITY.max, description: 'Higher runs first. Default 0.' })),
    max_attempts: Type.Optional(Type.Integer({ minimum: MAX_ATTEMPTS.min, maximum: MAX_ATTEMPTS.max, description: "Default: the kind's default." })),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: INT32_MAX, description: "Handler timeout; default the kind's." })),
  },
  { additionalProperties: false },
);

/** The fields of a schedule as sent: a PUT body, or a file entry beside its name. */
const SCHEDULE_FIELDS = {
  cron: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'Five fields (minute hour day month weekday), six (seconds first), or @yearly @monthly @weekly @daily @hourly. Give this or every.',
      examples: ['0 3 * * *'],
    }),
  ),
  every: Type.Optional(
    Type.Union([Type.String({ minLength: 1, maxLength: 100 }), Type.Integer({ minimum: SCHEDULE_EVERY_MS.min, maximum: SCHEDULE_EVERY_MS.max })], {
      description:
        'A fixed interval: a duration ("30s", "5m", "1h") or whole milliseconds, from 1 s to 366 days; ticks are its multiples since ' +
        '1970-01-01T00:00:00Z (every 1h fires on the hour). Give this or cron.',
    }),
  ),
  timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone the cron expression is read in. Default UTC.', examples: ['Europe/Berlin'] })),
  job: ScheduleJobInputSchema,
  enabled: Type.Optional(Type.Boolean({ description: 'false: the schedule is kept but fires nothing (trigger still runs it). Default true.' })),
  catch_up: Type.Optional(CatchUpSchema),
  catch_up_limit: Type.Optional(
    Type.Integer({ minimum: CATCH_UP_LIMIT.min, maximum: CATCH_UP_LIMIT.max, description: `At most this many missed ticks with catch_up all. Default ${CATCH_UP_LIMIT.default}.` }),
  ),
};

const EXAMPLE_BODY = {
  cron: '0 3 * * *',
  timezone: 'Europe/Berlin',
  job: { kind: 'send_email', payload: { to: 'ops@example.com', subject: 'Nightly report', body: 'See the dashboard.' }, queue: 'mail' },
  catch_up: 'latest',
};

export const SetScheduleBodySchema = Type.Object(SCHEDULE_FIELDS, {
  additionalProperties: false,
  description: 'The whole schedule: it replaces the one of that name (a field left out takes its default).',
  examples: [EXAMPLE_BODY, { every: '30s', job: { kind: 'noop', payload: {} } }],
});
export type SetScheduleWire = Static<typeof SetScheduleBodySchema>;

/** One entry of a schedules file: the name, then what a PUT body holds. */
export const ScheduleFileEntrySchema = Type.Object({ name: ScheduleNameSchema, ...SCHEDULE_FIELDS }, { additionalProperties: false });
export type ScheduleFileEntryWire = Static<typeof ScheduleFileEntrySchema>;
export const ScheduleFileSchema = Type.Object(
  { schedules: Type.Array(ScheduleFileEntrySchema, { description: 'Every schedule the file owns; one the file no longer lists is removed at the next start.' }) },
  { additionalProperties: false },
);
export type ScheduleFileWire = Static<typeof ScheduleFileSchema>;

const EXAMPLE_SCHEDULE = {
  name: 'nightly-report',
  cron: '0 3 * * *',
  every: null,
  every_ms: null,
  timezone: 'Europe/Berlin',
  job: { kind: 'send_email', payload: EXAMPLE_BODY.job.payload, queue: 'mail', priority: 0, max_attempts: null, timeout_ms: null },
  enabled: true,
  catch_up: 'latest',
  catch_up_limit: 100,
  source: 'api',
  next_fire_at: '2025-02-01T02:00:00.000Z',
  last_fire_at: '2025-01-31T02:00:00.000Z',
  last_job: { id: EXAMPLE_JOB.id, status: 'succeeded' },
  fires: 12,
  created_at: '2025-01-20T09:30:00.000Z',
  updated_at: '2025-01-20T09:30:00.000Z',
};

export const ScheduleSchema = Type.Object(
  {
    name: Type.String(),
    cron: Nullable(Type.String({ description: 'The cron expression; null for an interval schedule.' })),
    every: Nullable(Type.String({ description: 'The interval in its largest whole unit ("90m", "1h"); null for a cron schedule.' })),
    every_ms: Nullable(Type.Integer({ minimum: SCHEDULE_EVERY_MS.min, description: 'The interval in milliseconds; null for a cron schedule.' })),
    timezone: Type.String(),
    job: Type.Object(
      {
        kind: Type.String(),
        payload: Type.Unknown(),
        queue: Type.String(),
        priority: Type.Integer(),
        max_attempts: Nullable(Type.Integer({ minimum: 1, description: "null: the kind's default." })),
        timeout_ms: Nullable(Type.Integer({ minimum: 1, description: "null: the kind's default." })),
      },
      { additionalProperties: false, description: 'The job each tick enqueues.' },
    ),
    enabled: Type.Boolean(),
    catch_up: CatchUpSchema,
    catch_up_limit: Type.Integer({ minimum: CATCH_UP_LIMIT.min }),
    source: Type.Unsafe<'api' | 'file'>({
      type: 'string',
      enum: ['api', 'file'],
      description: 'file: listed in the schedules file of a jobq process (--schedules), whose next start may change or remove it.',
    }),
    next_fire_at: Nullable({ ...Timestamp, description: 'The next tick; null while disabled.' }),
    last_fire_at: Nullable({ ...Timestamp, description: 'The last tick fired; null before the first.' }),
    last_job: Nullable(
      Type.Object(
        { id: Type.String({ format: 'uuid' }), status: Nullable(JobStatusSchema) },
        { additionalProperties: false, description: 'The job of the last tick fired or trigger; its status null once the job was pruned.' },
      ),
    ),
    fires: Type.Integer({ minimum: 0, description: 'Ticks fired so far.' }),
    created_at: Timestamp,
    updated_at: Timestamp,
  },
  { $id: 'Schedule', additionalProperties: false, description: 'A recurring job.', examples: [EXAMPLE_SCHEDULE] },
);
export type ScheduleWire = Static<typeof ScheduleSchema>;

export const ScheduleSavedSchema = Type.Object(
  {
    schedule: Ref(ScheduleSchema),
    created: Type.Boolean({ description: 'No schedule had this name before.' }),
    changed: Type.Boolean({ description: 'false: the schedule was already exactly this (nothing was written).' }),
  },
  { additionalProperties: false, examples: [{ schedule: EXAMPLE_SCHEDULE, created: true, changed: true }] },
);
export type ScheduleSavedWire = Static<typeof ScheduleSavedSchema>;

export const ScheduleListQuerySchema = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({ minimum: 1, maximum: SCHEDULE_PAGE_SIZE.max, default: SCHEDULE_PAGE_SIZE.default, description: `Schedules per page, 1..${SCHEDULE_PAGE_SIZE.max}. Default ${SCHEDULE_PAGE_SIZE.default}.` }),
    ),
    cursor: Type.Optional(Type.String({ pattern: SCHEDULE_NAME.pattern, description: 'next_cursor of the previous page.' })),
  },
  { additionalProperties: false },
);
export type ScheduleListQueryWire = Static<typeof ScheduleListQuerySchema>;

export const ScheduleListSchema = Type.Object(
  {
    schedules: Type.Array(Ref(ScheduleSchema), { description: 'By name.' }),
    next_cursor: Nullable(Type.String({ description: 'Pass as `cursor` for the next page; null on the last page.' })),
  },
  { additionalProperties: false, examples: [{ schedules: [EXAMPLE_SCHEDULE], next_cursor: null }] },
);
export type ScheduleListWire = Static<typeof ScheduleListSchema>;
