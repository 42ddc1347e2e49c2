/**
 * Every bound of jobq's contract, in one place. The queue's validation (src/queue/validate.ts) and the
 * API's TypeBox schemas (src/api/schemas/) are both built from these, so the library and the HTTP API
 * accept exactly the same jobs: change a limit here and both follow.
 */

/** PostgreSQL `integer`: priority, delay_ms and timeout_ms are stored as one. */
export const INT32_MAX = 2_147_483_647;

/** A queue name: 1-128 letters, digits or `_ . : -`. */
export const QUEUE_NAME = { pattern: '^[A-Za-z0-9_.:-]{1,128}$', description: '1-128 letters, digits or _ . : -' } as const;

/** A kind name: a lower-case letter, then up to 127 of `a-z 0-9 _ . -`. */
export const KIND_NAME = { pattern: '^[a-z][a-z0-9_.-]{0,127}$', maxLength: 128 } as const;

/** The default queue of a job that names none. */
export const DEFAULT_QUEUE = 'default';

/** Attempts a job may be given (`max_attempts`). */
export const MAX_ATTEMPTS = { min: 1, max: 100 } as const;

/** Priority: any 32-bit integer; higher runs first. */
export const PRIORITY = { min: -INT32_MAX, max: INT32_MAX } as const;

/** An idempotency key: 1-255 characters (the HTTP header: printable ASCII). */
export const IDEMPOTENCY_KEY = { minLength: 1, maxLength: 255 } as const;

/**
 * A singleton key and a debounce key: 1-255 characters, as an idempotency key (docs/lifecycle.md,
 * "Singleton and debounce keys").
 */
export const SINGLETON_KEY = { minLength: 1, maxLength: 255 } as const;
export const DEBOUNCE_KEY = { minLength: 1, maxLength: 255 } as const;

/** debounce_ms: how long a debounced job waits after the latest enqueue with its key (0: no wait). */
export const DEBOUNCE_MS = { min: 0, max: INT32_MAX } as const;

/** Jobs in one `enqueueMany` call or `POST /v1/jobs/batch`. */
export const MAX_BATCH = 1000;

/** Jobs on one page of a listing, and the default. */
export const PAGE_SIZE = { max: 500, default: 50 } as const;

/** How many attempt errors a job keeps (newest last). */
export const ERROR_HISTORY = 10; // also in src/queue/log/jobs.sql (jobq.log_errors)

/** last_error and each history entry are cut to this many characters. */
export const MAX_ERROR_LENGTH = 8_000;

/** A job's group (`group`, a tenant or account key): 1-128 characters, no control characters. */
export const GROUP_KEY = { minLength: 1, maxLength: 128, pattern: '^[^\\u0000-\\u001F\\u007F]+$' } as const;

/** Queue policies (PUT /v1/queues/{name}): a concurrency or group_concurrency limit, a rate's limit and period. */
export const QUEUE_LIMIT = { min: 1, max: 1_000_000 } as const;
export const RATE_PERIOD_MS = { min: 1, max: INT32_MAX } as const;

/** Queues on one page of `GET /v1/queues`, and the default. */
export const QUEUE_PAGE_SIZE = { max: 1000, default: 100 } as const;

/** Recurring jobs (issue #18): a schedule's name, an interval (`every`), catch_up_limit, and schedules on one page of `GET /v1/schedules`. */
export const SCHEDULE_NAME = { pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$', description: '1-128 letters, digits or _ . : -, starting with a letter or digit' } as const;
export const SCHEDULE_EVERY_MS = { min: 1_000, max: 366 * 86_400_000 } as const;
export const CATCH_UP_LIMIT = { min: 1, max: 1000, default: 100 } as const;
export const SCHEDULE_PAGE_SIZE = { max: 1000, default: 100 } as const;

/** The dashboard's reads (issue #20): a job's children per page (GET /v1/jobs/{id}/children), minutes of throughput (GET /v1/stats/throughput). */
export const CHILDREN_PAGE_SIZE = { max: 500, default: 100 } as const;
export const THROUGHPUT_MINUTES = { min: 1, max: 60, default: 30 } as const;

/**
 * Job dependencies (docs/flows.md): the most parents one job may name (`depends_on`), so that a batch's
 * last job can wait for all the others; and what a parent that fails or is cancelled does to its child.
 */
export const MAX_DEPENDS_ON = 1000;
export const ON_PARENT_FAILURE = ['cancel', 'run'] as const;
export type OnParentFailure = (typeof ON_PARENT_FAILURE)[number];

/**
 * Live events (issue #19): the values a stream's filter may hold (GET /v1/events: job ids, and of each
 * other field, queue, kind and group), and the longest long-poll (GET /v1/jobs/{id}?wait=).
 */
export const EVENT_FILTER = { ids: 100, values: 20 } as const;
export const LONG_POLL_MS = { max: 120_000 } as const;
