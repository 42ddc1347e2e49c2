/**
 * Never a 5xx for bad input: thousands of generated bodies, headers, paths and query strings thrown at
 * the app (fast-check, through inject). Every answer is below 500, carries a well-formed request id,
 * and every error has the error body with the status of its kind. Failures print fast-check's seed.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { assertErrorBody, buildTestApp } from '../helpers/fixtures.ts';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const KEY = 'fuzz-key';
let sent = 0;

// Built at file level: the database and the app live as long as the file.
const { app } = await buildTestApp({
  config: { apiKeys: [KEY], metricsAuth: true, bodyLimit: 64 * 1024 },
  metrics: { contentType: 'text/plain; version=0.0.4; charset=utf-8', render: async () => 'up 1\n' },
});
after(() => {
  assert.ok(sent >= 2000, `only ${sent} requests were sent`);
});

/** Sends one request and checks the invariants; returns the response for property-specific checks. */
async function send(opts: InjectOptions & { url: string; method: string }): Promise<LightMyRequestResponse> {
  sent++;
  const res = await app.inject(opts);
  const what = `${opts.method} ${opts.url.slice(0, 200)} → ${res.statusCode} ${res.body.slice(0, 300)}`;
  assert.ok(res.statusCode < 500, what);
  const id = res.headers['x-request-id'];
  assert.ok(typeof id === 'string' && REQUEST_ID.test(id), `request id ${String(id)}: ${what}`);
  const given = opts.headers?.['x-request-id'];
  if (typeof given === 'string' && REQUEST_ID.test(given)) assert.equal(id, given);
  if (opts.method !== 'HEAD') {
    if (res.statusCode >= 400) assertErrorBody(res.statusCode, res.body);
    else if (String(res.headers['content-type']).startsWith('application/json')) JSON.parse(res.body);
  }
  return res;
}

// ---- building blocks
const headerText = fc.string({ unit: fc.constantFrom(...' \t!"#$%&\'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~\u0080\u00ff'.split('')), maxLength: 40 });
const nastyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.constantFrom('', '\u0000', 'a\u0000b', '\ud800', 'x\udc00', '\ufeff', '💥', ' ', 'x'.repeat(300), '__proto__', 'constructor'),
);
const anyNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, 1, 100, 101, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), 2 ** 53 + 2, 1e308, -1e308, 5e-324, 0.5),
);
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { depthSize: 'small' },
  anyNumber,
  nastyText,
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 3 }),
  fc.dictionary(nastyText, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
);
const dateText = fc.oneof(
  fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('0000-01-01T00:00:00Z', '0001-01-01T00:30:00+01:00', '9999-12-31T23:59:59.999-23:59', '2016-12-31T23:59:60Z', '2030-02-30T00:00:00Z', '2030-01-01', 'now'),
);
/** Jobs that should be accepted: a kind with a payload that fits it, and valid envelope fields. */
const validJob = fc
  .tuple(
    fc.oneof(
      fc.record({ kind: fc.constant('noop'), payload: fc.record({ sleep_ms: fc.integer({ min: 0, max: 86_400_000 }) }, { requiredKeys: [] }) }),
      fc.record({
        kind: fc.constant('send_email'),
        payload: fc.record({ to: fc.constantFrom('ada@example.com', 'b.c+d@mail.example.org'), subject: fc.string({ minLength: 1, maxLength: 40 }), body: fc.oneof(fc.string({ unit: 'grapheme', maxLength: 200 }), nastyText) }),
      }),
      fc.record({ kind: fc.constant('summarize_text'), payload: fc.record({ text: fc.lorem({ maxCount: 8, mode: 'sentences' }), max_sentences: fc.integer({ min: 1, max: 50 }) }, { requiredKeys: ['text'] }) }),
      fc.record({
        kind: fc.constant('http'),
        // body is any JSON value: strange text there reaches the database unless the API stops it.
        payload: fc.record({ url: fc.constantFrom('https://example.com/hook', 'http://hooks.example.org/a?b=c'), method: fc.constantFrom('GET', 'POST'), body: fc.oneof(fc.jsonValue({ maxDepth: 4 }), anyValue) }, { requiredKeys: ['url'] }),
      }),
    ),
    fc.record(
      {
        queue: fc.constantFrom('default', 'mail', 'a:b.c-d_e'),
        priority: fc.integer({ min: -(2 ** 31) + 1, max: 2 ** 31 - 1 }),
        max_attempts: fc.integer({ min: 1, max: 100 }),
        timeout_ms: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        idempotency_key: fc.oneof({ weight: 1, arbitrary: fc.constantFrom('k1', 'k2', 'k3', 'k4') }, { weight: 3, arbitrary: fc.uuid() }, { weight: 1, arbitrary: nastyText }),
        singleton_key: fc.oneof(fc.constantFrom('s1', 's2'), nastyText),
      },
      { requiredKeys: [] },
    ),
    fc.oneof(
      fc.constant({}),
      fc.record({ delay_ms: fc.integer({ min: 0, max: 2 ** 31 - 1 }) }),
      fc.record({ run_at: fc.date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString()) }),
      fc.record({ debounce_key: fc.oneof(fc.constantFrom('d1', 'd2'), nastyText), debounce_ms: fc.integer({ min: 0, max: 2 ** 31 - 1 }) }),
    ),
  )
  .map(([job, fields, when]) => ({ ...job, ...fields, ...when }));
