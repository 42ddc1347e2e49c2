/**
 * Tracing with no OpenTelemetry SDK registered (the default): nothing is captured or stored, however
 * the caller sends a traceparent, and jobs run as before, those stored with a context by a traced
 * producer elsewhere too. A file of its own: the SDK's registration is process-wide.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { context, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import type pg from 'pg';
import { captureContext, startRunSpan, tracingEnabled } from '../../src/tracing.ts';
import { buildTestApp, kindsWithProbe, listen, setup, waitForStatus } from '../helpers/fixtures.ts';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** Stores `value` as the job's trace_context in whichever store holds it: its row, else its log entry. */
async function storeContext(pool: pg.Pool, id: string, value: unknown): Promise<void> {
  let set = await pool.query('UPDATE jobq.jobs SET trace_context = $2::jsonb WHERE id = $1', [id, JSON.stringify(value)]);
  if (set.rowCount === 0) set = await pool.query('UPDATE jobq.log SET trace_context = $2::jsonb WHERE id = $1', [id, JSON.stringify(value)]);
  assert.equal(set.rowCount, 1);
}

test('no SDK: tracing is off, nothing is captured even inside a context that carries a span, and no run span is made', () => {
  assert.equal(tracingEnabled(), false);
  assert.equal(captureContext(), null);
  const withSpan = trace.setSpanContext(ROOT_CONTEXT, { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED });
  // Without a context manager, context.with does not make its context active: there is nothing to carry.
  assert.equal(context.with(withSpan, captureContext), null);
  assert.equal(startRunSpan({ id: 'x', kind: 'k', queue: 'q', attempts: 1, traceContext: { traceparent: TRACEPARENT } }), undefined);
});

test('no SDK: enqueues over HTTP with a traceparent, single and batch, and from the library, store a NULL trace_context; the jobs run', async () => {
  const s = await setup(kindsWithProbe(() => 'ran'));
  const { app } = await buildTestApp({ queue: s.queue });
  const url = await listen(app);
  const headers = { 'content-type': 'application/json', traceparent: TRACEPARENT, tracestate: 'vendor=abc' };
  const one = await fetch(`${url}/v1/jobs`, { method: 'POST', headers, body: JSON.stringify({ kind: 'probe', payload: {} }) });
  assert.equal(one.status, 201);
  const batch = await fetch(`${url}/v1/jobs/batch`, { method: 'POST', headers, body: JSON.stringify({ jobs: [{ kind: 'probe', payload: {} }, { kind: 'probe', payload: {} }] }) });
  assert.equal(batch.status, 201);
  const lib = await s.queue.enqueue({ kind: 'probe', payload: {} });
  const made = [((await one.json()) as { id: string }).id, ...((await batch.json()) as { jobs: { id: string }[] }).jobs.map((j) => j.id), lib.job.id];

  // Every job of either store: the rows, and each log job as jobq.log_job derives it.
  const { rows } = await s.db.pool.query<{ id: string; trace_context: unknown }>(
    `SELECT id, trace_context FROM jobq.jobs
     UNION ALL
     SELECT d.id, d.trace_context FROM (SELECT id FROM jobq.log_all UNION SELECT id FROM jobq.log_scheduled EXCEPT SELECT id FROM jobq.jobs) l,
            jobq.log_job(l.id) d
     ORDER BY id`,
  );
  assert.deepEqual(rows.map((r) => r.id).sort(), [...made].sort());
  assert.deepEqual(rows.map((r) => r.trace_context), made.map(() => null));

  await s.worker();
  for (const id of made) await waitForStatus(s.queue, id, 'succeeded');
});

test('no SDK: a job stored with a context (a traced producer elsewhere), or with a stored value that is no carrier, runs as any other', async () => {
  let seen = 0;
  const s = await setup(kindsWithProbe(() => ++seen));
  const { job: traced } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  const { job: odd } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  await storeContext(s.db.pool, traced.id, { traceparent: TRACEPARENT });
  await storeContext(s.db.pool, odd.id, [1, 2]);
  await s.worker();
  await waitForStatus(s.queue, traced.id, 'succeeded');
  await waitForStatus(s.queue, odd.id, 'succeeded');
  assert.equal(seen, 2);
});
