/**
 * Job kinds: a name, a payload schema (TypeBox, so one source serves validation and the API's
 * documentation), defaults, and the handler a worker runs. The registry is open: library users
 * register their own kinds next to the built-in ones.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { Logger } from 'pino';
import { type ErrorDetail, JobqError } from '../errors.ts';
import { KIND_NAME } from '../limits.ts';
import type { JobStatus } from '../statuses.ts';

const KIND_NAME_RE = new RegExp(KIND_NAME.pattern);

export interface HandlerContext {
  /** Aborted when the job is cancelled, times out, or the worker shuts down; `signal.reason` says which. */
  signal: AbortSignal;
  job: { id: string; kind: string; queue: string; attempt: number; maxAttempts: number };
  /** A child logger that carries the job's id. */
  logger: Logger;
  /** Renews the job's lease now (the worker also renews it on its own schedule). */
  heartbeat(): Promise<void>;
  /**
   * Reports how far the job has got: `value` a number from 0 to 1, or `{ current, total }` (value =
   * current / total), and an optional message (at most 500 characters). Stored on the job and sent as
   * a `progress` event. The first report is written at once, later ones at most every 250 ms, the
   * latest always (before the job's outcome). Resolves when stored, or superseded by a later report
   * (never rejects: a report that cannot be stored is logged). Bad input throws at once.
   */
  progress(value: number | { current: number; total: number }, message?: string): Promise<void>;
  /**
   * The jobs this one depends on (`depends_on`), in that order, as they are now: each one's result once
   * it succeeded. Empty for a job without parents. Read once per run, when first asked.
   */
  parents(): Promise<ParentJob[]>;
}

/**
 * A parent as its child's handler reads it. A parent deleted by retention meanwhile (it finished long
 * before its child ran) has kind and status null.
 */
export interface ParentJob {
  id: string;
  kind: string | null;
  status: JobStatus | null;
  result: unknown;
}

/** What a handler returns is stored as the job's `result` (must be JSON-serialisable, or undefined). */
export type JobHandler<P = unknown> = (payload: P, ctx: HandlerContext) => Promise<unknown> | unknown;

export interface KindDefinition<S extends TSchema = TSchema> {
  name: string;
  description?: string;
  payloadSchema: S;
  /** max_attempts when the job does not say. Default 3. */
  defaultMaxAttempts?: number;
  /** Handler timeout when the job does not say. Default 60 s. */
  timeoutMs?: number;
  /**
   * Checks the schema cannot express, run at enqueue once the payload matches the schema: the
   * problems found, with paths relative to the payload (`/headers/Host`); none means valid. Runs on
   * every enqueue of the kind, so keep it cheap.
   */
  checkPayload?: (payload: Static<S>) => ErrorDetail[];
  handler: JobHandler<Static<S>>;
}

/** Thrown by a handler to fail the job at once, without further attempts. */
export class PermanentError extends Error {
  override readonly name = 'PermanentError';
}

export const DEFAULT_MAX_ATTEMPTS = 3;
export const DEFAULT_TIMEOUT_MS = 60_000;

export interface RegisteredKind {
  name: string;
  description: string | undefined;
  payloadSchema: TSchema;
  defaultMaxAttempts: number;
  timeoutMs: number;
  checkPayload: ((payload: unknown) => ErrorDetail[]) | undefined;
  handler: JobHandler;
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export class KindRegistry {
  readonly #kinds = new Map<string, RegisteredKind & { validate: ValidateFunction }>();
  readonly #ajv = addFormats(new Ajv({ allErrors: true, strict: false, coerceTypes: false, useDefaults: false }));

  constructor(kinds: KindDefinition<any>[] = []) {
    for (const k of kinds) this.register(k);
  }

  register<S extends TSchema>(kind: KindDefinition<S>): this {
    if (!KIND_NAME_RE.test(kind.name)) {
      throw new Error(`kind name "${kind.name}" must be lower case letters, digits, _ . or -, starting with a letter`);
    }
    if (this.#kinds.has(kind.name)) throw new Error(`kind "${kind.name}" is already registered`);
    this.#kinds.set(kind.name, {
      name: kind.name,
      description: kind.description,
      payloadSchema: kind.payloadSchema,
      defaultMaxAttempts: kind.defaultMaxAttempts ?? DEFAULT_MAX_ATTEMPTS,
      timeoutMs: kind.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      checkPayload: kind.checkPayload as RegisteredKind['checkPayload'],
      handler: kind.handler as JobHandler,
      validate: this.#ajv.compile(kind.payloadSchema),
    });
    return this;
  }

  get(name: string): RegisteredKind | undefined {
    return this.#kinds.get(name);
  }

  list(): RegisteredKind[] {
    return [...this.#kinds.values()];
  }

  /** Checks a payload against its kind; throws `unknown_kind` or `payload_invalid` naming the fields. */
  validate(kind: string, payload: unknown, pathPrefix = '/payload'): RegisteredKind {
    const entry = this.#kinds.get(kind);
    if (!entry) {
      throw new JobqError('unknown_kind', `unknown kind "${kind}"; known kinds: ${[...this.#kinds.keys()].join(', ')}`, [
        { path: pathPrefix.replace(/payload$/, 'kind'), message: 'not a registered kind' },
      ]);
    }
    if (!entry.validate(payload)) {
      const details = (entry.validate.errors ?? []).map((e) => toDetail(e, pathPrefix));
      throw new JobqError('payload_invalid', `payload does not match the schema of kind "${kind}"`, details);
    }
    const problems = entry.checkPayload?.(payload) ?? [];
    if (problems.length > 0) {
      const details = problems.map((d) => ({ ...d, path: `${pathPrefix}${d.path}` }));
      throw new JobqError('payload_invalid', `payload of kind "${kind}" is invalid: ${problems[0]?.message}`, details);
    }
    return entry;
  }
}

function toDetail(e: ErrorObject, prefix: string): ErrorDetail {
  const missing = e.keyword === 'required' ? `/${String(e.params.missingProperty)}` : '';
  const extra = e.keyword === 'additionalProperties' ? `/${String(e.params.additionalProperty)}` : '';
  return { path: `${prefix}${e.instancePath}${missing}${extra}`, message: e.message ?? 'is invalid' };
}