const FIELDS = ['kind', 'payload', 'queue', 'priority', 'max_attempts', 'run_at', 'delay_ms', 'timeout_ms', 'idempotency_key', 'singleton_key', 'debounce_key', 'debounce_ms'];
/** A valid job with one thing wrong: a field's value replaced, a required field dropped, or an unknown field added. */
const mutatedJob = fc
  .tuple(validJob, fc.constantFrom(...FIELDS, 'drop', 'extra'), fc.oneof(anyValue, dateText, nastyText, anyNumber), fc.constantFrom('kind', 'payload'), nastyText)
  .map(([job, field, value, required, extraKey]) => {
    const out: Record<string, unknown> = { ...job };
    if (field === 'drop') delete out[required];
    else if (field === 'extra') out[FIELDS.includes(extraKey) ? `${extraKey}_` : extraKey] = value;
    else out[field] = value;
    return out;
  });
/** Anything shaped a little like a job. */
const wildJob = fc
  .tuple(
    fc.record(
      {
        kind: fc.oneof(fc.constantFrom('noop', 'send_email', 'summarize_text', 'http'), nastyText, anyNumber),
        payload: anyValue,
        queue: fc.oneof(fc.constantFrom('default', 'mail'), nastyText, anyNumber),
        priority: fc.oneof(anyNumber, nastyText),
        max_attempts: fc.oneof(fc.integer({ min: -2, max: 102 }), anyValue),
        run_at: fc.oneof(dateText, anyValue),
        delay_ms: fc.oneof(anyNumber, nastyText),
        timeout_ms: fc.oneof(anyNumber, nastyText),
        idempotency_key: fc.oneof(fc.constantFrom('k1', 'k2', 'k3'), nastyText, anyNumber),
        singleton_key: fc.oneof(fc.constantFrom('s1', 's2'), nastyText, anyNumber),
        debounce_key: fc.oneof(fc.constantFrom('d1', 'd2'), nastyText, anyValue),
        debounce_ms: fc.oneof(anyNumber, nastyText),
      },
      { requiredKeys: [] },
    ),
    fc.option(fc.dictionary(nastyText, anyValue, { maxKeys: 2 }), { freq: 4 }),
  )
  .map(([env, extra]) => ({ ...(extra ?? {}), ...env }));
