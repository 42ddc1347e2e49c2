/**
 * Driver errors become JobqErrors here, at the queue module's edge: a database that cannot answer
 * right now is `database_unavailable` (retry later); anything else is `internal`.
 */
import { JobqError } from '../errors.ts';

/**
 * SQLSTATE classes and codes that mean "the database cannot do this right now; the same statement
 * will work later" rather than "the statement is wrong": connection exceptions (08), operator
 * intervention (57P01-57P05), insufficient resources (53), transaction rollbacks that ask for a retry
 * (a deadlock victim, a serialization failure), a lock or statement timeout, and the client-side
 * socket errors node-postgres reports. Every jobq statement is a guarded compare-and-set or an
 * idempotent insert, so trying it again is always safe.
 */
const UNAVAILABLE_CODES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected: concurrent multi-row updates met in opposite orders; one is rolled back
  '55P03', // lock_not_available (lock_timeout)
  '57014', // query_canceled (statement_timeout)
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '57P05', // idle_session_timeout
  '53300', // too_many_connections
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EPIPE',
  'ENOENT', // a Unix socket that is not there (embedded server stopped)
]);

const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Cannot use a pool after calling end',
  'Client was closed',
  'Query read timeout', // the pool's query_timeout: a database that stopped answering
];

export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
  return UNAVAILABLE_MESSAGES.some((m) => err.message.includes(m));
}

/** Turns anything thrown by the driver into a JobqError, keeping the original as `cause`. */
export function fromDatabaseError(err: unknown): JobqError {
  if (err instanceof JobqError) return err;
  if (isConnectionError(err)) {
    return new JobqError('database_unavailable', 'the database is not reachable or too busy right now; try again', undefined, {
      cause: err,
    });
  }
  return new JobqError('internal', 'an internal error occurred', undefined, { cause: err });
}
