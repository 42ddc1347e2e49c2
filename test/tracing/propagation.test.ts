/**
 * Traces across the queue, with the OpenTelemetry SDK registered (its in-memory exporter): an enqueue
 * over HTTP continues the caller's traceparent in a PRODUCER span, the job stores that span's context,
 * and the worker's run is a CONSUMER span whose parent is the producer span and which links to it; a
 * library enqueue inside an active span propagates the same way. Real HTTP, real PostgreSQL, a real
 * worker in-process.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type pg from 'pg';
import { PermanentError } from '../../src/kinds/registry.ts';
import type { Queue } from '../../src/queue/queue.ts';
import { buildTestApp, eventually, jobCount, kindsWithProbe, listen, type ProbeHandler, setup, waitForStatus } from '../helpers/fixtures.ts';
import { exporter, ids, newSpanId, newTraceId, registerSdk, relations, runSpansOf, spansOf, traceparent } from './sdk.ts';

registerSdk();
const tracer = trace.getTracer('test');

/** A worker with the probe kind, the API on its database listening on a real socket. */
async function service(handler: ProbeHandler, queueOptions = {}) {
  const s = await setup(kindsWithProbe(handler), queueOptions);
  const { app } = await buildTestApp({ queue: s.queue });
  return { ...s, url: await listen(app) };
}

/** The job's trace_context as stored, in whichever store holds it (its row, else the log's derived job). */
async function storedContext(s: { db: { pool: pg.Pool } }, id: string): Promise<unknown> {
  const { rows } = await s.db.pool.query<{ trace_context: unknown }>(
    'SELECT trace_context FROM jobq.jobs WHERE id = $1 UNION ALL SELECT trace_context FROM jobq.log_job($1) WHERE NOT EXISTS (SELECT FROM jobq.jobs WHERE id = $1)',
    [id],
  );
  assert.equal(rows.length, 1, `job ${id} is stored`);
  return rows[0]!.trace_context;
}

