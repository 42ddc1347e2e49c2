/** The typed client against a live server on 127.0.0.1 (a real socket, port 0). */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { createClient, JobqClientError, type NewJobWire } from '../../src/client.ts';
import { buildTestApp, eventually, listen } from '../helpers/fixtures.ts';
import { jobEvent, publish } from '../helpers/events.ts';

const mail = (to = 'ada@example.com'): NewJobWire => ({ kind: 'send_email', payload: { to, subject: 'Hi', body: 'Hello' } });

async function rejectsWith(promise: Promise<unknown>, status: number, kind: string): Promise<JobqClientError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof JobqClientError, String(err));
    assert.equal(err.status, status, err.message);
    assert.equal(err.kind, kind, err.message);
    return err;
  }
  assert.fail(`expected a ${kind} error`);
}

test('enqueue, get, enqueueBatch, cancel, retry, stats, kinds round-trip in wire types', async () => {
  const { app } = await buildTestApp();
  const client = createClient({ baseUrl: await listen(app) });
  const job = await client.enqueue({ ...mail(), priority: 3, queue: 'mail' });
  assert.equal(job.status, 'queued');
  assert.equal(job.priority, 3);
  assert.equal(job.max_attempts, 3);
  assert.deepEqual(await client.get(job.id), job);

  const batch = await client.enqueueBatch([mail('a@example.com'), { kind: 'noop', payload: {} }]);
  assert.deepEqual(batch.map((j) => j.kind), ['send_email', 'noop']);
  const cancelled = await client.cancel(batch[1]!.id);
  assert.equal(cancelled.outcome, 'cancelled');
  assert.equal(cancelled.job.status, 'cancelled');
  const retried = await client.retry(batch[1]!.id);
  assert.equal(retried.status, 'queued');

  const stats = await client.stats();
  assert.equal(stats.by_status.queued, 3);
  assert.equal(stats.by_queue.mail?.queued, 1);
  const kinds = await client.kinds();
  assert.ok(kinds.some((k) => k.name === 'send_email' && k.default_max_attempts === 3));
});

test('an idempotency key gives the same job back', async () => {
  const { app } = await buildTestApp();
  const client = createClient({ baseUrl: await listen(app) });
  const a = await client.enqueue(mail(), { idempotencyKey: 'order-7' });
  const b = await client.enqueue(mail(), { idempotencyKey: 'order-7' });
  assert.equal(b.id, a.id);
  assert.equal(a.idempotency_key, 'order-7');
  const conflict = await rejectsWith(client.enqueue(mail('bob@example.com'), { idempotencyKey: 'order-7' }), 409, 'idempotency_conflict');
  assert.equal(conflict.details?.[0]?.path, '/idempotency_key');
});

test('API errors become JobqClientError with status, kind, message and details', async () => {
  const { app } = await buildTestApp();
  const client = createClient({ baseUrl: await listen(app) });
  const invalid = await rejectsWith(client.enqueue({ kind: 'send_email', payload: { to: 'nope', subject: 's', body: 'b' } }), 400, 'payload_invalid');
  assert.match(invalid.message, /send_email/);
  assert.deepEqual(invalid.details?.map((d) => d.path), ['/payload/to']);
  const batch = await rejectsWith(client.enqueueBatch([mail(), { kind: 'nope', payload: {} }]), 400, 'unknown_kind');
  assert.equal(batch.details?.[0]?.index, 1);
  await rejectsWith(client.get('01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f'), 404, 'not_found');
  await rejectsWith(client.get('not-a-uuid'), 400, 'validation_failed');
  const job = await client.enqueue(mail());
  await rejectsWith(client.retry(job.id), 409, 'invalid_transition');
  await rejectsWith(client.listPage({ limit: 0 }), 400, 'validation_failed');
});

