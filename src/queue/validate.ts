/** The checks a new job passes before insert, and the small checks and texts the queue shares. */
import { type KindRegistry } from '../kinds/registry.ts';
import { type ErrorDetail, JobqError } from '../errors.ts';
import { storableText } from './results.ts';
import {
  DEBOUNCE_KEY, DEBOUNCE_MS, DEFAULT_QUEUE, GROUP_KEY, IDEMPOTENCY_KEY, INT32_MAX, MAX_ATTEMPTS, MAX_ERROR_LENGTH, PRIORITY, QUEUE_NAME, SINGLETON_KEY,
} from '../limits.ts';
import type { TraceCarrier } from '../tracing.ts';
import type { InsertRow } from './rows.ts';
import type { Job, NewJob } from './types.ts';

const QUEUE_NAME_RE = new RegExp(QUEUE_NAME.pattern);
const GROUP_KEY_RE = new RegExp(GROUP_KEY.pattern);

/**
 * Validates one new job (kind, payload, envelope) and turns it into an insert row, with the trace
 * context to store (`trace`: the enqueue's, tracing.ts captureContext). Throws unknown_kind,
 * payload_invalid or validation_failed; every detail carries the job's `index`.
 */
export function prepareInsert(job: NewJob, index: number, id: string, kinds: KindRegistry, trace: TraceCarrier | null = null): InsertRow {
  const fail = (path: string, message: string): never => {
    throw new JobqError('validation_failed', `invalid job: ${path.slice(1)} ${message}`, [{ path, message, index }]);
  };
  if (job === null || typeof job !== 'object') fail('/', 'must be an object');
  let kind;
  try {
    kind = kinds.validate(job.kind, job.payload);
  } catch (err) {
    if (err instanceof JobqError) throw withIndex(err, index);
    throw err;
  }
  const queue = job.queue ?? DEFAULT_QUEUE;
  if (typeof queue !== 'string' || !QUEUE_NAME_RE.test(queue)) fail('/queue', `must be ${QUEUE_NAME.description}`);
  const priority = job.priority ?? 0;
  if (!isInt(priority, PRIORITY.min, PRIORITY.max)) fail('/priority', 'must be a 32-bit integer');
  const maxAttempts = job.maxAttempts ?? kind.defaultMaxAttempts;
  if (!isInt(maxAttempts, MAX_ATTEMPTS.min, MAX_ATTEMPTS.max)) fail('/max_attempts', `must be an integer from ${MAX_ATTEMPTS.min} to ${MAX_ATTEMPTS.max}`);
  if (job.runAt !== undefined && job.delayMs !== undefined) fail('/run_at', 'cannot be given together with delay_ms');
  if (job.runAt !== undefined && !(job.runAt instanceof Date && Number.isFinite(job.runAt.getTime()))) {
    fail('/run_at', 'must be a valid date');
  }
  const delayMs = job.delayMs ?? 0;
  if (!isInt(delayMs, 0, INT32_MAX)) fail('/delay_ms', 'must be a non-negative integer of milliseconds');
  if (job.timeoutMs !== undefined && !isInt(job.timeoutMs, 1, INT32_MAX)) fail('/timeout_ms', 'must be a positive integer');
  const key = job.idempotencyKey;
  if (key !== undefined && (typeof key !== 'string' || key.length < IDEMPOTENCY_KEY.minLength || key.length > IDEMPOTENCY_KEY.maxLength)) {
    fail('/idempotency_key', `must be a string of ${IDEMPOTENCY_KEY.minLength} to ${IDEMPOTENCY_KEY.maxLength} characters`);
  }
  const group = job.group;
  if (group !== undefined && (typeof group !== 'string' || group.length < GROUP_KEY.minLength || group.length > GROUP_KEY.maxLength || !GROUP_KEY_RE.test(group))) {
    fail('/group', `must be a string of ${GROUP_KEY.minLength} to ${GROUP_KEY.maxLength} characters without control characters`);
  }
  return {
    ord: index,
    id,
    queue,
    kind: job.kind,
    payload: job.payload,
    priority,
    max_attempts: maxAttempts,
    run_at: job.runAt ? job.runAt.toISOString() : null,
    delay_ms: delayMs,
    timeout_ms: job.timeoutMs ?? null,
    idempotency_key: key ?? null,
    group_key: group ?? null,
    trace_context: trace ?? undefined,
  };
}

