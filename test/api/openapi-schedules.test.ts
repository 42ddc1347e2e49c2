/**
 * The schedules' part of the document (openapi.test.ts has the rest): real responses of every
 * /v1/schedules route, successes and errors, match what the document declares for their status, and
 * every status the document declares for them was seen.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildTestApp } from '../helpers/fixtures.ts';
import { Checker, documentOf, operations } from '../helpers/openapi.ts';

test('real responses of every schedule route match the schemas the document declares for their status', async () => {
  const { app } = await buildTestApp({ config: { apiKeys: ['key-1', 'viewer:read:key-read', 'app:enqueue:key-enq'], metricsAuth: false, bodyLimit: 4096 } });
  const doc = await documentOf(app);
  const c = new Checker(doc);
  const auth = { authorization: 'Bearer key-1' };
  const send = (method: 'GET' | 'PUT' | 'DELETE' | 'POST', url: string, payload?: unknown, headers: Record<string, string> = auth) =>
    c.check(app, { method, url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
  const body = { cron: '0 3 * * *', timezone: 'Europe/Berlin', job: { kind: 'send_email', payload: { to: 'ops@example.com', subject: 'Nightly', body: 'Hi' } } };

  // PUT: 201, 200, 400 (shape, the queue's checks, the kind), 413, 415, 401
  assert.equal((await send('PUT', '/v1/schedules/nightly', body)).status, 201);
  const again = await send('PUT', '/v1/schedules/nightly', body);
  assert.deepEqual([again.status, again.body.changed], [200, false]);
  assert.equal((await send('PUT', '/v1/schedules/hourly', { every: '1h', job: { kind: 'noop', payload: {} } })).status, 201);
  for (const bad of [{ ...body, extra: 1 }, { ...body, cron: 'never' }, { ...body, timezone: 'Nowhere/Else' }, { ...body, job: { kind: 'nope' } }]) {
    assert.equal((await send('PUT', '/v1/schedules/nightly', bad)).status, 400, JSON.stringify(bad));
  }
  assert.equal((await send('PUT', '/v1/schedules/no%20spaces', body)).status, 400);
  assert.equal((await send('PUT', '/v1/schedules/nightly', { ...body, job: { ...body.job, payload: { ...body.job.payload, body: 'x'.repeat(5000) } } })).status, 413);
  assert.equal((await send('PUT', '/v1/schedules/nightly', 'cron', { ...auth, 'content-type': 'text/plain' })).status, 415);
  assert.equal((await send('PUT', '/v1/schedules/nightly', body, {})).status, 401);

  // GET one and a page
  assert.equal((await send('GET', '/v1/schedules/nightly')).status, 200);
  assert.equal((await send('GET', '/v1/schedules/missing')).status, 404);
  assert.equal((await send('GET', '/v1/schedules/a%20b')).status, 400);
  assert.equal((await send('GET', '/v1/schedules/nightly', undefined, {})).status, 401);
  const page = await send('GET', '/v1/schedules?limit=1');
  assert.deepEqual([page.status, page.body.next_cursor], [200, 'hourly']);
  assert.equal((await send('GET', `/v1/schedules?limit=1&cursor=${page.body.next_cursor}`)).status, 200);
  assert.equal((await send('GET', '/v1/schedules?limit=0')).status, 400);
  assert.equal((await send('GET', '/v1/schedules', undefined, {})).status, 401);

  // trigger: 201 with Location, 404, 400, 413, 415, 401
  const triggered = await send('POST', '/v1/schedules/nightly/trigger');
  assert.deepEqual([triggered.status, triggered.headers.location], [201, `/v1/jobs/${triggered.body.id}`]);
  assert.equal((await send('POST', '/v1/schedules/missing/trigger')).status, 404);
  assert.equal((await send('POST', '/v1/schedules/a%20b/trigger')).status, 400);
  assert.equal((await send('POST', '/v1/schedules/nightly/trigger', 'x'.repeat(5000), { ...auth, 'content-type': 'application/json' })).status, 413);
  assert.equal((await send('POST', '/v1/schedules/nightly/trigger', 'now', { ...auth, 'content-type': 'text/plain' })).status, 415);
  assert.equal((await send('POST', '/v1/schedules/nightly/trigger', undefined, {})).status, 401);

  // DELETE: 204 without a body, 404, 400, 413, 415, 401
  assert.equal((await send('DELETE', '/v1/schedules/hourly')).status, 204);
  assert.equal((await send('DELETE', '/v1/schedules/hourly')).status, 404);
  assert.equal((await send('DELETE', '/v1/schedules/a%20b')).status, 400);
  assert.equal((await send('DELETE', '/v1/schedules/nightly', 'x'.repeat(5000), { ...auth, 'content-type': 'application/json' })).status, 413);
  assert.equal((await send('DELETE', '/v1/schedules/nightly', 'x', { ...auth, 'content-type': 'text/plain' })).status, 415);
  assert.equal((await send('DELETE', '/v1/schedules/nightly', undefined, {})).status, 401);

  // 403: a valid key without the route's scope
  const read = { authorization: 'Bearer key-read' };
  const enq = { authorization: 'Bearer key-enq' };
  for (const [method, url, headers, payload] of [
    ['GET', '/v1/schedules', enq], ['GET', '/v1/schedules/nightly', enq], ['PUT', '/v1/schedules/nightly', read, body],
    ['DELETE', '/v1/schedules/nightly', read], ['POST', '/v1/schedules/nightly/trigger', enq], ['POST', '/v1/schedules/nightly/trigger', read],
  ] as const) {
    assert.equal((await send(method, url, payload, headers)).status, 403, `${method} ${url}`);
  }
  assert.equal((await send('GET', '/v1/schedules/nightly')).body.name, 'nightly', 'nothing was deleted');

  // 503: a database that is gone; 500: a failure nobody expected
  const routes = [
    ['GET', '/v1/schedules'], ['GET', '/v1/schedules/nightly'], ['PUT', '/v1/schedules/nightly', body], ['DELETE', '/v1/schedules/nightly'],
    ['POST', '/v1/schedules/nightly/trigger'],
  ] as const;
  const gone = await buildTestApp();
  await gone.db!.pool.end();
  for (const [method, url, payload] of routes) assert.equal((await c.check(gone.app, { method, url, ...(payload ? { payload } : {}) })).status, 503, `${method} ${url}`);
  const broken = await buildTestApp();
  const boom = async () => {
    throw new TypeError('cannot read properties of undefined');
  };
  Object.assign(broken.queue.schedules, { list: boom, get: boom, set: boom, delete: boom, trigger: boom });
  for (const [method, url, payload] of routes) {
    const r = await c.check(broken.app, { method, url, ...(payload ? { payload } : {}) });
    assert.deepEqual([r.status, r.body.error.kind], [500, 'internal'], `${method} ${url}`);
    assert.doesNotMatch(JSON.stringify(r.body), /cannot read properties/);
  }

  // Every schedule operation answered each of its success statuses, and every status it declares was seen.
  const schedules = operations(doc).filter(([, path]) => path.startsWith('/v1/schedules'));
  assert.equal(schedules.length, 5);
  for (const [method, path, op] of schedules) {
    for (const status of Object.keys(op.responses ?? {})) {
      assert.ok(c.covered.has(`${method} ${path} ${status}`), `${method.toUpperCase()} ${path} ${status} was never seen`);
    }
  }
});
