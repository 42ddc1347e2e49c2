/**
 * Tests of the `http` kind against real node:http servers on 127.0.0.1 (ports chosen by the OS):
 * results and headers sent, retryable vs permanent statuses, timeout, abort, redirects (and the
 * SSRF guard on each hop, the job's headers dropped on a redirect to another origin), the default
 * guard refusing loopback without connecting, and validation (Host and hop-by-hop headers refused at
 * enqueue with 400 payload_invalid).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { type HttpPayload, type HttpResult, httpKind } from '../../src/kinds/http.ts';
import { builtinKinds } from '../../src/kinds/index.ts';
import { KindRegistry, PermanentError } from '../../src/kinds/registry.ts';
import { isJobqError } from '../../src/errors.ts';
import { assertError, buildTestApp, fakeCtx, FAKE_JOB_ID } from '../helpers/fixtures.ts';

interface Seen {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A server recording each request. /ok, /status/<code>, /redirect/<code>?to=<url>, /loop, /big, /hang. */
async function startServer() {
  const requests: Seen[] = [];
  let onHang: (() => void) | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const [, route, arg] = url.pathname.split('/');
      requests.push({ method: req.method ?? '', path: url.pathname, headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (route === 'ok') {
        res.writeHead(200, { 'content-type': 'application/json', etag: '"v1"', 'x-ignored': 'yes' });
        res.end(JSON.stringify({ hello: 'world', method: req.method }));
      } else if (route === 'status') {
        res.writeHead(Number(arg), { 'content-type': 'text/plain' }).end('something went wrong');
      } else if (route === 'redirect') {
        res.writeHead(Number(arg), { location: url.searchParams.get('to') ?? '/' }).end('moved');
      } else if (route === 'loop') {
        res.writeHead(302, { location: '/loop' }).end();
      } else if (route === 'big') {
        // 3 MiB of two-byte characters after one ASCII byte, so the 4096-byte excerpt cut lands mid-character.
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).write('a');
        const block = Buffer.alloc(64 * 1024, 'é');
        let sent = 0;
        const pump = () => {
          for (; sent < 3 * 1024 * 1024; sent += block.length) if (!res.write(block)) return void res.once('drain', pump);
          res.end();
        };
        res.on('error', () => {});
        pump();
      } else if (route === 'hang') {
        onHang?.();
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    requests,
    /** Resolves when the next request arrives at /hang. */
    hanging: () => new Promise<void>((resolve) => (onHang = resolve)),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
type TestServer = Awaited<ReturnType<typeof startServer>>;

/** The handler, typed: JobHandler's return type is `unknown`. */
function run(kind: ReturnType<typeof httpKind>, payload: HttpPayload, ctx = fakeCtx()): Promise<HttpResult> {
  return Promise.resolve(kind.handler(payload, ctx)) as Promise<HttpResult>;
}

const isRetryable = (e: unknown) => e instanceof Error && !(e instanceof PermanentError);
const isBlocked = (e: unknown) =>
  e instanceof PermanentError && /not allowed/.test(e.message) && /JOBQ_HTTP_ALLOW_HOSTS/.test(e.message);
const pick = (h: http.IncomingHttpHeaders | undefined, ...names: string[]) => names.map((n) => h?.[n]);

describe('http kind', () => {
  let srv: TestServer;
  let other: TestServer;
  const kind = httpKind({ allowHosts: ['127.0.0.1'] });

  before(async () => {
    [srv, other] = await Promise.all([startServer(), startServer()]);
  });
  after(() => Promise.all([srv.close(), other.close()]));
  beforeEach(() => {
    srv.requests.length = 0;
    other.requests.length = 0;
  });

  it('POSTs JSON with Idempotency-Key and User-Agent, and returns status, headers and an excerpt', async () => {
    const result = await run(kind, { url: `${srv.base}/ok`, body: { a: 1 } });
    const body = JSON.stringify({ hello: 'world', method: 'POST' }); // sent chunked: no content-length
    assert.deepEqual(result, {
      status: 200,
      headers: { 'content-type': 'application/json', etag: '"v1"' },
      body_excerpt: body,
      body_bytes: body.length,
      body_truncated: false,
    });
    const [seen] = srv.requests;
    assert.equal(seen?.method, 'POST');
    assert.deepEqual(pick(seen?.headers, 'idempotency-key', 'user-agent', 'content-type'), [FAKE_JOB_ID, 'jobq', 'application/json']);
    assert.deepEqual(JSON.parse(seen?.body ?? ''), { a: 1 });
  });

  it('keeps headers the job sets, and sends a string body as is with a non-JSON content type', async () => {
    const headers = { 'User-Agent': 'custom/1', 'Idempotency-Key': 'mine', 'Content-Type': 'text/plain', 'X-Extra': 'x' };
    await run(kind, { url: `${srv.base}/ok`, method: 'PUT', headers, body: 'plain words' });
    const [seen] = srv.requests;
    assert.equal(seen?.method, 'PUT');
    assert.deepEqual(pick(seen?.headers, 'user-agent', 'idempotency-key', 'content-type', 'x-extra'), Object.values(headers));
    assert.equal(seen?.body, 'plain words');
  });

  it('reads at most 1 MiB and keeps a 4096-byte excerpt cut on a character boundary', async () => {
    const result = await run(kind, { url: `${srv.base}/big`, method: 'GET' });
    assert.deepEqual([result.status, result.body_bytes, result.body_truncated], [200, 1024 * 1024, true]);
    assert.equal(result.body_excerpt, `a${'é'.repeat(2047)}`, 'the half character at byte 4096 is left out');
  });

  it('sends HEAD without reading a body', async () => {
    const result = await run(kind, { url: `${srv.base}/ok`, method: 'HEAD' });
    assert.deepEqual([result.status, result.body_bytes, srv.requests[0]?.method], [200, 0, 'HEAD']);
  });

  it('treats 408, 429 and 5xx as retryable, other 4xx as permanent, naming the status', async () => {
    for (const status of [503, 500, 429, 408]) {
      const retryable = (e: unknown) => isRetryable(e) && (e as Error).message.includes(`HTTP ${status}`);
      await assert.rejects(run(kind, { url: `${srv.base}/status/${status}` }), retryable, String(status));
    }
    for (const status of [404, 400, 410]) {
      const permanent = (e: unknown) =>
        e instanceof PermanentError && e.message.includes(`HTTP ${status}`) && e.message.includes('went wrong');
      await assert.rejects(run(kind, { url: `${srv.base}/status/${status}` }), permanent, String(status));
    }
  });

  it('fails retryably when timeout_ms passes', async () => {
    const hung = srv.hanging();
    const timedOut = (e: unknown) => isRetryable(e) && /timed out after 150 ms/.test((e as Error).message);
    await assert.rejects(run(kind, { url: `${srv.base}/hang`, timeout_ms: 150 }), timedOut);
    await hung;
  });

  it('rejects with the abort reason and drops the request when the signal aborts', async () => {
    const controller = new AbortController();
    const reason = new Error('cancelled by user');
    const hung = srv.hanging();
    const pending = run(kind, { url: `${srv.base}/hang` }, fakeCtx({ controller }));
    await hung;
    controller.abort(reason);
    await assert.rejects(pending, (e) => e === reason);
  });

  it('fails retryably when nothing listens', async () => {
    const closed = await startServer();
    await closed.close();
    await assert.rejects(run(kind, { url: `${closed.base}/ok` }), isRetryable);
  });

  it('follows 302 as GET without body, and 307 keeping method and body', async () => {
    const to = encodeURIComponent(`${srv.base}/ok`);
    assert.equal((await run(kind, { url: `${srv.base}/redirect/302?to=${to}`, body: { x: 1 } })).status, 200);
    assert.deepEqual(
      srv.requests.map((r) => [r.method, r.path, r.body]),
      [['POST', '/redirect/302', '{"x":1}'], ['GET', '/ok', '']],
    );
    assert.deepEqual(pick(srv.requests[1]?.headers, 'content-type', 'idempotency-key'), [undefined, FAKE_JOB_ID]);

    srv.requests.length = 0;
    await run(kind, { url: `${srv.base}/redirect/307?to=${to}`, body: { x: 2 } });
    assert.deepEqual(srv.requests[1] && [srv.requests[1].method, srv.requests[1].body], ['POST', '{"x":2}']);
  });

  const secrets = { Authorization: 'Bearer t', Cookie: 'sid=1', 'X-Api-Key': 'k', 'User-Agent': 'mine/1', 'Idempotency-Key': 'mine' };
  const secretNames = ['authorization', 'cookie', 'x-api-key', 'user-agent', 'idempotency-key'];

  it('drops every header the job set on a redirect to another origin, keeping its own and the body type', async () => {
    // other.base differs from srv.base by port only: another origin all the same.
    const url = `${srv.base}/redirect/307?to=${encodeURIComponent(`${other.base}/ok`)}`;
    await run(kind, { url, headers: { ...secrets, 'Content-Type': 'text/plain' }, body: 'words' });
    assert.deepEqual(pick(srv.requests[0]?.headers, ...secretNames), Object.values(secrets));
    assert.deepEqual(pick(other.requests[0]?.headers, ...secretNames), [undefined, undefined, undefined, 'jobq', FAKE_JOB_ID]);
    assert.deepEqual([other.requests[0]?.body, other.requests[0]?.headers['content-type']], ['words', 'text/plain']);
  });

  it('keeps the headers named in keep_headers_on_redirect, and all of them within one origin', async () => {
    const cross = `${srv.base}/redirect/302?to=${encodeURIComponent(`${other.base}/ok`)}`;
    await run(kind, { url: cross, method: 'GET', headers: secrets, keep_headers_on_redirect: ['x-API-key', 'X-Absent'] });
    assert.deepEqual(pick(other.requests[0]?.headers, ...secretNames), [undefined, undefined, 'k', 'jobq', FAKE_JOB_ID]);

    srv.requests.length = 0;
    const same = `${srv.base}/redirect/302?to=${encodeURIComponent('/ok')}`;
    await run(kind, { url: same, method: 'GET', headers: secrets });
    assert.deepEqual(pick(srv.requests[1]?.headers, ...secretNames), Object.values(secrets));
  });

  it('refuses Host and hop-by-hop headers without connecting (jobs enqueued before the check)', async () => {
    for (const name of ['Host', 'connection', 'Keep-Alive', 'Proxy-Authorization', 'TE', 'Upgrade', 'Transfer-Encoding']) {
      const refused = (e: unknown) => e instanceof PermanentError && e.message.includes(`header ${name} `);
      await assert.rejects(run(kind, { url: `${srv.base}/ok`, headers: { [name]: 'internal.example' } }), refused, name);
    }
    assert.equal(srv.requests.length, 0);
  });

  it('gives up after 5 redirects', async () => {
    const tooMany = (e: unknown) => e instanceof PermanentError && /too many redirects/.test(e.message);
    await assert.rejects(run(kind, { url: `${srv.base}/loop`, method: 'GET' }), tooMany);
    assert.equal(srv.requests.length, 6);
  });

  it('fails permanently on a redirect to a forbidden address, without following it', async () => {
    for (const target of ['http://169.254.169.254/latest/meta-data/', `http://localhost:${srv.port}/ok`, 'http://[::1]/']) {
      srv.requests.length = 0;
      await assert.rejects(run(kind, { url: `${srv.base}/redirect/302?to=${encodeURIComponent(target)}` }), isBlocked, target);
      assert.deepEqual(
        srv.requests.map((r) => r.path),
        ['/redirect/302'],
        target,
      );
    }
  });

  it('refuses non-http redirects and headers jobq manages', async () => {
    const to = encodeURIComponent('file:///etc/passwd');
    await assert.rejects(run(kind, { url: `${srv.base}/redirect/302?to=${to}` }), PermanentError);
    await assert.rejects(run(kind, { url: `${srv.base}/ok`, headers: { 'Content-Length': '5' } }), PermanentError);
  });

  it('with the default guard refuses loopback in any spelling without connecting', async () => {
    const guarded = httpKind({ allowHosts: [] });
    const p = srv.port;
    for (const host of ['127.0.0.1', '[::1]', 'localhost', '0x7f.1', '2130706433']) {
      await assert.rejects(run(guarded, { url: `http://${host}:${p}/ok` }), isBlocked, host);
    }
    assert.equal(srv.requests.length, 0);
  });
});

describe('http payload validation', () => {
  const registry = new KindRegistry(builtinKinds({ outboxDir: '/nonexistent', httpAllowHosts: [] }));

  it('accepts good payloads', () => {
    registry.validate('http', { url: 'https://example.com/hook' });
    const body = [1, 'two', { three: null }];
    registry.validate('http', { url: 'http://a.example/x?y=1', method: 'DELETE', headers: { 'X-T': 'a' }, body, timeout_ms: 300_000 });
    assert.equal(registry.get('http')?.defaultMaxAttempts, 5);
  });

  it('rejects bad payloads naming the field', () => {
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`x-h${i}`, 'v']));
    const u = 'https://example.com/';
    const cases: [unknown, string][] = [
      [{}, '/payload/url'],
      [{ url: 'ftp://example.com/' }, '/payload/url'],
      [{ url: 'not a url' }, '/payload/url'],
      [{ url: `${u}${'a'.repeat(2048)}` }, '/payload/url'],
      [{ url: u, method: 'TRACE' }, '/payload/method'],
      [{ url: u, headers: many }, '/payload/headers'],
      [{ url: u, headers: { 'bad name': 'v' } }, '/payload/headers/bad name'],
      [{ url: u, headers: { 'x-a': 'v\r\nx-b: injected' } }, '/payload/headers/x-a'],
      [{ url: u, headers: { 'x-a': 1 } }, '/payload/headers/x-a'],
      [{ url: u, keep_headers_on_redirect: ['bad name'] }, '/payload/keep_headers_on_redirect/0'],
      [{ url: u, timeout_ms: 0 }, '/payload/timeout_ms'],
      [{ url: u, timeout_ms: 300_001 }, '/payload/timeout_ms'],
      [{ url: u, extra: 1 }, '/payload/extra'],
    ];
    for (const [bad, where] of cases) {
      const invalid = (e: unknown) => isJobqError(e, 'payload_invalid') && e.details?.some((d) => d.path === where) === true;
      assert.throws(() => registry.validate('http', bad), invalid, `${where}: ${JSON.stringify(bad).slice(0, 80)}`);
    }
  });
});

