/** Builds the API on a fresh real database for a test, and small helpers to read its answers. */
import assert from 'node:assert/strict';
import { after } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { type ApiOptions, buildApp } from '../../src/api/app.ts';
import { STATUS_OF_KIND } from '../../src/api/schemas/errors.ts';
import { ERROR_KINDS, type ErrorKind } from '../../src/errors.ts';
import { EventHub, type HubOptions } from '../../src/events/index.ts';
import { silent } from './worker.ts';
import type { Queue } from '../../src/queue/queue.ts';
import { freshQueue, type TestDatabase } from './db.ts';

export type TestAppOptions = Partial<Omit<ApiOptions, 'config' | 'queue'>> & {
  config?: Partial<ApiOptions['config']>;
  queue?: Queue;
  /** Settings of the event hub made for an app on a fresh database (tests give short intervals). */
  hubOptions?: Partial<HubOptions>;
};

export interface TestApp {
  app: FastifyInstance;
  queue: Queue;
  db: TestDatabase | undefined;
  /** The app's event hub: `opts.hub`, or one on the fresh database (idle until a stream or a wait opens). */
  hub: EventHub | undefined;
}

export const JOB_KEYS = [
  'id', 'queue', 'kind', 'payload', 'status', 'priority', 'attempts', 'max_attempts', 'run_at', 'locked_by', 'locked_at',
  'cancel_requested', 'idempotency_key', 'group', 'singleton_key', 'debounce_key', 'depends_on', 'on_parent_failure', 'last_error', 'result', 'created_at', 'updated_at', 'started_at', 'finished_at', 'timeout_ms', 'errors', 'progress',
];
export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
export const UNKNOWN_ID = '01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f';

export const DEFAULT_CONFIG: ApiOptions['config'] = { apiKeys: [], metricsAuth: false, bodyLimit: 1_048_576 };

/** The app on a fresh database (or on `opts.queue`), closed after the calling test or file; its hub closes after it. */
export async function buildTestApp(opts: TestAppOptions = {}): Promise<TestApp> {
  let db: TestDatabase | undefined;
  let queue = opts.queue;
  if (!queue) ({ queue, db } = await freshQueue());
  const hub = opts.hub ?? (db ? new EventHub({ url: db.listenUrl ?? db.url, db: db.pool, logger: silent, ...opts.hubOptions }) : undefined);
  const app = await buildApp({ ready: async () => true, ...opts, hub, queue, config: { ...DEFAULT_CONFIG, ...opts.config } });
  after(async () => {
    await app.close();
    await hub?.close();
  });
  return { app, queue, db, hub };
}

/** Listens on 127.0.0.1, a free port; returns the base URL. */
export async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  assert.ok(address && typeof address === 'object');
  return `http://127.0.0.1:${address.port}`;
}

export const email = (extra: Record<string, unknown> = {}) => ({
  kind: 'send_email',
  payload: { to: 'ada@example.com', subject: 'Welcome', body: 'Hello Ada!' },
  ...extra,
});

export function body<T = any>(res: LightMyRequestResponse): T {
  return JSON.parse(res.body) as T;
}

export interface ErrorBody {
  error: { kind: ErrorKind; message: string; details?: { path: string; message: string; index?: number; [k: string]: unknown }[] };
}

/** Checks the error format: the status of the kind, a message, details when present; returns the body. */
export function assertErrorBody(status: number, text: string, kind?: ErrorKind): ErrorBody {
  let parsed: ErrorBody;
  try {
    parsed = JSON.parse(text) as ErrorBody;
  } catch {
    assert.fail(`not JSON: ${text.slice(0, 200)}`);
  }
  assert.deepEqual(Object.keys(parsed), ['error'], text);
  const e = parsed.error;
  assert.ok((ERROR_KINDS as readonly string[]).includes(e.kind), `unknown kind in ${text}`);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  assert.equal(STATUS_OF_KIND[e.kind], status, `status ${status} for kind ${e.kind}`);
  for (const key of Object.keys(e)) assert.ok(['kind', 'message', 'details'].includes(key), `unexpected ${key}`);
  if (e.details !== undefined) {
    assert.ok(Array.isArray(e.details) && e.details.length > 0);
    for (const d of e.details) {
      assert.equal(typeof d.path, 'string');
      assert.equal(typeof d.message, 'string');
    }
  }
  if (kind) assert.equal(e.kind, kind, text);
  return parsed;
}

export function assertError(res: LightMyRequestResponse, status: number, kind: ErrorKind): ErrorBody {
  assert.equal(res.statusCode, status, res.body);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  return assertErrorBody(res.statusCode, res.body, kind);
}