/** A keyed job's key: a singleton key, or a debounce key with its wait. */
export type JobKey = { singletonKey: string } | { debounceKey: string; debounceMs: number };

/**
 * The singleton or debounce key of a new job (null: neither, the plain enqueue), checked: bounded
 * lengths, debounce_key and debounce_ms together, and neither beside the other key, run_at or
 * delay_ms. Throws validation_failed naming the field, with the job's `index`.
 */
export function prepareKey(job: NewJob, index: number): JobKey | null {
  const { singletonKey, debounceKey, debounceMs } = job;
  if (singletonKey === undefined && debounceKey === undefined && debounceMs === undefined) return null;
  const fail = (path: string, message: string): never => {
    throw new JobqError('validation_failed', `invalid job: ${path.slice(1)} ${message}`, [{ path, message, index }]);
  };
  const checkText = (v: unknown, path: string, bounds: { minLength: number; maxLength: number }) => {
    if (v !== undefined && !(typeof v === 'string' && v.length >= bounds.minLength && v.length <= bounds.maxLength)) {
      fail(path, `must be a string of ${bounds.minLength} to ${bounds.maxLength} characters`);
    }
  };
  checkText(singletonKey, '/singleton_key', SINGLETON_KEY);
  checkText(debounceKey, '/debounce_key', DEBOUNCE_KEY);
  if (debounceMs !== undefined && !isInt(debounceMs, DEBOUNCE_MS.min, DEBOUNCE_MS.max)) {
    fail('/debounce_ms', `must be an integer of milliseconds from ${DEBOUNCE_MS.min} to ${DEBOUNCE_MS.max}`);
  }
  if (singletonKey !== undefined) {
    if (debounceKey !== undefined) fail('/debounce_key', 'cannot be given together with singleton_key');
    if (debounceMs !== undefined) fail('/debounce_ms', 'needs debounce_key, not singleton_key');
    return { singletonKey };
  }
  if (debounceKey === undefined) return fail('/debounce_key', 'is required with debounce_ms');
  if (debounceMs === undefined) return fail('/debounce_ms', 'is required with debounce_key');
  if (job.runAt !== undefined) fail('/run_at', 'cannot be given with debounce_key: the debounce sets run_at');
  if (job.delayMs !== undefined) fail('/delay_ms', 'cannot be given with debounce_key: use debounce_ms');
  return { debounceKey, debounceMs };
}

function withIndex(err: JobqError, index: number): JobqError {
  const details: ErrorDetail[] = (err.details ?? []).map((d) => ({ ...d, index }));
  return new JobqError(err.kind, err.message, details);
}

function isInt(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

/**
 * What an attempt's failure leaves in last_error: the stack when there is one, bounded in length, with
 * any NUL replaced (PostgreSQL text cannot hold one; see results.ts).
 */
export function errorText(error: unknown): string {
  let text: string;
  if (error instanceof Error) text = error.stack && error.stack.includes(error.message) ? error.stack : `${error.name}: ${error.message}`;
  else if (typeof error === 'string') text = error;
  else {
    try {
      text = JSON.stringify(error) ?? String(error);
    } catch {
      text = String(error);
    }
  }
  return storableText(text, MAX_ERROR_LENGTH);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(id: unknown): id is string {
  return typeof id === 'string' && UUID.test(id);
}

/** The error of an idempotency key already used for a job (`jobId`) of another kind or payload. */
export function idempotencyConflict(key: string, jobId: string, index: number): JobqError {
  return new JobqError('idempotency_conflict', `idempotency key "${key}" was used for a job with another kind or payload`, [
    { path: '/idempotency_key', message: `already used by job ${jobId}`, index, job_id: jobId },
  ]);
}

/** Whether a job (the first of a batch to use a key) is what a later entry with that key asks for. */
export function sameJob(job: Job, row: { kind: string; payload: unknown }): boolean {
  return job.kind === row.kind && canonical(job.payload) === canonical(row.payload);
}

/** JSON with object keys sorted, so that key order does not make two payloads differ. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : val,
  );
}