const envelope = fc.oneof({ arbitrary: validJob, weight: 3 }, { arbitrary: mutatedJob, weight: 4 }, { arbitrary: wildJob, weight: 2 });
const auth = fc.oneof(
  fc.constant(`Bearer ${KEY}`),
  fc.constant(`Bearer ${KEY}`),
  fc.constantFrom(`bearer ${KEY}`, `Bearer  ${KEY} `, `Bearer ${KEY}x`, 'Bearer', `Basic ${KEY}`, ''),
  headerText,
);
const requestId = fc.option(fc.oneof(fc.stringMatching(/^[A-Za-z0-9._:-]{1,128}$/), headerText, fc.constant('x'.repeat(129))));
const headers = (extra: Record<string, string | undefined>) =>
  Object.fromEntries(Object.entries(extra).filter((e): e is [string, string] => e[1] !== undefined));

// ---- properties
test('generated job envelopes (valid and not) on POST /v1/jobs: never a 5xx, errors well-formed', async () => {
  await fc.assert(
    fc.asyncProperty(envelope, fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.oneof(fc.constantFrom('k1', 'k2'), headerText) }), requestId, async (body, key, id) => {
      const res = await send({
        method: 'POST',
        url: '/v1/jobs',
        headers: headers({ authorization: `Bearer ${KEY}`, 'content-type': 'application/json', 'idempotency-key': key ?? undefined, 'x-request-id': id ?? undefined }),
        payload: JSON.stringify(body),
      });
      if (res.statusCode === 201) assert.match(String(res.headers.location), /^\/v1\/jobs\/[0-9a-f-]{36}$/);
    }),
    { numRuns: 800 },
  );
});

test('generated batches on POST /v1/jobs/batch: never a 5xx; an error in job i names /jobs/i', async () => {
  // Mostly valid jobs with at most one bad one (at a random place), sometimes not a list at all.
  const batch = fc
    .tuple(fc.array(validJob, { maxLength: 6 }), fc.option(fc.tuple(fc.nat(), fc.oneof(mutatedJob, wildJob)), { freq: 2 }))
    .map(([jobs, bad]) => (bad ? [...jobs.slice(0, bad[0] % (jobs.length + 1)), bad[1], ...jobs.slice(bad[0] % (jobs.length + 1))] : jobs));
  const jobsArb = fc.oneof({ weight: 6, arbitrary: batch }, { weight: 1, arbitrary: anyValue });
  await fc.assert(
    fc.asyncProperty(jobsArb, async (jobs) => {
      const res = await send({
        method: 'POST',
        url: '/v1/jobs/batch',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ jobs }),
      });
      if (res.statusCode === 201) assert.equal(JSON.parse(res.body).jobs.length, (jobs as unknown[]).length);
      for (const d of res.statusCode >= 400 ? (JSON.parse(res.body).error.details ?? []) : []) {
        if (typeof d.index === 'number') assert.ok(d.path.startsWith(`/jobs/${d.index}`), JSON.stringify(d));
      }
    }),
    { numRuns: 300 },
  );
});