async function post(url: string, path: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

/** The job's finished run spans once `count` of them are there. */
const runSpans = (jobId: string, count: number) =>
  eventually(() => (runSpansOf(jobId).length >= count ? runSpansOf(jobId) : undefined), 10_000, `${count} run span(s) of job ${jobId}`);

test('POST /v1/jobs with a traceparent: a PRODUCER span under the caller, its context stored, the run a CONSUMER span under it and linked to it', async () => {
  const s = await service(() => ({ ok: true }));
  const callerTrace = newTraceId();
  const callerSpan = newSpanId();
  const res = await post(s.url, '/v1/jobs', { kind: 'probe', payload: { n: 1 }, queue: 'mail' }, { traceparent: traceparent(callerTrace, callerSpan), tracestate: 'vendor=abc' });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const id = res.body.id as string;

  const [producer, ...others] = spansOf(callerTrace);
  assert.equal(others.length, 0, 'one span so far: the enqueue');
  assert.equal(producer!.kind, SpanKind.PRODUCER);
  assert.equal(producer!.name, 'enqueue mail');
  assert.deepEqual(relations(producer!), { parent: `${callerTrace}/${callerSpan}`, links: [] });
  assert.deepEqual(producer!.attributes, {
    'messaging.system': 'jobq',
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'enqueue',
    'messaging.destination.name': 'mail',
    'messaging.message.id': id,
    'jobq.job.queue': 'mail',
    'jobq.job.kind': 'probe',
    'jobq.job.id': id,
  });
  // What the job stores is the producer span's context (not the caller's), with the caller's tracestate.
  assert.deepEqual(await storedContext(s, id), { traceparent: traceparent(callerTrace, producer!.spanContext().spanId), tracestate: 'vendor=abc' });

  await s.worker({ queues: ['mail'] });
  await waitForStatus(s.queue, id, 'succeeded');
  const [run, more] = await runSpans(id, 1);
  assert.equal(more, undefined, 'one run');
  assert.equal(run!.kind, SpanKind.CONSUMER);
  assert.equal(run!.name, 'process mail');
  assert.equal(run!.spanContext().traceId, callerTrace, 'the run joins the caller\'s trace');
  assert.deepEqual(relations(run!), { parent: ids(producer!), links: [ids(producer!)] });
  assert.deepEqual(run!.attributes, {
    'messaging.system': 'jobq',
    'messaging.operation.type': 'process',
    'messaging.operation.name': 'process',
    'messaging.destination.name': 'mail',
    'messaging.message.id': id,
    'jobq.job.id': id,
    'jobq.job.kind': 'probe',
    'jobq.job.queue': 'mail',
    'jobq.job.attempt': 1,
    'jobq.job.outcome': 'succeeded',
  });
  assert.equal(run!.status.code, SpanStatusCode.UNSET);
});

test('a failing attempt: status ERROR with the message, outcome retried, attempt 1; the retry is attempt 2 in the same trace, linked to the same producer', async () => {
  let calls = 0;
  const s = await service(() => {
    if (++calls === 1) throw new Error('flaky upstream');
    return 'fine';
  }, { backoff: { baseMs: 10, capMs: 20 } });
  const callerTrace = newTraceId();
  const res = await post(s.url, '/v1/jobs', { kind: 'probe', payload: {} }, { traceparent: traceparent(callerTrace, newSpanId()) });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const id = res.body.id as string;
  const producer = spansOf(callerTrace).find((sp) => sp.kind === SpanKind.PRODUCER)!;
  assert.equal(producer.name, 'enqueue default');

  await s.worker({ pollIntervalMs: 50 }); // the retry's run_at is a few ms ahead: the poll picks it up
  await waitForStatus(s.queue, id, 'succeeded');
  const [first, second] = await runSpans(id, 2);
  assert.deepEqual([first!.attributes['jobq.job.attempt'], first!.attributes['jobq.job.outcome']], [1, 'retried']);
  assert.deepEqual(first!.status, { code: SpanStatusCode.ERROR, message: 'flaky upstream' });
  const exception = first!.events.find((e) => e.name === 'exception');
  assert.equal(exception?.attributes?.['exception.message'], 'flaky upstream');
  assert.deepEqual([second!.attributes['jobq.job.attempt'], second!.attributes['jobq.job.outcome']], [2, 'succeeded']);
  assert.equal(second!.status.code, SpanStatusCode.UNSET);
  for (const run of [first!, second!]) assert.deepEqual(relations(run), { parent: ids(producer), links: [ids(producer)] });
});

test('a PermanentError: status ERROR, outcome failed_permanent', async () => {
  const s = await service(() => {
    throw new PermanentError('bad input');
  });
  const callerTrace = newTraceId();
  const res = await post(s.url, '/v1/jobs', { kind: 'probe', payload: {} }, { traceparent: traceparent(callerTrace, newSpanId()) });
  await s.worker();
  await waitForStatus(s.queue, res.body.id, 'failed_permanent');
  const [run] = await runSpans(res.body.id, 1);
  assert.equal(run!.attributes['jobq.job.outcome'], 'failed_permanent');
  assert.deepEqual(run!.status, { code: SpanStatusCode.ERROR, message: 'bad input' });
  assert.equal(run!.spanContext().traceId, callerTrace);
});

test('POST /v1/jobs/batch with a traceparent: one PRODUCER span for the batch; every job stores its context and runs under it', async () => {
  const s = await service(() => null);
  const callerTrace = newTraceId();
  const callerSpan = newSpanId();
  const body = { jobs: [{ kind: 'probe', payload: { n: 1 } }, { kind: 'probe', payload: { n: 2 } }, { kind: 'noop', payload: {} }] };
  const res = await post(s.url, '/v1/jobs/batch', body, { traceparent: traceparent(callerTrace, callerSpan) });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const jobIds = (res.body.jobs as { id: string }[]).map((j) => j.id);
  const [producer, ...others] = spansOf(callerTrace);
  assert.equal(others.length, 0);
  assert.equal(producer!.name, 'enqueue default');
  assert.deepEqual(relations(producer!), { parent: `${callerTrace}/${callerSpan}`, links: [] });
  assert.equal(producer!.attributes['messaging.batch.message_count'], 3);
  assert.equal(producer!.attributes['jobq.job.kind'], undefined, 'two kinds: none named');
  assert.equal(producer!.attributes['jobq.job.id'], undefined);
  for (const id of jobIds) assert.deepEqual(await storedContext(s, id), { traceparent: traceparent(callerTrace, producer!.spanContext().spanId) });

  await s.worker();
  for (const id of jobIds) {
    await waitForStatus(s.queue, id, 'succeeded');
    const [run] = await runSpans(id, 1);
    assert.deepEqual(relations(run!), { parent: ids(producer!), links: [ids(producer!)] });
  }
});

test('an enqueue refused (400): the PRODUCER span ends with status ERROR, and nothing is stored', async () => {
  const s = await service(() => null);
  const callerTrace = newTraceId();
  const res = await post(s.url, '/v1/jobs', { kind: 'probe', payload: { n: 'not a number' } }, { traceparent: traceparent(callerTrace, newSpanId()) });
  assert.equal(res.status, 400);
  const [producer] = spansOf(callerTrace);
  assert.equal(producer!.status.code, SpanStatusCode.ERROR);
  assert.equal(await jobCount(s.db.pool), 0);
});

test('without a traceparent the PRODUCER span starts a trace; a malformed one is ignored, not refused', async () => {
  const s = await service(() => null);
  const cases: Record<string, string>[] = [{}, { traceparent: 'garbage' }, { traceparent: traceparent('0'.repeat(32), newSpanId()) }];
  for (const headers of cases) {
    exporter.reset();
    const res = await post(s.url, '/v1/jobs', { kind: 'probe', payload: {} }, headers);
    assert.equal(res.status, 201, JSON.stringify(headers));
    const producer = exporter.getFinishedSpans().find((sp) => sp.kind === SpanKind.PRODUCER)!;
    assert.equal(producer.parentSpanContext, undefined, JSON.stringify(headers));
    assert.deepEqual(await storedContext(s, res.body.id), { traceparent: traceparent(producer.spanContext().traceId, producer.spanContext().spanId) });
  }
});

/** Runs `fn` inside an active span of the test's own, as a library caller would; returns the span's ids. */
async function inCallerSpan(fn: () => Promise<unknown>): Promise<{ traceId: string; spanId: string }> {
  return tracer.startActiveSpan('caller', async (span) => {
    try {
      await fn();
      return span.spanContext();
    } finally {
      span.end();
    }
  });
}

test('Queue.enqueue inside an active span (a library producer): the job stores that span\'s context; the run is its child and links to it', async () => {
  const s = await service(() => 'done');
  let id = '';
  const caller = await inCallerSpan(async () => {
    id = (await s.queue.enqueue({ kind: 'probe', payload: {} })).job.id;
  });
  assert.deepEqual(await storedContext(s, id), { traceparent: traceparent(caller.traceId, caller.spanId) });
  await s.worker();
  await waitForStatus(s.queue, id, 'succeeded');
  const [run] = await runSpans(id, 1);
  assert.deepEqual(relations(run!), { parent: `${caller.traceId}/${caller.spanId}`, links: [`${caller.traceId}/${caller.spanId}`] });
  assert.equal(run!.attributes['jobq.job.outcome'], 'succeeded');
});

/** Every kind of enqueue of `queue`, made inside one caller span; the jobs' ids. */
async function everyEnqueue(queue: Queue, pool: pg.Pool): Promise<string[]> {
  const made: string[] = [];
  const keep = (r: { job: { id: string } }) => void made.push(r.job.id);
  keep(await queue.enqueue({ kind: 'probe', payload: { n: 1 } })); // coalesced single insert
  for (const r of await queue.enqueueMany([{ kind: 'probe', payload: { n: 2 } }, { kind: 'probe', payload: { n: 3 }, idempotencyKey: 'k1' }])) keep(r);
  keep(await queue.enqueue({ kind: 'probe', payload: { n: 4 }, singletonKey: 's1' }));
  keep(await queue.enqueue({ kind: 'probe', payload: { n: 5 }, debounceKey: 'd1', debounceMs: 1 }));
  keep(await queue.enqueue({ kind: 'probe', payload: { n: 6 }, dependsOn: [made[0]!] }));
  keep(await queue.enqueue({ kind: 'probe', payload: { n: 7 }, group: 'tenant-a' }));
  await pool.connect().then(async (client) => {
    try {
      await client.query('BEGIN');
      keep(await queue.enqueue({ kind: 'probe', payload: { n: 8 } }, { db: client }));
      await client.query('COMMIT');
    } finally {
      client.release();
    }
  });
  return made;
}

test('every enqueue path stores the caller\'s context (single, batch, idempotency key, singleton, debounce, flow child, group, inside a transaction), and every claim path returns it', async () => {
  const s = await service(() => null);
  let made: string[] = [];
  const caller = await inCallerSpan(async () => {
    made = await everyEnqueue(s.queue, s.db.pool);
  });
  const expected = { traceparent: traceparent(caller.traceId, caller.spanId) };
  for (const id of made) assert.deepEqual(await storedContext(s, id), expected, `job ${id}`);
  await s.worker({ pollIntervalMs: 50 });
  for (const id of made) {
    await waitForStatus(s.queue, id, 'succeeded');
    const [run] = await runSpans(id, 1);
    // The group's job was claimed by claim_limited, the others by claim: both return the context.
    assert.equal(relations(run!).parent, `${caller.traceId}/${caller.spanId}`, `job ${id}`);
  }
});

test('outside any span, with the SDK registered: nothing is stored, and the run is a trace of its own, without a link', async () => {
  const s = await service(() => null);
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  assert.equal(await storedContext(s, job.id), null);
  await s.worker();
  await waitForStatus(s.queue, job.id, 'succeeded');
  const [run] = await runSpans(job.id, 1);
  assert.deepEqual(relations(run!), { parent: undefined, links: [] });
});

test('a handler\'s own spans nest under the run span', async () => {
  const s = await service(async () => {
    await tracer.startActiveSpan('handler work', async (span) => {
      await new Promise((r) => setTimeout(r, 1));
      span.end();
    });
  });
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  await s.worker();
  await waitForStatus(s.queue, job.id, 'succeeded');
  const [run] = await runSpans(job.id, 1);
  const inner = await eventually(() => exporter.getFinishedSpans().find((sp) => sp.name === 'handler work' && sp.spanContext().traceId === run!.spanContext().traceId));
  assert.equal(relations(inner).parent, ids(run!));
});

test('a stored context that is not a usable carrier (not an object of strings, a malformed traceparent): the run is a trace of its own', async () => {
  const s = await service(() => null);
  const stored = [{ traceparent: 5 }, ['00-x'], 'text', { traceparent: 'garbage' }];
  const made: string[] = [];
  for (const value of stored) {
    const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
    // Set in whichever store holds the job: its row, else its log entry.
    let set = await s.db.pool.query('UPDATE jobq.jobs SET trace_context = $2::jsonb WHERE id = $1', [job.id, JSON.stringify(value)]);
    if (set.rowCount === 0) set = await s.db.pool.query('UPDATE jobq.log SET trace_context = $2::jsonb WHERE id = $1', [job.id, JSON.stringify(value)]);
    assert.equal(set.rowCount, 1);
    made.push(job.id);
  }
  await s.worker();
  for (const id of made) {
    await waitForStatus(s.queue, id, 'succeeded');
    const [run] = await runSpans(id, 1);
    assert.deepEqual(relations(run!), { parent: undefined, links: [] }, id);
  }
});

test('a span active in the request already (as @opentelemetry/instrumentation-http makes one): the PRODUCER span is its child, not a sibling from the headers', async () => {
  const s = await service(() => null);
  const { app } = await buildTestApp({ queue: s.queue });
  const headerTrace = newTraceId();
  let server = { traceId: '', spanId: '' };
  // light-my-request runs the route in the caller's async context, as the instrumentation's server span does.
  const res = await tracer.startActiveSpan('server span', async (span) => {
    server = span.spanContext();
    try {
      return await app.inject({ method: 'POST', url: '/v1/jobs', headers: { traceparent: traceparent(headerTrace, newSpanId()) }, payload: { kind: 'probe', payload: {} } });
    } finally {
      span.end();
    }
  });
  assert.equal(res.statusCode, 201, res.body);
  const producer = spansOf(server.traceId).find((sp) => sp.kind === SpanKind.PRODUCER)!;
  assert.deepEqual(relations(producer), { parent: `${server.traceId}/${server.spanId}`, links: [] });
  assert.deepEqual(spansOf(headerTrace), [], 'the headers were not extracted a second time');
  assert.deepEqual(await storedContext(s, (JSON.parse(res.body) as { id: string }).id), { traceparent: traceparent(server.traceId, producer.spanContext().spanId) });
});