describe('http headers refused at enqueue', () => {
  const registry = new KindRegistry(builtinKinds({ outboxDir: '/nonexistent', httpAllowHosts: [] }));
  const u = 'https://example.com/';
  const refused = [
    'Host', 'host', 'HOST', 'Connection', 'Keep-Alive', 'Proxy-Authorization', 'Proxy-Connection', 'TE', 'Trailer',
    'Transfer-Encoding', 'Upgrade', 'Content-Length', 'Expect',
  ];

  it('refuses Host, hop-by-hop headers, Content-Length and Expect naming the header', () => {
    for (const name of refused) {
      const invalid = (e: unknown) =>
        isJobqError(e, 'payload_invalid') &&
        e.details?.length === 1 &&
        e.details[0]?.path === `/payload/headers/${name}` &&
        e.details[0]?.message.includes(`header ${name} `) === true;
      assert.throws(() => registry.validate('http', { url: u, headers: { 'X-Fine': '1', [name]: 'v' } }), invalid, name);
    }
    registry.validate('http', { url: u, headers: { 'X-Api-Key': 'k', 'X-Hosted': 'v', Authorization: 'a', 'Content-Type': 't' } });
  });

  it('answers POST /v1/jobs with 400 payload_invalid and stores nothing', async () => {
    const { app, db } = await buildTestApp();
    const job = { kind: 'http', payload: { url: u, headers: { Host: 'admin.internal' } } };
    const e = assertError(await app.inject({ method: 'POST', url: '/v1/jobs', payload: job }), 400, 'payload_invalid');
    assert.deepEqual(e.error.details?.map((d) => d.path), ['/payload/headers/Host']);
    assert.match(e.error.message, /Host/);
    const { rows } = await db!.pool.query('SELECT count(*)::int AS n FROM jobq.jobs');
    assert.equal(rows[0].n, 0);
  });
});
