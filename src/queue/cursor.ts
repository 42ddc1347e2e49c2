/** The listing's cursor: opaque to clients, the id of the row a page continues after. */
import { JobqError } from '../errors.ts';
import { isUuid } from './validate.ts';

export function encodeCursor(id: string): string {
  return Buffer.from(id).toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString();
  if (!isUuid(id)) throw new JobqError('validation_failed', 'cursor is not one this server issued', [{ path: '/cursor', message: 'invalid cursor' }]);
  return id;
}
