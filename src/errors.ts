/**
 * The one error type of jobq. Every failure that leaves the queue module is a JobqError with a
 * stable snake_case `kind`; raw driver errors never escape (see `fromDatabaseError`).
 */
export const ERROR_KINDS = [
  'validation_failed',
  'payload_invalid',
  'unknown_kind',
  'idempotency_conflict',
  'invalid_transition',
  'not_found',
  'unauthorized',
  'forbidden',
  'payload_too_large',
  'unsupported_media_type',
  'database_unavailable',
  'too_many_streams',
  'internal',
] as const;

export type ErrorKind = (typeof ERROR_KINDS)[number];

export interface ErrorDetail {
  /** Where the problem is: a JSON pointer into the input (`/payload/to`), or a field name. */
  path: string;
  message: string;
  [extra: string]: unknown;
}

export class JobqError extends Error {
  override readonly name = 'JobqError';

  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly details?: ErrorDetail[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isJobqError(err: unknown, kind?: ErrorKind): err is JobqError {
  return err instanceof JobqError && (kind === undefined || err.kind === kind);
}
