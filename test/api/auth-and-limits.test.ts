/**
 * Through a real socket (127.0.0.1, port 0, fetch): API keys, metrics auth, the body limit, media types,
 * request ids and access logs.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { bearerToken, keyChecker } from '../../src/api/auth.ts';
import { assertErrorBody, buildTestApp, email, eventually, listen } from '../helpers/fixtures.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function errorOf(res: Response, status: number, kind: string) {
  assert.equal(res.status, status);
  return assertErrorBody(res.status, await res.text(), kind as never);
}

test('keyChecker hashes both sides: any configured key passes, anything else (any length) fails', () => {
  const check = keyChecker(['alpha', 'a-much-longer-second-key']);
  assert.equal(check('alpha'), true);
  assert.equal(check('a-much-longer-second-key'), true);
  for (const wrong of [undefined, '', 'alph', 'alphaa', 'ALPHA', 'a-much-longer-second-ke', 'x'.repeat(10_000)]) assert.equal(check(wrong), false, String(wrong));
  assert.equal(keyChecker([])(undefined), true);
  assert.equal(bearerToken('Bearer abc'), 'abc');
  assert.equal(bearerToken('bearer   abc '), 'abc');
  for (const h of [undefined, 'Basic abc', 'Bearer', 'Bearer a b', 'Bearerabc']) assert.equal(bearerToken(h), undefined, String(h));
});

test('with API keys every /v1 request needs a valid bearer key; health, readiness and docs stay open', async () => {
  const { app } = await buildTestApp({ config: { apiKeys: ['alpha', 'beta'] }, metrics: { contentType: 'text/plain', render: async () => 'up 1\n' } });
  const base = await listen(app);
  for (const headers of [{}, { authorization: 'Bearer gamma' }, { authorization: 'Bearer alph' }, { authorization: 'Basic YWxwaGE6' }, { authorization: 'alpha' }] as Record<string, string>[]) {
    const res = await fetch(`${base}/v1/stats`, { headers });
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="jobq"');
    await errorOf(res, 401, 'unauthorized');
  }
  assert.equal((await fetch(`${base}/v1/stats`, { headers: { authorization: 'Bearer alpha' } })).status, 200);
  assert.equal((await fetch(`${base}/v1/kinds`, { headers: { authorization: 'bearer beta' } })).status, 200);
  const post = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(email()) });
  await errorOf(post, 401, 'unauthorized');
  // An unknown /v1 path does not reveal that it does not exist until the caller has a key.
  await errorOf(await fetch(`${base}/v1/secret-admin`), 401, 'unauthorized');
  await errorOf(await fetch(`${base}/v1/secret-admin`, { headers: { authorization: 'Bearer beta' } }), 404, 'not_found');
  for (const open of ['/healthz', '/readyz', '/openapi.json', '/docs', '/metrics']) {
    assert.equal((await fetch(`${base}${open}`)).status, 200, open);
  }
});

test('metricsAuth puts /metrics behind the keys too; without keys everything is open', async () => {
  const metrics = { contentType: 'text/plain; version=0.0.4', render: async () => 'up 1\n' };
  const locked = await buildTestApp({ config: { apiKeys: ['alpha'], metricsAuth: true }, metrics });
  const base = await listen(locked.app);
  await errorOf(await fetch(`${base}/metrics`), 401, 'unauthorized');
  const ok = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer alpha' } });
  assert.equal(ok.status, 200);
  assert.equal(await ok.text(), 'up 1\n');
  const open = await buildTestApp({ queue: locked.queue, metrics });
  const openBase = await listen(open.app);
  assert.equal((await fetch(`${openBase}/v1/stats`)).status, 200);
  assert.equal((await fetch(`${openBase}/metrics`)).status, 200);
});

test('bodies over the limit are 413 payload_too_large, with or without Content-Length', async () => {
  const { app } = await buildTestApp({ config: { bodyLimit: 2048 } });
  const base = await listen(app);
  const big = JSON.stringify(email({ payload: { to: 'a@b.co', subject: 's', body: 'x'.repeat(3000) } }));
  const sized = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
  const e = await errorOf(sized, 413, 'payload_too_large');
  assert.match(e.error.message, /2048/);
  const chunks = new ReadableStream<Uint8Array>({
    start(controller) {
      const bytes = new TextEncoder().encode(big);
      for (let i = 0; i < bytes.length; i += 500) controller.enqueue(bytes.slice(i, i + 500));
      controller.close();
    },
  });
  const chunked = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chunks, duplex: 'half' } as RequestInit);
  await errorOf(chunked, 413, 'payload_too_large');
  const small = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(email()) });
  assert.equal(small.status, 201);
});

test('the default limit is config.bodyLimit (1 MiB): just under passes, just over is 413', async () => {
  const { app } = await buildTestApp();
  const base = await listen(app);
  const wrap = (n: number) => JSON.stringify(email({ payload: { to: 'a@b.co', subject: 's', body: 'x'.repeat(n) } }));
  const overhead = wrap(0).length;
  const under = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: wrap(1_000_000) });
  assert.equal(under.status, 201, await under.text());
  const over = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: wrap(1_048_576 - overhead + 1) });
  await errorOf(over, 413, 'payload_too_large');
});

test('anything but UTF-8 application/json is 415 unsupported_media_type', async () => {
  const { app } = await buildTestApp();
  const base = await listen(app);
  const body = JSON.stringify(email());
  for (const type of ['text/plain', 'application/xml', 'application/json; charset=utf-16', 'multipart/form-data; boundary=x']) {
    await errorOf(await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': type }, body }), 415, 'unsupported_media_type');
  }
  await errorOf(await fetch(`${base}/v1/jobs`, { method: 'POST', body: new Blob([body]) }), 415, 'unsupported_media_type');
});

test('X-Request-Id is echoed when well-formed, replaced by a UUID otherwise, on successes and errors alike', async () => {
  const { app } = await buildTestApp();
  const base = await listen(app);
  const id = async (path: string, given?: string) =>
    (await fetch(`${base}${path}`, given === undefined ? {} : { headers: { 'x-request-id': given } })).headers.get('x-request-id');
  assert.equal(await id('/healthz', 'abc-123.X:y_z'), 'abc-123.X:y_z');
  assert.equal(await id('/v1/jobs/nope', 'trace:42'), 'trace:42');
  assert.equal(await id('/nowhere', 'x'.repeat(128)), 'x'.repeat(128));
  for (const bad of ['has space', 'x'.repeat(129), 'semi;colon', '']) assert.match(String(await id('/healthz', bad)), UUID, bad);
  const a = await id('/healthz');
  const b = await id('/healthz');
  assert.match(String(a), UUID);
  assert.notEqual(a, b);
});

test('one JSON access-log line per request: id, method, route template, status, duration; no secrets', async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const { app } = await buildTestApp({ logger: pino({ level: 'info' }, sink), config: { apiKeys: ['top-secret-key'] } });
  const base = await listen(app);
  const auth = { authorization: 'Bearer top-secret-key' };
  const job = await (await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'x-request-id': 'r-1' }, body: JSON.stringify(email()) })).json();
  await fetch(`${base}/v1/jobs/${job.id}`, { headers: { ...auth, 'x-request-id': 'r-2' } });
  await fetch(`${base}/v1/jobs/${job.id}?x=1`, { headers: { 'x-request-id': 'r-3' } });
  await fetch(`${base}/not/here`, { headers: { 'x-request-id': 'r-4' } });
  await eventually(() => lines.filter((l) => l.msg === 'request completed').length === 4 || undefined, 5_000, 'four access-log lines', 5);
  const access = lines.filter((l) => l.msg === 'request completed');
  assert.deepEqual(
    access.map((l) => [l.reqId, l.method, l.route, l.status]),
    [
      ['r-1', 'POST', '/v1/jobs', 201],
      ['r-2', 'GET', '/v1/jobs/:id', 200],
      ['r-3', 'GET', '/v1/jobs/:id', 401],
      ['r-4', 'GET', 'unmatched', 404],
    ],
  );
  for (const l of access) assert.ok(typeof l.durationMs === 'number' && l.durationMs >= 0);
  assert.doesNotMatch(JSON.stringify(lines), /top-secret-key/);
  assert.doesNotMatch(JSON.stringify(access), new RegExp(job.id), 'the route template, never the raw URL');
});
