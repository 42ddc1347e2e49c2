/**
 * Hostile traffic for scenario 4: fast-check generated requests (any method, path, query, header and
 * body the HTTP client can frame), raw malformed HTTP over `net` sockets (bad request lines, huge or
 * broken headers, bad Content-Length, request smuggling shapes, truncated bodies, binary junk), and
 * slowloris connections that dribble a header every 500 ms until a deadline.
 */
import net from 'node:net';
import fc from 'fast-check';

export interface GenRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
}

const UUID = '01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f';
const nasty = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom('', '\u0000', '\ud800', 'x\udc00', '\ufeff', '💥', '__proto__', 'constructor', "'; DROP TABLE jobq.jobs; --", "' OR '1'='1", 'x'.repeat(300)),
);
const num = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, -1, 2 ** 31, 2 ** 53 + 2, 1e308, 5e-324));
const anyValue: fc.Arbitrary<unknown> = fc.oneof({ depthSize: 'small' }, num, nasty, fc.boolean(), fc.constant(null), fc.jsonValue({ maxDepth: 3 }), fc.dictionary(nasty, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }));
const kind = fc.oneof(fc.constantFrom('noop', 'send_email', 'summarize_text', 'http'), nasty);
const job = fc.record(
  {
    kind,
    payload: fc.oneof(anyValue, fc.record({ sleep_ms: num }), fc.record({ to: nasty, subject: nasty, body: nasty }), fc.record({ url: fc.oneof(fc.webUrl(), nasty), body: anyValue })),
    queue: fc.oneof(fc.constantFrom('default', 'a:b.c-d_e'), nasty, num),
    priority: fc.oneof(num, nasty),
    max_attempts: fc.oneof(fc.integer({ min: -2, max: 102 }), anyValue),
    run_at: fc.oneof(fc.constantFrom('2030-02-30T00:00:00Z', '0000-01-01T00:00:00Z', 'now', '9999-12-31T23:59:59.999-23:59'), nasty),
    delay_ms: fc.oneof(num, nasty),
    idempotency_key: fc.oneof(fc.uuid(), nasty, num),
    singleton_key: fc.oneof(fc.uuid(), nasty, num),
    debounce_key: fc.oneof(fc.uuid(), nasty, num),
    debounce_ms: fc.oneof(num, nasty),
  },
  { requiredKeys: [] },
);
const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const body = fc.oneof(
  { weight: 5, arbitrary: job.map((j) => JSON.stringify(j)) },
  { weight: 2, arbitrary: fc.array(job, { maxLength: 5 }).map((jobs) => JSON.stringify({ jobs })) },
  { weight: 1, arbitrary: anyValue.map((v) => JSON.stringify(v) ?? '') },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: job.map((j) => JSON.stringify(j)).chain((s) => fc.nat({ max: s.length }).map((i) => s.slice(0, i))) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 20_000 }).map(deep) },
  { weight: 1, arbitrary: fc.constantFrom('1e400', '{"__proto__":{"a":1}}', '\ufeff{"kind":"noop","payload":{}}', 'null', '{"kind":"noop","payload":{"\\u0000":1}}', '{"jobs":[]}', `{"jobs":[${Array(1001).fill('{"kind":"noop","payload":{}}').join(',')}]}`) },
);
const pathChars = fc.constantFrom(...'abcXYZ019-._~!$&\'()*+,;=:@/%?#[]'.split(''), '%zz', '%ff%fe', '%00', '%2e%2e/', '..', '//', '%c0%ae');
const path = fc.oneof(
  fc.constantFrom('/v1/jobs', '/v1/jobs/batch', `/v1/jobs/${UUID}`, `/v1/jobs/${UUID}/cancel`, `/v1/jobs/${UUID}/retry`, '/v1/stats', '/v1/kinds', '/healthz', '/readyz', '/metrics', '/openapi.json', '/docs', '/docs/json', '/'),
  fc.tuple(fc.constantFrom('/v1/jobs/', '/v1/', '/docs/static/', '/'), fc.array(pathChars, { maxLength: 20 })).map(([p, cs]) => p + cs.join('')),
  fc.record({ status: fc.oneof(fc.constantFrom('queued', 'succeeded', 'nope'), nasty), kind: nasty, queue: nasty, limit: fc.oneof(num, nasty), cursor: nasty }, { requiredKeys: [] })
    .map((q) => `/v1/jobs?${new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)])).toString()}`),
);
const headerValue = fc.string({ unit: fc.constantFrom(...' \t!"#$%&\'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~'.split('')), maxLength: 60 });
const headers = fc.record(
  {
    'content-type': fc.oneof(fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', '', 'application/json; charset="UTF-8"'), headerValue),
    'idempotency-key': fc.oneof(fc.uuid(), headerValue),
    'x-request-id': fc.oneof(fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/), headerValue),
    authorization: fc.oneof(fc.constantFrom('Bearer x', 'Basic YTpi', 'Bearer'), headerValue),
    accept: fc.constantFrom('*/*', 'text/html', 'application/xml'),
    'accept-encoding': fc.constantFrom('gzip', 'br', 'identity', '*'),
    cookie: headerValue,
  },
  { requiredKeys: [] },
);

