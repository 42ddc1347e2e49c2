/**
 * The document is the truth: /openapi.json is valid OpenAPI 3.1, and real responses of every route,
 * successes and errors, match the schema (and headers) it declares for their status.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { OpenAPIV3_1 } from 'openapi-types';
import { buildTestApp, email, UNKNOWN_ID } from '../helpers/fixtures.ts';
import { Checker, type Doc, documentOf, operations } from '../helpers/openapi.ts';

test('the document is valid OpenAPI 3.1, declares bearer auth, and documents every route with schemas and examples', async () => {
  const { app } = await buildTestApp({ metrics: { contentType: 'text/plain; version=0.0.4; charset=utf-8', render: async () => 'up 1\n' } });
  const res = await app.inject({ url: '/openapi.json' });
  assert.equal(res.statusCode, 200);
  const raw = JSON.parse(res.body) as Doc;
  await SwaggerParser.validate(structuredClone(raw) as never);
  assert.equal(raw.openapi, '3.1.0');
  assert.deepEqual(raw.components?.securitySchemes?.bearerAuth, {
    type: 'http',
    scheme: 'bearer',
    description: (raw.components?.securitySchemes?.bearerAuth as { description: string }).description,
  });
  const routes = operations(raw).map(([m, p]) => `${m.toUpperCase()} ${p}`).sort();
  assert.deepEqual(routes, [
    'GET /healthz', 'GET /metrics', 'GET /openapi.json', 'GET /readyz', 'GET /v1/events', 'GET /v1/jobs', 'GET /v1/jobs/{id}', 'GET /v1/jobs/{id}/children', 'GET /v1/kinds', 'GET /v1/queues',
    'GET /v1/queues/{name}', 'GET /v1/schedules', 'GET /v1/schedules/{name}', 'GET /v1/stats', 'GET /v1/stats/throughput', 'GET /v1/workers', 'POST /v1/jobs', 'POST /v1/jobs/batch',
    'POST /v1/jobs/{id}/cancel', 'POST /v1/jobs/{id}/retry', 'POST /v1/schedules/{name}/trigger', 'PUT /v1/queues/{name}', 'PUT /v1/schedules/{name}',
    'DELETE /v1/schedules/{name}',
  ].sort());
  const doc = (await SwaggerParser.dereference(structuredClone(raw) as never)) as unknown as Doc;
  for (const [method, path, op] of operations(doc)) {
    const name = `${method.toUpperCase()} ${path}`;
    assert.ok(op.operationId, `${name} has an operationId`);
    if (path.startsWith('/v1/')) {
      // Enqueueing one's own jobs is enqueue; reading is read; the rest (cancel, retry, policies, schedules) admin.
      const scope = method === 'get' ? 'read' : path === '/v1/jobs' || path === '/v1/jobs/batch' ? 'enqueue' : 'admin';
      assert.deepEqual(op.security, [{ bearerAuth: [scope] }], `${name} needs a bearer key with the scope ${scope}`);
      assert.ok(op.responses?.['401'], `${name} documents 401`);
      assert.ok(op.responses?.['403'], `${name} documents 403`);
    } else {
      assert.deepEqual(op.security, [], `${name} is open`);
    }
    for (const [status, response] of Object.entries(op.responses ?? {})) {
      const media = (response as OpenAPIV3_1.ResponseObject).content;
      if (status === '204') {
        assert.equal(media, undefined, `${name} 204 has no content`);
        continue;
      }
      assert.ok(media && Object.keys(media).length > 0, `${name} ${status} has content`);
      for (const [type, m] of Object.entries(media)) {
        assert.ok(m.schema, `${name} ${status} ${type} has a schema`);
        if (path === '/openapi.json') continue;
        const schema = m.schema as { examples?: unknown[] };
        assert.ok(m.example !== undefined || m.examples !== undefined || schema.examples !== undefined, `${name} ${status} has an example`);
      }
    }
    if ((method === 'post' && !path.includes('{')) || method === 'put') {
      const body = (op.requestBody as OpenAPIV3_1.RequestBodyObject).content['application/json'];
      assert.ok(body?.schema && (body.example !== undefined || body.examples !== undefined), `${name} has a request schema with an example`);
    }
  }
  // The caller's trace context (README, "Tracing") is documented where it is read: the enqueue routes, optional.
  for (const path of ['/v1/jobs', '/v1/jobs/batch']) {
    const params = (doc.paths?.[path]?.post?.parameters ?? []) as OpenAPIV3_1.ParameterObject[];
    const trace = params.filter((p) => p.in === 'header' && p.name.startsWith('trace')).map((p) => [p.name, p.required ?? false]);
    assert.deepEqual(trace, [['traceparent', false], ['tracestate', false]], path);
  }
});

test('real responses of every route, success and error, match the schemas the document declares for their status', async () => {
  const metrics = { contentType: 'text/plain; version=0.0.4; charset=utf-8', render: async () => '# TYPE up gauge\nup 1\n' };
  const { app, queue } = await buildTestApp({ config: { apiKeys: ['key-1', 'nobody:enqueue:key-enq', 'viewer:read:key-read'], metricsAuth: true, bodyLimit: 4096 }, metrics });
  const doc = await documentOf(app);
  const c = new Checker(doc);
  const auth = { authorization: 'Bearer key-1' };
  const post = (url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    c.check(app, { method: 'POST', url, headers: { ...auth, ...headers }, ...(payload === undefined ? {} : { payload: payload as object }) });
  const get = (url: string, headers: Record<string, string> = auth) => c.check(app, { url, headers });

  // system
  assert.equal((await get('/healthz', {})).status, 200);
  assert.equal((await get('/readyz', {})).status, 200);
  assert.equal((await get('/openapi.json', {})).status, 200);
  assert.equal((await get('/metrics')).status, 200);
  assert.equal((await get('/metrics', {})).status, 401);
  assert.equal((await get('/v1/kinds')).status, 200);
  assert.equal((await get('/v1/kinds', {})).status, 401);

  // enqueue
  const created = await post('/v1/jobs', email({ idempotency_key: 'k1' }));
  assert.equal(created.status, 201);
  const replayed = await post('/v1/jobs', email({ idempotency_key: 'k1' }));
  assert.equal(replayed.status, 200);
  assert.equal(replayed.headers['idempotent-replayed'], 'true');
  assert.equal((await post('/v1/jobs', email({ singleton_key: 's1' }))).status, 201);
  const existing = await post('/v1/jobs', email({ singleton_key: 's1' }));
  assert.deepEqual([existing.status, existing.headers['singleton-existing'], existing.headers['idempotent-replayed']], [200, 'true', undefined]);
  assert.equal((await post('/v1/jobs', email({ debounce_key: 'd1', debounce_ms: 60_000 }))).status, 201);
  const debounced = await post('/v1/jobs', email({ debounce_key: 'd1', debounce_ms: 60_000 }));
  assert.deepEqual([debounced.status, debounced.headers.debounced, debounced.headers['singleton-existing']], [200, 'true', undefined]);
  assert.equal((await post('/v1/jobs', email({ debounce_ms: 10 }))).status, 400);
  assert.equal((await post('/v1/jobs', email({ payload: { to: 'x' } }))).status, 400);
  assert.equal((await post('/v1/jobs', email({ priority: 'high', extra: true }))).status, 400);
  assert.equal((await post('/v1/jobs', { kind: 'nope', payload: {} })).status, 400);
  assert.equal((await post('/v1/jobs', email({ idempotency_key: 'k1', payload: { to: 'b@c.de', subject: 's', body: 'b' } }))).status, 409);
  assert.equal((await post('/v1/jobs', email({ payload: { to: 'a@b.cd', subject: 's', body: 'x'.repeat(5000) } }))).status, 413);
  assert.equal((await post('/v1/jobs', 'text', { 'content-type': 'text/plain' })).status, 415);
  assert.equal((await c.check(app, { method: 'POST', url: '/v1/jobs', payload: email() })).status, 401);
  const batch = await post('/v1/jobs/batch', { jobs: [{ kind: 'noop', payload: {} }, { kind: 'noop', payload: {} }] });
  assert.equal(batch.status, 201);
  assert.equal((await post('/v1/jobs/batch', { jobs: [email(), email({ payload: {} })] })).status, 400);
  assert.equal((await post('/v1/jobs/batch', { jobs: [email({ idempotency_key: 'k1', payload: { to: 'q@r.st', subject: 's', body: 'b' } })] })).status, 409);
  assert.equal((await post('/v1/jobs/batch', { jobs: Array.from({ length: 60 }, () => email()) })).status, 413);
  assert.equal((await post('/v1/jobs/batch', '<jobs/>', { 'content-type': 'application/xml' })).status, 415);
  assert.equal((await c.check(app, { method: 'POST', url: '/v1/jobs/batch', payload: { jobs: [] } })).status, 401);

  // read and list
  const id = created.body.id as string;
  assert.equal((await get(`/v1/jobs/${id}`)).status, 200);
  assert.equal((await get(`/v1/jobs/${UNKNOWN_ID}`)).status, 404);
  assert.equal((await get('/v1/jobs/not-a-uuid')).status, 400);
  assert.equal((await get(`/v1/jobs/${id}`, {})).status, 401);
  const page = await get('/v1/jobs?limit=1');
  assert.equal(page.status, 200);
  assert.ok(page.body.next_cursor);
  assert.equal((await get(`/v1/jobs?limit=1&cursor=${page.body.next_cursor}`)).status, 200);
  assert.equal((await get('/v1/jobs?limit=1000')).status, 400);
  assert.equal((await get('/v1/jobs', {})).status, 401);
  const stats = await get('/v1/stats');
  assert.equal(stats.status, 200);
  assert.equal(stats.body.by_status.queued, 5); // k1, the batch's two, s1 and d1
  assert.equal((await get('/v1/stats', {})).status, 401);
  // the dashboard's reads
  assert.equal((await get('/v1/workers')).status, 200);
  assert.equal((await get('/v1/workers', {})).status, 401);
  assert.equal((await get('/v1/stats/throughput?minutes=5')).status, 200);
  assert.equal((await get('/v1/stats/throughput?minutes=0')).status, 400);
  assert.equal((await get('/v1/stats/throughput', {})).status, 401);
  assert.equal((await get(`/v1/jobs/${id}/children`)).status, 200);
  assert.equal((await get(`/v1/jobs/${UNKNOWN_ID}/children`)).status, 404);
  assert.equal((await get(`/v1/jobs/${id}/children?limit=0`)).status, 400);
  assert.equal((await get(`/v1/jobs/${id}/children`, {})).status, 401);

  // queues and their policies
  const put = (url: string, payload?: unknown, headers: Record<string, string> = {}) =>
    c.check(app, { method: 'PUT', url, headers: { ...auth, ...headers }, ...(payload === undefined ? {} : { payload: payload as object }) });
  assert.equal((await put('/v1/queues/mail', { concurrency: 2, rate: { limit: 10, period: '1s' } })).body.rate.period_ms, 1000);
  assert.equal((await put('/v1/queues/mail', { rate: { limit: 10, period: 'soon' } })).status, 400);
  assert.equal((await put('/v1/queues/no%20spaces', { paused: true })).status, 400);
  assert.equal((await put('/v1/queues/mail', { paused: true, extra: 1 })).status, 400);
  assert.equal((await put('/v1/queues/mail', { paused: true, pad: 'x'.repeat(5000) })).status, 413);
  assert.equal((await put('/v1/queues/mail', 'paused', { 'content-type': 'text/plain' })).status, 415);
  assert.equal((await c.check(app, { method: 'PUT', url: '/v1/queues/mail', payload: { paused: true } })).status, 401);
  const queues = await get('/v1/queues?limit=1');
  assert.equal(queues.status, 200);
  assert.equal((await get(`/v1/queues?limit=1&cursor=${queues.body.next_cursor}`)).status, 200);
  assert.equal((await get('/v1/queues?limit=0')).status, 400);
  assert.equal((await get('/v1/queues', {})).status, 401);
  assert.equal((await get('/v1/queues/mail')).body.concurrency, 2);
  assert.equal((await get('/v1/queues/a%20b')).status, 400);
  assert.equal((await get('/v1/queues/mail', {})).status, 401);

  // cancel and retry
  const [a, b] = batch.body.jobs as { id: string }[];
  await queue.claim('w1', { limit: 1 }); // the oldest: the first job
  assert.equal((await post(`/v1/jobs/${id}/cancel`)).body.outcome, 'cancel_requested');
  assert.equal((await post(`/v1/jobs/${a!.id}/cancel`)).body.outcome, 'cancelled');
  assert.equal((await post(`/v1/jobs/${a!.id}/cancel`)).body.outcome, 'already_terminal');
  assert.equal((await post(`/v1/jobs/${UNKNOWN_ID}/cancel`)).status, 404);
  assert.equal((await post('/v1/jobs/x/cancel')).status, 400);
  assert.equal((await post(`/v1/jobs/${a!.id}/cancel`, 'x'.repeat(5000), { 'content-type': 'application/json' })).status, 413);
  assert.equal((await post(`/v1/jobs/${a!.id}/cancel`, 'x', { 'content-type': 'text/plain' })).status, 415);
  assert.equal((await c.check(app, { method: 'POST', url: `/v1/jobs/${a!.id}/cancel` })).status, 401);
  assert.equal((await post(`/v1/jobs/${a!.id}/retry`)).status, 200);
  assert.equal((await post(`/v1/jobs/${b!.id}/retry`)).status, 409);
  assert.equal((await post(`/v1/jobs/${UNKNOWN_ID}/retry`)).status, 404);
  assert.equal((await post('/v1/jobs/x/retry')).status, 400);
  assert.equal((await post(`/v1/jobs/${b!.id}/retry`, 'x'.repeat(5000), { 'content-type': 'application/json' })).status, 413);
  assert.equal((await post(`/v1/jobs/${b!.id}/retry`, 'x', { 'content-type': 'text/plain' })).status, 415);
  assert.equal((await c.check(app, { method: 'POST', url: `/v1/jobs/${b!.id}/retry` })).status, 401);

  // 403: a valid key without the route's scope
  const enq = { authorization: 'Bearer key-enq' };
  const read = { authorization: 'Bearer key-read' };
  for (const [method, url, headers] of [
    ['GET', '/metrics', enq], ['GET', '/v1/kinds', enq], ['GET', '/v1/stats', enq], ['GET', '/v1/jobs', enq], ['GET', `/v1/jobs/${id}`, enq],
    ['POST', '/v1/jobs', read], ['POST', '/v1/jobs/batch', read], ['POST', `/v1/jobs/${id}/cancel`, enq], ['POST', `/v1/jobs/${id}/retry`, read],
    ['GET', '/v1/queues', enq], ['GET', '/v1/queues/mail', enq], ['PUT', '/v1/queues/mail', read],
    ['GET', '/v1/workers', enq], ['GET', '/v1/stats/throughput', enq], ['GET', `/v1/jobs/${id}/children`, enq],
  ] as const) {
    const body = method === 'PUT' ? { payload: { paused: false } } : method === 'POST' && !url.includes('/jobs/0') && !url.includes(id) ? { payload: { jobs: [] } } : {};
    const r = await c.check(app, { method, url, headers, ...body });
    assert.equal(r.status, 403, `${method} ${url}`);
  }

  // 503: not ready, and a database that is gone
  const notReady = await buildTestApp({ queue, ready: async () => false });
  assert.equal((await c.check(notReady.app, { url: '/readyz' })).status, 503);
  const gone = await buildTestApp();
  await gone.db!.pool.end();
  for (const [method, url, payload] of [
    ['GET', '/v1/stats'], ['GET', '/v1/jobs'], ['GET', `/v1/jobs/${UNKNOWN_ID}`], ['POST', '/v1/jobs', email()],
    ['POST', '/v1/jobs/batch', { jobs: [email()] }], ['POST', `/v1/jobs/${UNKNOWN_ID}/cancel`], ['POST', `/v1/jobs/${UNKNOWN_ID}/retry`],
    ['GET', '/v1/queues'], ['GET', '/v1/queues/mail'], ['PUT', '/v1/queues/mail', { paused: true }],
    ['GET', '/v1/workers'], ['GET', '/v1/stats/throughput'], ['GET', `/v1/jobs/${UNKNOWN_ID}/children`],
  ] as const) {
    const r = await c.check(gone.app, { method, url, ...(payload ? { payload } : {}) });
    assert.equal(r.status, 503, `${method} ${url}`);
  }

  // 500: a failure nobody expected
  const broken = await buildTestApp({ metrics: { contentType: 'text/plain', render: async () => Promise.reject(new Error('registry broke')) } });
  const boom = async () => {
    throw new TypeError('cannot read properties of undefined');
  };
  Object.assign(broken.queue, { get: boom, list: boom, stats: boom, enqueue: boom, enqueueMany: boom, requestCancel: boom, retry: boom, listQueues: boom, getQueue: boom, setQueue: boom });
  Object.assign(broken.queue.insights, { workers: boom, throughput: boom, children: boom });
  Object.assign(broken.queue.kinds, { list: () => [{ name: 'bad' }] }); // a kind without its fields: serialisation fails
  for (const [method, url, payload] of [
    ['GET', '/metrics'], ['GET', '/v1/kinds'], ['GET', '/v1/stats'], ['GET', '/v1/jobs'], ['GET', `/v1/jobs/${UNKNOWN_ID}`],
    ['POST', '/v1/jobs', email()], ['POST', '/v1/jobs/batch', { jobs: [email()] }], ['POST', `/v1/jobs/${UNKNOWN_ID}/cancel`],
    ['POST', `/v1/jobs/${UNKNOWN_ID}/retry`], ['GET', '/v1/queues'], ['GET', '/v1/queues/mail'], ['PUT', '/v1/queues/mail', { paused: true }],
    ['GET', '/v1/workers'], ['GET', '/v1/stats/throughput'], ['GET', `/v1/jobs/${UNKNOWN_ID}/children`],
  ] as const) {
    const r = await c.check(broken.app, { method, url, ...(payload ? { payload } : {}) });
    assert.equal(r.status, 500, `${method} ${url}: ${JSON.stringify(r.body)}`);
  }

  // Every operation answered each of its success statuses, and every declared status was seen somewhere
  // (the schedules' operations: openapi-schedules.test.ts; the event stream: openapi-events.test.ts).
  const checked = operations(doc).filter(([, path]) => !path.startsWith('/v1/schedules') && path !== '/v1/events');
  for (const [method, path, op] of checked) {
    for (const status of Object.keys(op.responses ?? {}).filter((s) => s.startsWith('2'))) {
      assert.ok(c.covered.has(`${method} ${path} ${status}`), `${method} ${path} ${status} was never exercised`);
    }
  }
  const declared = new Set(checked.flatMap(([, , op]) => Object.keys(op.responses ?? {})));
  const seen = new Set([...c.covered].map((k) => k.split(' ')[2]));
  assert.deepEqual([...declared].sort(), [...seen].sort());
});