test('raw bodies (bytes, broken or deep JSON, huge numbers) with any content type: never a 5xx', async () => {
  const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  const raw = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.jsonValue().map((v) => JSON.stringify(v) ?? ''),
    envelope.map((e) => JSON.stringify(e)).chain((s) => fc.nat({ max: s.length }).map((i) => s.slice(0, i))),
    fc.integer({ min: 1, max: 20_000 }).map(deep),
    fc.integer({ min: 1, max: 5_000 }).map((n) => `{"kind":"http","payload":{"url":"https://a.example","body":${deep(n)}}}`),
    fc.integer({ min: 60_000, max: 100_000 }).map((n) => `{"kind":"noop","payload":{},"x":"${'y'.repeat(n)}"}`),
    fc.constantFrom(
      '1e400', '{"kind":"noop","payload":{},"priority":1e999}', '{"kind":"noop","payload":{"sleep_ms":-1e400}}', '-', '{"__proto__":{"a":1}}',
      '{"kind":"noop","payload":{"constructor":{"prototype":{"x":1}}}}', '\ufeff{"kind":"noop","payload":{}}', 'null', '""', '[]', '{}',
      '{"kind":"noop","payload":{},"kind":"send_email"}', '{"kind":"noop","payload":{"\\u0000":1}}', '\u0000',
    ),
  );
  const contentType = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset="UTF-8"', 'application/JSON') },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'application/json; charset=latin1', 'application/json; charset=', 'application/json;;', 'text/plain', 'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x', 'application/jsonp', '*/*',
      ),
    },
    { weight: 1, arbitrary: headerText },
  );
  const target = fc.constantFrom('/v1/jobs', '/v1/jobs/batch', '/v1/jobs/01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f/cancel', '/v1/jobs/01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f/retry');
  await fc.assert(
    fc.asyncProperty(raw, fc.option(contentType, { freq: 8 }), target, async (payload, type, url) => {
      await send({ method: 'POST', url, headers: headers({ authorization: `Bearer ${KEY}`, 'content-type': type ?? undefined }), payload });
    }),
    { numRuns: 600 },
  );
});

test('any method, path, query string and headers: never a 5xx; /v1 needs the key', async () => {
  const uuid = fc.uuid();
  const segment = fc.oneof(
    fc.constantFrom('v1', 'v1', 'jobs', 'jobs', 'batch', 'cancel', 'retry', 'stats', 'kinds', 'healthz', 'readyz', 'metrics', 'openapi.json', 'docs', 'static', 'json'),
    fc.constantFrom('..', '.', '', '%FF', '%', '%E0%A4%A', '%00', '%2F', '%20', '*', ';', ':id', 'urn:uuid:01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f'),
    uuid,
    fc.string({ maxLength: 20 }).map(encodeURIComponent),
  );
  const path = fc.oneof(
    fc.constantFrom('/v1/jobs', '/v1/stats', '/v1/kinds', '/healthz', '/readyz', '/metrics', '/openapi.json', '/docs', '/v1/jobs/batch'),
    uuid.map((id) => `/v1/jobs/${id}`),
    fc.array(segment, { maxLength: 5 }).map((s) => `/${s.join('/')}`),
  );
  const queryValue = fc.oneof(
    fc.constantFrom('queued', 'running', 'done', 'noop', 'default', '0', '1', '50', '500', '501', '-1', '1.5', '1e3', '', 'MDE5NDhm', '%FF', '%00'),
    fc.string({ maxLength: 20 }).map(encodeURIComponent),
    fc.string({ maxLength: 300 }),
  );
  const query = fc.oneof(
    fc.constant(''),
    fc.array(fc.tuple(fc.constantFrom('status', 'kind', 'queue', 'limit', 'cursor', 'x', '__proto__', 'limit[]'), queryValue), { maxLength: 4 }).map(
      (pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&'),
    ),
    fc.string({ maxLength: 50 }),
  );
  const method = fc.constantFrom('GET', 'GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS');
  await fc.assert(
    fc.asyncProperty(method, path, query, fc.option(auth), requestId, async (m, p, q, authorization, id) => {
      const url = q ? `${p}?${q}` : p;
      const res = await send({ method: m, url, headers: headers({ authorization: authorization ?? undefined, 'x-request-id': id ?? undefined }) });
      const keyed = authorization === `Bearer ${KEY}` || authorization === `bearer ${KEY}` || authorization === `Bearer  ${KEY} `;
      if (res.statusCode < 300 && (p.startsWith('/v1') || p === '/metrics')) assert.ok(keyed, `${m} ${url} answered ${res.statusCode} to ${authorization}`);
      if (res.statusCode === 401) assert.match(String(res.headers['www-authenticate']), /^Bearer/);
    }),
    { numRuns: 700 },
  );
});
