/** A handler context as the worker builds one, for calling a kind's handler directly. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { HandlerContext } from '../../src/kinds/registry.ts';

/** The job id every fake context carries (a UUID v7, so usable as an outbox file name). */
export const FAKE_JOB_ID = '0190f5c2-7d6e-7abc-9def-0123456789ab';

/**
 * Attempt 1 of 5 of job FAKE_JOB_ID; aborted through `controller`. The logger writes every line
 * (trace and up), so each log call a handler makes really runs; the lines are kept in `logs` if given.
 */
export function fakeCtx(opts: { controller?: AbortController; logs?: string[] } = {}): HandlerContext {
  const sink = new Writable({
    write(chunk, _enc, cb) {
      opts.logs?.push(String(chunk));
      cb();
    },
  });
  return {
    signal: (opts.controller ?? new AbortController()).signal,
    job: { id: FAKE_JOB_ID, kind: 'fake', queue: 'default', attempt: 1, maxAttempts: 5 },
    logger: pino({ level: 'trace' }, sink),
    heartbeat: async () => {},
    progress: async () => {},
    parents: async () => [],
  };
}