export const generatedRequest: fc.Arbitrary<GenRequest> = fc
  .tuple(fc.constantFrom('GET', 'GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'), path, headers, fc.option(body, { freq: 4 }))
  .map(([method, p, h, b]) => ({ method, path: p, headers: h, body: b === null || method === 'GET' || method === 'HEAD' ? undefined : Buffer.from(b as string) }));

/** Raw byte sequences no HTTP client would send. Each is written to a fresh connection. */
export function rawAttacks(port: number): { name: string; chunks: (string | Buffer)[]; end: boolean }[] {
  const h = `Host: 127.0.0.1:${port}\r\n`;
  const post = (extra: string, bodyText = '{}') => `POST /v1/jobs HTTP/1.1\r\n${h}Content-Type: application/json\r\n${extra}\r\n${bodyText}`;
  return [
    { name: 'garbage line', chunks: ['GARBAGE\r\n\r\n'], end: true },
    { name: 'no host', chunks: ['GET /healthz HTTP/1.1\r\n\r\n'], end: false },
    { name: 'bad version', chunks: [`GET /v1/jobs HTTP/9.9\r\n${h}\r\n`], end: false },
    { name: 'lowercase method', chunks: [`get /healthz HTTP/1.1\r\n${h}\r\n`], end: false },
    { name: 'unknown method', chunks: [`BREW /v1/jobs HTTP/1.1\r\n${h}\r\n`], end: false },
    { name: 'huge header', chunks: [`GET /healthz HTTP/1.1\r\n${h}X-Big: ${'a'.repeat(40_000)}\r\n\r\n`], end: false },
    { name: 'many headers', chunks: [`GET /healthz HTTP/1.1\r\n${h}${Array.from({ length: 3000 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`], end: false },
    { name: 'huge url', chunks: [`GET /v1/jobs?${'q'.repeat(100_000)} HTTP/1.1\r\n${h}\r\n`], end: false },
    { name: 'content-length abc', chunks: [post('Content-Length: abc\r\n')], end: false },
    { name: 'content-length negative', chunks: [post('Content-Length: -1\r\n')], end: false },
    { name: 'two content-lengths', chunks: [post('Content-Length: 2\r\nContent-Length: 3\r\n')], end: false },
    { name: 'content-length and chunked', chunks: [post('Content-Length: 2\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n')], end: false },
    { name: 'bad chunk size', chunks: [post('Transfer-Encoding: chunked\r\n', 'zz\r\n{}\r\n0\r\n\r\n')], end: false },
    { name: 'huge chunk size', chunks: [post('Transfer-Encoding: chunked\r\n', 'ffffffffffffffffff\r\n{}\r\n')], end: false },
    { name: 'huge content-length', chunks: [post('Content-Length: 99999999999\r\n')], end: false },
    { name: 'truncated body, closed', chunks: [post('Content-Length: 100\r\n', '{"kind":"noop"')], end: true },
    { name: 'truncated body, left open', chunks: [post('Content-Length: 100\r\n', '{"kind":"noop"')], end: false },
    { name: 'nul in header', chunks: [`GET /healthz HTTP/1.1\r\n${h}X-A: a\u0000b\r\n\r\n`], end: false },
    { name: 'header without colon', chunks: [`GET /healthz HTTP/1.1\r\n${h}NoColonHere\r\n\r\n`], end: false },
    { name: 'obs-fold', chunks: [`GET /healthz HTTP/1.1\r\n${h}X-A: a\r\n folded\r\n\r\n`], end: false },
    { name: 'space in path', chunks: [`GET /v1/jobs/ a HTTP/1.1\r\n${h}\r\n`], end: false },
    { name: 'absolute uri', chunks: [`GET http://169.254.169.254/v1/jobs HTTP/1.1\r\n${h}\r\n`], end: false },
    { name: 'bad percent', chunks: [`GET /v1/jobs/%zz%ff HTTP/1.1\r\n${h}\r\n`], end: false },
    { name: 'nul in path', chunks: [`GET /v1/jobs/\u0000 HTTP/1.1\r\n${h}\r\n`], end: false },
    { name: 'bare LF', chunks: [`GET /healthz HTTP/1.1\n${h.replace('\r\n', '\n')}\n`], end: false },
    { name: 'http/1.0 no host', chunks: ['GET /healthz HTTP/1.0\r\n\r\n'], end: false },
    { name: 'upgrade', chunks: [`GET /v1/jobs HTTP/1.1\r\n${h}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`], end: false },
    { name: 'expect 100', chunks: [post('Expect: 100-continue\r\nContent-Length: 2\r\n')], end: false },
    { name: 'pipelined then garbage', chunks: [`GET /healthz HTTP/1.1\r\n${h}\r\nGET /healthz HTTP/1.1\r\n${h}\r\nGET /v1/stats HTTP/1.1\r\n${h}\r\n\u0001\u0002GARBAGE\r\n\r\n`], end: false },
    { name: 'headers in pieces', chunks: ['GET /hea', 'lthz HTTP/1.', `1\r\n${h}`, '\r\n'], end: false },
    { name: 'json with bad utf-8', chunks: [post('Content-Length: 30\r\n', ''), Buffer.from([0x7b, 0x22, 0x6b, 0x69, 0x6e, 0x64, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc0, 0xaf, 0x22, 0x2c, 0x22, 0x70, 0x61, 0x79, 0x6c, 0x6f, 0x61, 0x64, 0x22, 0x3a, 0x7b, 0x7d, 0x7d, 0x20, 0x20])], end: false },
  ];
}

