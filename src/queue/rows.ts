/** Rows as the database returns them, and their mapping to the job model. */
import { JobqError } from '../errors.ts';
import { asCarrier, type TraceCarrier } from '../tracing.ts';
import type { InsertedRow } from './statements/enqueue.ts';
import type { AttemptError, ClaimedJob, Job, JobStatus, OnParentFailure, StoredProgress } from './types.ts';

export interface JobRow {
  id: string;
  queue: string;
  kind: string;
  payload: unknown;
  status: JobStatus;
  priority: number;
  attempts: number;
  max_attempts: number;
  run_at: Date;
  timeout_ms: number | null;
  locked_by: string | null;
  locked_at: Date | null;
  started_at: Date | null;
  /** bigint: node-postgres reads it as a string. */
  claim_seq: string | number | null;
  cancel_requested: boolean;
  idempotency_key: string | null;
  group_key: string | null;
  singleton_key: string | null;
  debounce_key: string | null;
  /** Absent from rows of statements that do not read them (the plain insert's). */
  depends_on?: string[] | null;
  on_parent_failure?: OnParentFailure | null;
  last_error: string | null;
  errors: AttemptError[];
  backoff_ms: number | null;
  result: unknown;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
  progress: StoredProgress | null;
}

export function toJob(r: JobRow): Job {
  return {
    id: r.id,
    queue: r.queue,
    kind: r.kind,
    payload: r.payload,
    status: r.status,
    priority: r.priority,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    runAt: r.run_at,
    timeoutMs: r.timeout_ms,
    lockedBy: r.locked_by,
    lockedAt: r.locked_at,
    startedAt: r.started_at,
    claimSeq: r.claim_seq === null || r.claim_seq === undefined ? null : Number(r.claim_seq),
    cancelRequested: r.cancel_requested,
    idempotencyKey: r.idempotency_key,
    group: r.group_key ?? null,
    singletonKey: r.singleton_key,
    debounceKey: r.debounce_key,
    dependsOn: r.depends_on ?? null,
    onParentFailure: r.on_parent_failure ?? null,
    lastError: r.last_error,
    errors: r.errors,
    backoffMs: r.backoff_ms,
    result: r.result,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
    progress: r.progress ?? null,
  };
}

/**
 * The job an insert made: the input row (its payload as JSON gives it back, the same value the jsonb
 * column holds) plus what `insert` returned; every other column has its default. The enqueue tests
 * compare this with the stored row, so a new column default cannot drift apart unseen.
 */
export function newJobFromInsert(input: InsertRow, payload: unknown, r: InsertedRow): Job {
  return {
    id: r.id,
    queue: input.queue,
    kind: input.kind,
    payload,
    status: 'queued',
    priority: input.priority,
    attempts: 0,
    maxAttempts: input.max_attempts,
    runAt: new Date(r.run_at_ms),
    timeoutMs: input.timeout_ms,
    lockedBy: null,
    lockedAt: null,
    startedAt: null,
    claimSeq: null,
    cancelRequested: false,
    idempotencyKey: input.idempotency_key,
    group: input.group_key,
    singletonKey: null,
    debounceKey: null,
    dependsOn: null,
    onParentFailure: null,
    lastError: null,
    errors: [],
    backoffMs: null,
    result: null,
    createdAt: new Date(r.created_at_ms),
    updatedAt: new Date(r.created_at_ms),
    finishedAt: null,
    progress: null,
  };
}

/** A row of the worker's claim (statements/claim.ts). */
export interface ClaimedRow {
  id: string;
  queue: string;
  kind: string;
  payload: unknown;
  priority: number;
  attempts: number;
  max_attempts: number;
  timeout_ms: number | null;
  backoff_ms: number | null;
  started_at_ms: number | null;
  run_at_ms: number;
  claim_seq: number;
  /** Absent from jobq.claim's rows: it never claims a job that carries a group. */
  group_key?: string | null;
  /** The enqueue's trace context (jsonb), or null. */
  trace_context: unknown;
}

export function toClaimedJob(r: ClaimedRow): ClaimedJob {
  return {
    id: r.id,
    queue: r.queue,
    kind: r.kind,
    payload: r.payload,
    priority: r.priority,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    runAt: new Date(r.run_at_ms),
    timeoutMs: r.timeout_ms,
    backoffMs: r.backoff_ms,
    startedAt: r.started_at_ms === null ? null : new Date(r.started_at_ms),
    group: r.group_key ?? null,
    claimSeq: r.claim_seq,
    traceContext: r.trace_context === null ? null : asCarrier(r.trace_context),
    // Present from the start (set by the worker later), so that every claimed job has one shape.
    launchedAtMs: undefined,
  };
}

/** The shape one job takes inside `insert`'s JSON input. */
export interface InsertRow {
  ord: number;
  id: string;
  queue: string;
  kind: string;
  payload: unknown;
  priority: number;
  max_attempts: number;
  run_at: string | null;
  delay_ms: number;
  timeout_ms: number | null;
  idempotency_key: string | null;
  group_key: string | null;
  /** The enqueue's trace context (tracing.ts captureContext); undefined, so left out of the JSON, when none. */
  trace_context: TraceCarrier | undefined;
  /**
   * A row whatever the log store (log/statements.ts insertRouted): an entry of a batch whose later
   * entries depend on it (flows settle their parents as rows). Undefined, so left out of the JSON, otherwise.
   */
  row_store?: true;
}

/** A row's JSON for INSERT, or why it has none: its own payload is not JSON, or too large to serialise. */
export function rowJson(row: InsertRow): string | JobqError {
  try {
    return JSON.stringify(row);
  } catch (err) {
    if (err instanceof RangeError && /string length/i.test(err.message)) {
      return new JobqError('payload_too_large', 'payload is too large to enqueue', [{ path: '/payload', message: 'too large to serialise', index: row.ord }]);
    }
    return new JobqError('payload_invalid', 'payload is not serialisable as JSON', [{ path: '/payload', message: 'not JSON', index: row.ord }]);
  }
}
