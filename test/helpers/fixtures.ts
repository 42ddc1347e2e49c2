/**
 * The one import for test fixtures. Each part lives in its own file here:
 *   db.ts            a fresh migrated database per test, a Queue on it, the built-in kinds
 *   events.ts        a client LISTENing on job events, a sentinel notification, a statement counter
 *   jobs.ts          new jobs for the queue's API (noopJob, emailJob)
 *   poll.ts          eventually (poll until a deadline), waitForStatus, deferred
 *   worker.ts        in-process workers on a fresh database (setup), the probe kind, a silent logger
 *   api.ts           the API on a fresh database (buildTestApp), and readers of its answers
 *   kind-context.ts  a fake handler context, for calling a kind's handler directly
 *   smtp.ts          a real SMTP server that keeps what it receives, and a message parser
 * (test/helpers/run-tests.ts runs the suite and blocking-worker.ts is a process the tests start:
 * neither is a fixture.)
 */
export * from './api.ts';
export * from './db.ts';
export * from './events.ts';
export * from './jobs.ts';
export * from './kind-context.ts';
export * from './poll.ts';
export * from './smtp.ts';
export * from './worker.ts';
export * from './queue.ts';