/** Random bytes, sometimes after a valid-looking request line. */
export const junk: fc.Arbitrary<Buffer> = fc
  .tuple(fc.constantFrom('', 'GET / HTTP/1.1\r\n', 'POST /v1/jobs HTTP/1.1\r\nHost: x\r\n'), fc.uint8Array({ minLength: 1, maxLength: 2000 }))
  .map(([prefix, bytes]) => Buffer.concat([Buffer.from(prefix), Buffer.from(bytes)]));

/** Writes the chunks (a few ms apart), reads until the server closes or `ms` passes; returns the status codes seen. */
export function rawExchange(port: number, chunks: (string | Buffer)[], end: boolean, ms = 3_000): Promise<{ statuses: number[]; closedByServer: boolean; text: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    let closedByServer = false;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const statuses = [...data.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
      resolve({ statuses, closedByServer, text: data });
    };
    const timer = setTimeout(finish, ms);
    socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
    socket.on('end', () => {
      closedByServer = true;
      finish();
    });
    socket.on('error', () => finish());
    socket.on('connect', async () => {
      for (const c of chunks) {
        if (socket.destroyed) return;
        socket.write(c);
        await new Promise((r) => setTimeout(r, 5));
      }
      if (end) socket.end();
    });
  });
}

/** Opens `n` connections that send a request line and then one header line every 500 ms until `untilMs`. */
export function slowloris(port: number, n: number, untilMs: number): Promise<{ opened: number; closedByServer: number }> {
  let opened = 0;
  let closedByServer = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearInterval(timer);
        socket.destroy();
        resolve();
      };
      socket.on('connect', () => {
        opened++;
        socket.write(`POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`);
        let i = 0;
        timer = setInterval(() => {
          if (Date.now() >= untilMs) return done();
          socket.write(`X-Slow-${i++}: ${'z'.repeat(10)}\r\n`);
        }, 500);
      });
      socket.on('end', () => {
        closedByServer++;
        done();
      });
      socket.on('error', done);
      socket.on('close', done);
    });
  return Promise.all(Array.from({ length: n }, one)).then(() => ({ opened, closedByServer }));
}