test('list walks every page, newest first; listPage gives one page and its cursor', async () => {
  const { app } = await buildTestApp();
  const client = createClient({ baseUrl: await listen(app) });
  const created = await client.enqueueBatch(Array.from({ length: 7 }, (_, i) => ({ kind: 'noop', payload: { sleep_ms: i } })));
  await client.enqueue(mail());
  const page = await client.listPage({ kind: 'noop', limit: 3 });
  assert.equal(page.jobs.length, 3);
  assert.ok(page.next_cursor);
  const all: string[] = [];
  for await (const job of client.list({ kind: 'noop', limit: 3 })) all.push(job.id);
  assert.deepEqual(all, created.map((j) => j.id).reverse());
  const rest: string[] = [];
  for await (const job of client.list({ kind: 'noop', limit: 3, cursor: page.next_cursor! })) rest.push(job.id);
  assert.deepEqual(rest, all.slice(3));
  let count = 0;
  for await (const _ of client.list({ status: 'succeeded' })) count++;
  assert.equal(count, 0);
});

test('waitFor resolves when the job reaches a terminal status, woken by its event', { timeout: 30_000 }, async () => {
  // Reconciliation far off: only the published event can end the long-poll before the test's timeout.
  const { app, queue, db, hub } = await buildTestApp({ hubOptions: { reconcileMs: 600_000 } });
  const client = createClient({ baseUrl: await listen(app) });
  const job = await client.enqueue({ kind: 'noop', payload: {} });
  const waiting = client.waitFor(job.id, { timeoutMs: 60_000 });
  // waitFor's long-poll has read the job (queued) and waits.
  await eventually(() => (hub!.stats().knownStates === 1 ? true : undefined), 10_000, 'the long-poll to wait');
  const [claimed] = await queue.claim('w1');
  assert.equal(claimed?.id, job.id);
  assert.deepEqual(await queue.complete('w1', [{ id: job.id, claimSeq: claimed!.claimSeq, result: { done: true } }]), [claimed!.claimSeq]);
  await publish(db!.pool, jobEvent(job, 'succeeded'));
  const done = await waiting;
  assert.equal(done.status, 'succeeded');
  assert.deepEqual(done.result, { done: true });
});

test('waitFor rejects with kind timeout when the job stays unfinished', async () => {
  const { app } = await buildTestApp();
  const client = createClient({ baseUrl: await listen(app) });
  const job = await client.enqueue({ kind: 'noop', payload: {} });
  const started = Date.now();
  const err = await rejectsWith(client.waitFor(job.id, { timeoutMs: 150, intervalMs: 20 }), 0, 'timeout');
  assert.ok(Date.now() - started >= 150);
  assert.match(err.message, /queued/);
});

test('the API key is sent as a bearer token', async () => {
  const { app } = await buildTestApp({ config: { apiKeys: ['s3cret'] } });
  const baseUrl = await listen(app);
  const denied = await rejectsWith(createClient({ baseUrl }).stats(), 401, 'unauthorized');
  assert.match(denied.message, /Bearer/);
  await rejectsWith(createClient({ baseUrl, apiKey: 'wrong' }).stats(), 401, 'unauthorized');
  const stats = await createClient({ baseUrl, apiKey: 's3cret' }).stats();
  assert.equal(stats.by_status.queued, 0);
});

test('no answer is network_error (status 0); an error without the error body is invalid_response', async () => {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  const refused = await rejectsWith(createClient({ baseUrl: `http://127.0.0.1:${port}` }).stats(), 0, 'network_error');
  assert.match(refused.message, /^GET \/v1\/stats failed: fetch failed \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)$/, 'says why, not only "fetch failed"');

  // timeoutMs: a server that accepts and never answers.
  const silent = createServer(() => {});
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  try {
    const late = await rejectsWith(createClient({ baseUrl: `http://127.0.0.1:${(silent.address() as { port: number }).port}`, timeoutMs: 100 }).kinds(), 0, 'network_error');
    assert.equal(late.message, 'GET /v1/kinds failed: no answer within 100 ms');
  } finally {
    silent.close();
    silent.unref();
  }

  const calls: string[] = [];
  const fakeFetch: typeof fetch = async (input, init) => {
    calls.push(`${init?.method} ${String(input)}`);
    return new Response('<html>bad gateway</html>', { status: 502, headers: { 'content-type': 'text/html' } });
  };
  await rejectsWith(createClient({ baseUrl: 'http://jobq.invalid/base/', fetch: fakeFetch }).get('x y'), 502, 'invalid_response');
  assert.deepEqual(calls, ['GET http://jobq.invalid/base/v1/jobs/x%20y']);
});
