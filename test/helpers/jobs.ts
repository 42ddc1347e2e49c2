/** New jobs for the queue's own API (camelCase NewJob; the API's wire form is `email` in api.ts). */
import type { NewJob } from '../../src/queue/types.ts';

export const noopJob = (extra: Partial<NewJob> = {}): NewJob => ({ kind: 'noop', payload: {}, ...extra });

/** A valid send_email job (its kind's default max_attempts is 3). */
export const emailJob = (extra: Partial<NewJob> = {}): NewJob => ({ kind: 'send_email', payload: { to: 'a@b.c', subject: 'hi', body: 'hello' }, ...extra });
