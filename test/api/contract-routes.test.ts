/**
 * Issue #4's table, row by row, through app.inject: reading, listing, cancelling, retrying, the system
 * routes, and the mapping of every other failure to the error body.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, test } from 'node:test';
import type { ApiEvents, RequestEvent } from '../../src/api/app.ts';
import { assertError, body, buildTestApp, deferred, email, ISO_UTC, UNKNOWN_ID } from '../helpers/fixtures.ts';

const json = { 'content-type': 'application/json' };

describe('GET /v1/jobs/:id', () => {
  test('200 with the job; 404 not_found; 400 validation_failed for a non-UUID', async () => {
    const { app } = await buildTestApp();
    const created = body(await app.inject({ method: 'POST', url: '/v1/jobs', payload: email() }));
    const res = await app.inject({ url: `/v1/jobs/${created.id}` });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(body(res), created);
    const missing = assertError(await app.inject({ url: `/v1/jobs/${UNKNOWN_ID}` }), 404, 'not_found');
    assert.match(missing.error.message, new RegExp(UNKNOWN_ID));
    for (const id of ['123', `urn:uuid:${UNKNOWN_ID}`, `${UNKNOWN_ID}x`]) {
      const e = assertError(await app.inject({ url: `/v1/jobs/${encodeURIComponent(id)}` }), 400, 'validation_failed');
      assert.equal(e.error.details?.[0]?.path, '/id');
    }
  });

  test('a failed attempt shows in errors with RFC 3339 UTC timestamps', async () => {
    const { app, queue } = await buildTestApp();
    const created = body(await app.inject({ method: 'POST', url: '/v1/jobs', payload: email() }));
    await queue.claim('w1');
    await queue.markFailedOrRetry(created.id, new Error('smtp down'), { workerId: 'w1', permanent: true });
    const job = body(await app.inject({ url: `/v1/jobs/${created.id}` }));
    assert.equal(job.status, 'failed_permanent');
    assert.equal(job.errors.length, 1);
    assert.match(job.errors[0].at, ISO_UTC);
    assert.equal(job.errors[0].attempt, 1);
    assert.match(job.errors[0].error, /smtp down/);
    assert.match(job.finished_at, ISO_UTC);
    assert.match(job.last_error, /smtp down/);
  });
});

describe('GET /v1/jobs', () => {
  test('200 newest first, filtered, paged by cursor until next_cursor is null', async () => {
    const { app } = await buildTestApp();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(body(await app.inject({ method: 'POST', url: '/v1/jobs', payload: { kind: 'noop', payload: {}, queue: i % 2 ? 'odd' : 'even' } })).id);
    await app.inject({ method: 'POST', url: '/v1/jobs', payload: email() });
    const seen: string[] = [];
    let cursor: string | null = null as string | null;
    let pages = 0;
    do {
      const res: Awaited<ReturnType<typeof app.inject>> = await app.inject({ url: "/v1/jobs", query: { kind: "noop", limit: "2", ...(cursor ? { cursor } : {}) } });
      assert.equal(res.statusCode, 200, res.body);
      const page = body(res);
      assert.deepEqual(Object.keys(page).sort(), ['jobs', 'next_cursor']);
      seen.push(...page.jobs.map((j: any) => j.id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...ids].reverse());
    const odd = body(await app.inject({ url: '/v1/jobs?queue=odd' })).jobs.map((j: any) => j.id);
    assert.deepEqual(odd, [ids[3], ids[1]]);
    assert.equal(body(await app.inject({ url: '/v1/jobs' })).jobs.length, 6);
    assert.equal(body(await app.inject({ url: '/v1/jobs?status=succeeded' })).jobs.length, 0);
  });

  test('400 validation_failed for a bad limit, status, cursor or an unknown parameter', async () => {
    const { app } = await buildTestApp();
    for (const [query, path] of [
      ['limit=0', '/limit'],
      ['limit=501', '/limit'],
      ['limit=ten', '/limit'],
      ['status=done', '/status'],
      ['kind=Bad%20Kind', '/kind'],
      ['cursor=bm90LWEtdXVpZA', '/cursor'],
      ['cursor=%3D%3D', '/cursor'],
      ['page=2', '/page'],
    ]) {
      const e = assertError(await app.inject({ url: `/v1/jobs?${query}` }), 400, 'validation_failed');
      assert.equal(e.error.details?.[0]?.path, path, query);
    }
  });
});

describe('POST /v1/jobs/:id/cancel and /retry', () => {
  test('cancel: cancelled (waiting), cancel_requested (running), already_terminal (finished), 404', async () => {
    const { app, queue } = await buildTestApp();
    const create = async () => body(await app.inject({ method: 'POST', url: '/v1/jobs', payload: { kind: 'noop', payload: {} } }));
    const waiting = await create();
    const res = await app.inject({ method: 'POST', url: `/v1/jobs/${waiting.id}/cancel` });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(body(res).outcome, 'cancelled');
    assert.equal(body(res).job.status, 'cancelled');
    const running = await create();
    await queue.claim('w1');
    const flagged = body(await app.inject({ method: 'POST', url: `/v1/jobs/${running.id}/cancel` }));
    assert.equal(flagged.outcome, 'cancel_requested');
    assert.equal(flagged.job.status, 'running');
    assert.equal(flagged.job.cancel_requested, true);
    const again = body(await app.inject({ method: 'POST', url: `/v1/jobs/${waiting.id}/cancel`, headers: json, payload: '' }));
    assert.equal(again.outcome, 'already_terminal');
    assert.deepEqual(Object.keys(again).sort(), ['job', 'outcome']);
    assertError(await app.inject({ method: 'POST', url: `/v1/jobs/${UNKNOWN_ID}/cancel` }), 404, 'not_found');
  });

  test('retry: failed_permanent or cancelled → queued with attempts reset; 409 invalid_transition otherwise; 404', async () => {
    const { app, queue } = await buildTestApp();
    const job = body(await app.inject({ method: 'POST', url: '/v1/jobs', payload: { kind: 'noop', payload: {} } }));
    const conflict = assertError(await app.inject({ method: 'POST', url: `/v1/jobs/${job.id}/retry` }), 409, 'invalid_transition');
    assert.match(conflict.error.message, /queued/);
    await queue.claim('w1');
    await queue.markFailedOrRetry(job.id, new Error('boom'), { workerId: 'w1', permanent: true });
    const res = await app.inject({ method: 'POST', url: `/v1/jobs/${job.id}/retry` });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(body(res).status, 'queued');
    assert.equal(body(res).attempts, 0);
    await app.inject({ method: 'POST', url: `/v1/jobs/${job.id}/cancel` });
    assert.equal(body(await app.inject({ method: 'POST', url: `/v1/jobs/${job.id}/retry` })).status, 'queued');
    assertError(await app.inject({ method: 'POST', url: `/v1/jobs/${UNKNOWN_ID}/retry` }), 404, 'not_found');
    assertError(await app.inject({ method: 'POST', url: '/v1/jobs/nope/retry' }), 400, 'validation_failed');
  });
});

describe('system routes', () => {
  test('GET /v1/stats counts by status, kind and queue', async () => {
    const { app } = await buildTestApp();
    await app.inject({ method: 'POST', url: '/v1/jobs/batch', payload: { jobs: [email(), email({ queue: 'mail' }), { kind: 'noop', payload: {} }] } });
    const noop = body(await app.inject({ url: '/v1/jobs?kind=noop' })).jobs[0];
    await app.inject({ method: 'POST', url: `/v1/jobs/${noop.id}/cancel` });
    const res = await app.inject({ url: '/v1/stats' });
    assert.equal(res.statusCode, 200);
    const stats = body(res);
    assert.deepEqual(stats.by_status, { waiting: 0, queued: 2, running: 0, retrying: 0, succeeded: 0, failed_permanent: 0, cancelled: 1 });
    assert.equal(stats.by_kind.send_email.queued, 2);
    assert.equal(stats.by_kind.noop.cancelled, 1);
    assert.equal(stats.by_queue.mail.queued, 1);
    assert.equal(stats.by_queue.default.queued, 1);
    assert.equal(typeof stats.oldest_runnable_age_seconds, 'number');
    assert.ok(stats.oldest_runnable_age_seconds >= 0);
  });

  test('GET /v1/kinds lists every registered kind with its payload schema and defaults', async () => {
    const { app, queue } = await buildTestApp();
    const res = await app.inject({ url: '/v1/kinds' });
    assert.equal(res.statusCode, 200);
    const kinds = body(res);
    assert.deepEqual(kinds.map((k: any) => k.name).sort(), queue.kinds.list().map((k) => k.name).sort());
    const mail = kinds.find((k: any) => k.name === 'send_email');
    assert.deepEqual(Object.keys(mail).sort(), ['default_max_attempts', 'description', 'name', 'payload_schema', 'timeout_ms']);
    assert.deepEqual(mail.payload_schema.required, ['to', 'subject', 'body']);
    assert.equal(mail.default_max_attempts, queue.kinds.get('send_email')!.defaultMaxAttempts);
    assert.equal(mail.timeout_ms, queue.kinds.get('send_email')!.timeoutMs);
  });

  test('GET /healthz is 200 {status: ok}', async () => {
    const { app } = await buildTestApp({ ready: async () => false });
    const res = await app.inject({ url: '/healthz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(body(res), { status: 'ok' });
  });

  test('GET /readyz: 200 when ready() is true in time; 503 database_unavailable + Retry-After when false, failing or late', async (t) => {
    const ok = await buildTestApp();
    const res = await ok.app.inject({ url: '/readyz' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(body(res), { status: 'ready' });
    for (const ready of [async () => false, async () => Promise.reject(new Error('down'))]) {
      const { app } = await buildTestApp({ queue: ok.queue, ready, readyTimeoutMs: 50 });
      const r = await app.inject({ url: '/readyz' });
      assertError(r, 503, 'database_unavailable');
      assert.equal(r.headers['retry-after'], '1');
    }
    // A check that never answers: the 503 comes when readyTimeoutMs has passed on the (mocked) clock,
    // not before and not later.
    const asked = deferred();
    const { app } = await buildTestApp({ queue: ok.queue, ready: () => (asked.resolve(), new Promise<boolean>(() => {})), readyTimeoutMs: 50 });
    await app.ready();
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const got: { answer?: Awaited<ReturnType<typeof app.inject>> } = {};
    void app.inject({ url: '/readyz' }).then((r) => (got.answer = r));
    await asked.promise; // the check has started, and its timer is set
    const turns = async (n: number) => {
      for (let i = 0; i < n && !got.answer; i++) await new Promise((r) => setImmediate(r));
    };
    t.mock.timers.tick(49);
    await turns(50);
    assert.ok(!got.answer, 'no answer before readyTimeoutMs');
    t.mock.timers.tick(1);
    await turns(50);
    const late = got.answer as Awaited<ReturnType<typeof app.inject>> | undefined; // set by the callback since
    assert.ok(late, 'answered once readyTimeoutMs passed');
    assertError(late, 503, 'database_unavailable');
    assert.equal(late.headers['retry-after'], '1');
  });


  test('GET /metrics serves the renderer with its content type, only when given', async () => {
    const contentType = 'text/plain; version=0.0.4; charset=utf-8';
    const text = '# HELP jobq_up 1\n# TYPE jobq_up gauge\njobq_up 1\n';
    const { app, queue } = await buildTestApp({ metrics: { contentType, render: async () => text } });
    const res = await app.inject({ url: '/metrics' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['content-type'], contentType);
    assert.equal(res.body, text);
    const without = await buildTestApp({ queue });
    assertError(await without.app.inject({ url: '/metrics' }), 404, 'not_found');
  });

  test('GET /openapi.json and /docs', async () => {
    const { app } = await buildTestApp();
    const doc = await app.inject({ url: '/openapi.json' });
    assert.equal(doc.statusCode, 200);
    assert.equal(body(doc).openapi, '3.1.0');
    const docs = await app.inject({ url: '/docs' });
    assert.equal(docs.statusCode, 200);
    assert.match(String(docs.headers['content-type']), /^text\/html/);
    assert.match(docs.body, /swagger-ui/i);
  });
});

describe('error mapping', () => {
  test("Fastify's own errors map to the error kinds: no route, bad URL, wrong Content-Length", async () => {
    const { app } = await buildTestApp();
    assertError(await app.inject({ url: '/nowhere' }), 404, 'not_found');
    assertError(await app.inject({ method: 'DELETE', url: '/v1/jobs' }), 404, 'not_found');
    assertError(await app.inject({ url: '/v1/jobs/%E0%A4%A' }), 400, 'validation_failed');
    const res = await app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...json, 'content-length': '500' }, payload: '{}' });
    assert.ok(res.statusCode === 400, `${res.statusCode} ${res.body}`);
    assertError(res, 400, 'validation_failed');
  });

  test('an unexpected error is a 500 internal without its text; the log has it under the request id', async () => {
    const lines: any[] = [];
    const { pino } = await import('pino');
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const { app, queue } = await buildTestApp({ logger });
    queue.get = async () => {
      throw new Error('column "secret" of relation "jobq.jobs" does not exist: SELECT secret FROM jobq.jobs');
    };
    const res = await app.inject({ url: `/v1/jobs/${UNKNOWN_ID}`, headers: { 'x-request-id': 'req-500' } });
    const e = assertError(res, 500, 'internal');
    assert.doesNotMatch(res.body, /secret|SELECT|jobq\.jobs|at .*\.ts/);
    assert.match(e.error.message, /req-500/);
    const logged = lines.find((l) => l.level === 50 && l.reqId === 'req-500');
    assert.ok(logged, JSON.stringify(lines));
    assert.match(JSON.stringify(logged.err), /SELECT secret/);
  });

  test('503 database_unavailable with Retry-After when the database is gone', async () => {
    const { app, db } = await buildTestApp();
    await db!.pool.end();
    const res = await app.inject({ url: '/v1/stats' });
    assertError(res, 503, 'database_unavailable');
    assert.equal(res.headers['retry-after'], '1');
    assertError(await app.inject({ method: 'POST', url: '/v1/jobs', payload: email() }), 503, 'database_unavailable');
  });

  test('one request event per response, with the route template (unmatched for no route)', async () => {
    const events = new EventEmitter<ApiEvents>();
    const seen: RequestEvent[] = [];
    events.on('request', (e) => seen.push(e));
    const { app } = await buildTestApp({ events });
    await app.inject({ url: `/v1/jobs/${UNKNOWN_ID}` });
    await app.inject({ method: 'POST', url: '/v1/jobs', payload: email() });
    await app.inject({ url: '/no/such/path?x=1' });
    await app.inject({ url: '/healthz' });
    assert.deepEqual(
      seen.map(({ method, route, statusCode }) => [method, route, statusCode]),
      [
        ['GET', '/v1/jobs/:id', 404],
        ['POST', '/v1/jobs', 201],
        ['GET', 'unmatched', 404],
        ['GET', '/healthz', 200],
      ],
    );
    for (const e of seen) assert.ok(typeof e.durationMs === 'number' && e.durationMs >= 0);
  });
});
