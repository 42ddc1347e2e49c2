/**
 * Issue #4's table, row by row, through app.inject: the enqueue rows (POST /v1/jobs and /v1/jobs/batch),
 * each success and each error they list. The other rows are in contract-routes.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assertError, body, buildTestApp, email, ISO_UTC, JOB_KEYS, jobCount } from '../helpers/fixtures.ts';

const json = { 'content-type': 'application/json' };

describe('POST /v1/jobs', () => {
  test('201: the job in snake_case with every field, and Location pointing at it', async () => {
    const { app } = await buildTestApp();
    const res = await app.inject({ method: 'POST', url: '/v1/jobs', payload: email() });
    assert.equal(res.statusCode, 201, res.body);
    const job = body(res);
    assert.deepEqual(Object.keys(job).sort(), [...JOB_KEYS].sort());
    assert.equal(res.headers.location, `/v1/jobs/${job.id}`);
    assert.equal(job.kind, 'send_email');
    assert.deepEqual(job.payload, email().payload);
    assert.equal(job.status, 'queued');
    assert.equal(job.queue, 'default');
    assert.equal(job.priority, 0);
    assert.equal(job.attempts, 0);
    assert.equal(job.max_attempts, 3);
    for (const k of ['run_at', 'created_at', 'updated_at']) assert.match(job[k], ISO_UTC);
    for (const k of ['locked_by', 'locked_at', 'idempotency_key', 'group', 'last_error', 'result', 'finished_at', 'timeout_ms']) assert.equal(job[k], null, k);
    assert.equal(job.cancel_requested, false);
    assert.deepEqual(job.errors, []);
    const again = await app.inject({ url: res.headers.location as string });
    assert.equal(again.statusCode, 200);
    assert.deepEqual(body(again), job);
  });

  test('201: queue, priority, max_attempts, timeout_ms, delay_ms and run_at (any offset, rendered in UTC) are applied', async () => {
    const { app } = await buildTestApp();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/jobs',
      payload: email({ queue: 'mail', priority: -7, max_attempts: 100, timeout_ms: 1234, delay_ms: 3_600_000 }),
    });
    assert.equal(res.statusCode, 201, res.body);
    const job = body(res);
    assert.equal(job.queue, 'mail');
    assert.equal(job.priority, -7);
    assert.equal(job.max_attempts, 100);
    assert.equal(job.timeout_ms, 1234);
    const delay = Date.parse(job.run_at) - Date.parse(job.created_at);
    assert.ok(delay >= 3_599_000 && delay <= 3_601_000, `run_at - created_at = ${delay}`);
    const at = await app.inject({ method: 'POST', url: '/v1/jobs', payload: email({ run_at: '2031-05-06T09:10:11.5+02:00' }) });
    assert.equal(at.statusCode, 201, at.body);
    assert.equal(body(at).run_at, '2031-05-06T07:10:11.500Z');
  });

  test('200 + Idempotent-Replayed for a key seen with the same kind and payload (body field or header)', async () => {
    const { app } = await buildTestApp();
    const first = await app.inject({ method: 'POST', url: '/v1/jobs', payload: email({ idempotency_key: 'signup-1' }) });
    assert.equal(first.statusCode, 201);
    assert.equal(first.headers['idempotent-replayed'], undefined);
    const replay = await app.inject({ method: 'POST', url: '/v1/jobs', payload: email({ idempotency_key: 'signup-1' }) });
    assert.equal(replay.statusCode, 200, replay.body);
    assert.equal(replay.headers['idempotent-replayed'], 'true');
    assert.deepEqual(body(replay), body(first));

    const viaHeader = await app.inject({ method: 'POST', url: '/v1/jobs', headers: { 'idempotency-key': 'signup-1' }, payload: email() });
    assert.equal(viaHeader.statusCode, 200, viaHeader.body);
    assert.equal(body(viaHeader).id, body(first).id);
    const both = await app.inject({ method: 'POST', url: '/v1/jobs', headers: { 'idempotency-key': 'h-2' }, payload: email({ idempotency_key: 'h-2' }) });
    assert.equal(both.statusCode, 201);
    assert.equal(body(both).idempotency_key, 'h-2');
  });

  test('409 idempotency_conflict: the same key with another payload or kind', async () => {
    const { app } = await buildTestApp();
    const first = body(await app.inject({ method: 'POST', url: '/v1/jobs', payload: email({ idempotency_key: 'k' }) }));
    const other = email({ idempotency_key: 'k', payload: { to: 'bob@example.com', subject: 'x', body: 'y' } });
    const e = assertError(await app.inject({ method: 'POST', url: '/v1/jobs', payload: other }), 409, 'idempotency_conflict');
    assert.equal(e.error.details?.[0]?.path, '/idempotency_key');
    assert.equal(e.error.details?.[0]?.job_id, first.id);
    assert.equal(e.error.details?.[0]?.index, undefined, 'a single job has no index');
    const otherKind = { kind: 'noop', payload: {}, idempotency_key: 'k' };
    assertError(await app.inject({ method: 'POST', url: '/v1/jobs', payload: otherKind }), 409, 'idempotency_conflict');
  });

  test('400 payload_invalid names the fields of the payload', async () => {
    const { app, db } = await buildTestApp();
    const res = await app.inject({ method: 'POST', url: '/v1/jobs', payload: email({ payload: { to: 'not an address', subject: 'hi' } }) });
    const e = assertError(res, 400, 'payload_invalid');
    const paths = e.error.details!.map((d) => d.path).sort();
    assert.deepEqual(paths, ['/payload/body', '/payload/to']);
    const extra = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { kind: 'noop', payload: { sleep_ms: 1, nap: true } } });
    assert.equal(assertError(extra, 400, 'payload_invalid').error.details?.[0]?.path, '/payload/nap');
    assert.equal(await jobCount(db!.pool), 0); // in either store
  });

  test('400 unknown_kind', async () => {
    const { app } = await buildTestApp();
    const e = assertError(await app.inject({ method: 'POST', url: '/v1/jobs', payload: { kind: 'teleport', payload: {} } }), 400, 'unknown_kind');
    assert.match(e.error.message, /teleport/);
    assert.equal(e.error.details?.[0]?.path, '/kind');
  });

  test('400 validation_failed: bad envelopes are rejected, not coerced or stripped', async () => {
    const { app, db } = await buildTestApp();
    const cases: [unknown, string][] = [
      [email({ priority: '5' }), '/priority'],
      [email({ max_attempts: 0 }), '/max_attempts'],
      [email({ max_attempts: 101 }), '/max_attempts'],
      [email({ max_attempts: 2.5 }), '/max_attempts'],
      [email({ delay_ms: -1 }), '/delay_ms'],
      [email({ timeout_ms: 0 }), '/timeout_ms'],
      [email({ queue: 'has space' }), '/queue'],
      [email({ idempotency_key: '' }), '/idempotency_key'],
      [email({ run_at: '2030-01-01' }), '/run_at'],
      [email({ run_at: '2030-01-01T00:00:00' }), '/run_at'],
      [email({ run_at: '0000-01-01T00:00:00Z' }), '/run_at'],
      [email({ run_at: '2030-01-01T00:00:00Z', delay_ms: 5 }), '/run_at'],
      [email({ colour: 'blue' }), '/colour'],
      [{ payload: {} }, '/kind'],
      [{ kind: 'noop' }, '/payload'],
      [[email()], '/'],
      ['just a string', '/'],
      [{ kind: 'noop', payload: { deep: JSON.parse('['.repeat(80) + ']'.repeat(80)) } }, '/payload/deep'],
    ];
    for (const [payload, path] of cases) {
      const res = await app.inject({ method: 'POST', url: '/v1/jobs', headers: json, payload: JSON.stringify(payload) });
      const e = assertError(res, 400, 'validation_failed');
      assert.ok(
        e.error.details?.some((d) => d.path === path || d.path.startsWith(`${path}/`)),
        `${JSON.stringify(payload).slice(0, 80)}: expected a detail at ${path}, got ${JSON.stringify(e.error.details)}`,
      );
    }
    assert.equal(await jobCount(db!.pool), 0); // in either store
  });

  test('400 validation_failed: the Idempotency-Key header and the body key differ', async () => {
    const { app } = await buildTestApp();
    const res = await app.inject({ method: 'POST', url: '/v1/jobs', headers: { 'idempotency-key': 'a' }, payload: email({ idempotency_key: 'b' }) });
    assert.equal(assertError(res, 400, 'validation_failed').error.details?.[0]?.path, '/idempotency_key');
  });

  test('400 validation_failed: malformed JSON, empty body, non-UTF-8, U+0000, out-of-range numbers', async () => {
    const { app } = await buildTestApp();
    const raw = [
      '{"kind": "noop", "payload": {}',
      '',
      Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]),
      '{"kind":"noop","payload":{},"idempotency_key":"a\\u0000b"}',
      '{"kind":"http","payload":{"url":"https://example.com","body":"\\ud800"}}',
      '{"kind":"noop","payload":{},"priority":1e400}',
      '{"kind":"noop","payload":{},"__proto__":{"admin":true}}',
    ];
    for (const payload of raw) {
      const res = await app.inject({ method: 'POST', url: '/v1/jobs', headers: json, payload });
      assertError(res, 400, 'validation_failed');
    }
  });

  test('401 unauthorized without a valid key, 413 payload_too_large, 415 unsupported_media_type', async () => {
    const { app } = await buildTestApp({ config: { apiKeys: ['k1'], bodyLimit: 2048 } });
    const auth = { authorization: 'Bearer k1' };
    const noKey = await app.inject({ method: 'POST', url: '/v1/jobs', payload: email() });
    assertError(noKey, 401, 'unauthorized');
    assert.match(String(noKey.headers['www-authenticate']), /^Bearer/);
    assertError(await app.inject({ method: 'POST', url: '/v1/jobs', headers: { authorization: 'Bearer k2' }, payload: email() }), 401, 'unauthorized');
    const big = email({ payload: { to: 'a@b.co', subject: 's', body: 'x'.repeat(4096) } });
    assertError(await app.inject({ method: 'POST', url: '/v1/jobs', headers: auth, payload: big }), 413, 'payload_too_large');
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1']) {
      const res = await app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...auth, 'content-type': type }, payload: JSON.stringify(email()) });
      assertError(res, 415, 'unsupported_media_type');
    }
    const ok = await app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...auth, 'content-type': 'application/json; charset=UTF-8' }, payload: JSON.stringify(email()) });
    assert.equal(ok.statusCode, 201, ok.body);
  });
});

describe('POST /v1/jobs/batch', () => {
  test('201 with the jobs in request order, in one transaction', async () => {
    const { app, db } = await buildTestApp();
    const jobs = Array.from({ length: 5 }, (_, i) => ({ kind: 'noop', payload: { sleep_ms: i }, priority: i }));
    const res = await app.inject({ method: 'POST', url: '/v1/jobs/batch', payload: { jobs } });
    assert.equal(res.statusCode, 201, res.body);
    const out = body(res).jobs;
    assert.deepEqual(out.map((j: any) => j.payload.sleep_ms), [0, 1, 2, 3, 4]);
    assert.deepEqual(out.map((j: any) => j.priority), [0, 1, 2, 3, 4]);
    assert.equal(await jobCount(db!.pool), 5); // in either store: the one of priority 0 is plain
  });

  test('one invalid job rejects the whole batch; details name its index', async () => {
    const { app, db } = await buildTestApp();
    const jobs = [email(), email(), email(), email({ payload: { to: 'nope', subject: 's', body: 'b' } })];
    const e = assertError(await app.inject({ method: 'POST', url: '/v1/jobs/batch', payload: { jobs } }), 400, 'payload_invalid');
    assert.deepEqual(e.error.details, [{ path: '/jobs/3/payload/to', message: 'must match format "email"', index: 3 }]);
    const envelope = assertError(
      await app.inject({ method: 'POST', url: '/v1/jobs/batch', payload: { jobs: [email(), email(), email({ priority: 'high' })] } }),
      400,
      'validation_failed',
    );
    assert.deepEqual(envelope.error.details?.map((d) => [d.path, d.index]), [['/jobs/2/priority', 2]]);
    const kind = assertError(await app.inject({ method: 'POST', url: '/v1/jobs/batch', payload: { jobs: [email(), { kind: 'x', payload: 1 }] } }), 400, 'unknown_kind');
    assert.equal(kind.error.details?.[0]?.path, '/jobs/1/kind');
    const runAt = assertError(
      await app.inject({ method: 'POST', url: '/v1/jobs/batch', payload: { jobs: [email(), email({ run_at: '2030-01-01T00:00:00Z', delay_ms: 1 })] } }),
      400,
      'validation_failed',
    );
    assert.equal(runAt.error.details?.[0]?.path, '/jobs/1/run_at');
    assert.equal(await jobCount(db!.pool), 0); // in either store
  });

  test('409 idempotency_conflict inside a batch leaves nothing behind', async () => {
    const { app, db } = await buildTestApp();
    await app.inject({ method: 'POST', url: '/v1/jobs', payload: email({ idempotency_key: 'k' }) });
    const jobs = [{ kind: 'noop', payload: {} }, email({ idempotency_key: 'k', payload: { to: 'x@y.zz', subject: 's', body: 'b' } })];
    const e = assertError(await app.inject({ method: 'POST', url: '/v1/jobs/batch', payload: { jobs } }), 409, 'idempotency_conflict');
    assert.equal(e.error.details?.[0]?.path, '/jobs/1/idempotency_key');
    assert.equal(e.error.details?.[0]?.index, 1);
    assert.equal(await jobCount(db!.pool), 1); // in either store: the plain noop of the batch would be a log entry
  });

  test('400 validation_failed for 0 or 1001 jobs, or a body without jobs', async () => {
    const { app } = await buildTestApp();
    for (const payload of [{ jobs: [] }, { jobs: Array.from({ length: 1001 }, () => ({ kind: 'noop', payload: {} })) }, {}, { jobs: [], more: 1 }]) {
      const e = assertError(await app.inject({ method: 'POST', url: '/v1/jobs/batch', payload }), 400, 'validation_failed');
      assert.ok(e.error.details?.some((d) => d.path.startsWith('/jobs') || d.path === '/more'), JSON.stringify(e));
    }
  });
});
