/**
 * With @opentelemetry/instrumentation-pg enabled, as a user enables it (before `pg` is loaded), a
 * handler's queries are spans under the run span of its job. This file registers the SDK and the
 * instrumentation before anything of jobq is imported: jobq and its helpers are loaded by `import()`
 * after, so `pg` is first required once the instrumentation's hook is in place.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { exporter, ids, registerSdk, relations, runSpansOf } from './sdk.ts';

registerSdk();
// requireParentSpan: the worker's own statements (claims, heartbeats) are not in a job's context and
// would each start a trace of their own; the README recommends it.
registerInstrumentations({ instrumentations: [new PgInstrumentation({ requireParentSpan: true })] });
const { eventually, kindsWithProbe, setup, waitForStatus } = await import('../helpers/fixtures.ts');

const QUERY = 'SELECT 41 + 1 AS answer';
const isPg = (attributes: Record<string, unknown>) => attributes['db.system'] === 'postgresql' || attributes['db.system.name'] === 'postgresql';
const text = (attributes: Record<string, unknown>) => String(attributes['db.statement'] ?? attributes['db.query.text'] ?? '');

test('a handler\'s query is a pg span under the job\'s run span', async () => {
  let answer: unknown;
  const s = await setup(kindsWithProbe(async () => {
    answer = (await s.db.pool.query<{ answer: number }>(QUERY)).rows[0]!.answer;
  }));
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  await s.worker();
  await waitForStatus(s.queue, job.id, 'succeeded');
  assert.equal(answer, 42);
  const run = await eventually(() => runSpansOf(job.id)[0], 10_000, 'the run span');
  const query = exporter.getFinishedSpans().find((sp) => isPg(sp.attributes) && text(sp.attributes) === QUERY);
  assert.ok(query, `no pg span for the handler's query among: ${exporter.getFinishedSpans().map((sp) => sp.name).join(', ')}`);
  assert.equal(relations(query).parent, ids(run), 'the query span is a child of the run span');
});

test('with requireParentSpan, the worker\'s own statements outside a job make no spans; the statements a worker makes for the job inside its run do', async () => {
  exporter.reset();
  const s = await setup(kindsWithProbe(async (_p, ctx) => {
    await ctx.progress(0.5); // written by the worker, within the handler's call: the job's own statement
  }));
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  await s.worker();
  await waitForStatus(s.queue, job.id, 'succeeded');
  const run = await eventually(() => runSpansOf(job.id)[0], 10_000, 'the run span');
  const pgSpans = exporter.getFinishedSpans().filter((sp) => isPg(sp.attributes));
  assert.ok(pgSpans.length > 0, 'the progress write is traced');
  for (const sp of pgSpans) assert.equal(sp.spanContext().traceId, run.spanContext().traceId, `${sp.name}: ${text(sp.attributes).slice(0, 80)}`);
});
