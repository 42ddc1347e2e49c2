/**
 * Flows over HTTP (docs/flows.md): a whole fan-out and fan-in made by one batch request with `#i`,
 * waiting jobs listed, counted and cancelled, and every refusal of depends_on as a 400 naming the field.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient, type JobWire, type NewJobWire } from '../../src/client.ts';
import { MAX_DEPENDS_ON } from '../../src/limits.ts';
import { assertError, body, buildTestApp, jobCount, listen, UNKNOWN_ID } from '../helpers/fixtures.ts';
import { finish } from '../helpers/flows.ts';

const noop = (extra: Partial<NewJobWire> = {}): NewJobWire => ({ kind: 'noop', payload: {}, ...extra });

test('one batch request makes a fan-out and fan-in; the jobs show their parents; waiting ones are listed, counted and cancellable', async () => {
  const { app, queue, db } = await buildTestApp();
  const client = createClient({ baseUrl: await listen(app) });
  const jobs = await client.enqueueBatch([
    noop({ queue: 'root' }),
    noop({ queue: 'fan', depends_on: ['#0'] }),
    noop({ queue: 'fan', depends_on: ['#0'], on_parent_failure: 'run' }),
    noop({ queue: 'fan', depends_on: ['#0'] }),
    noop({ queue: 'sum', depends_on: ['#1', '#2', '#3'] }),
  ]);
  const [root, a, b, c, sum] = jobs as [JobWire, JobWire, JobWire, JobWire, JobWire];
  assert.deepEqual(jobs.map((j) => j.status), ['queued', 'waiting', 'waiting', 'waiting', 'waiting']);
  assert.deepEqual(jobs.map((j) => j.depends_on), [null, [root.id], [root.id], [root.id], [a.id, b.id, c.id]]);
  assert.deepEqual(jobs.map((j) => j.on_parent_failure), [null, 'cancel', 'run', 'cancel', 'cancel']);
  assert.deepEqual(await client.get(sum.id), sum);

  const waiting = await client.listPage({ status: 'waiting' });
  assert.deepEqual(waiting.jobs.map((j) => j.id).sort(), [a.id, b.id, c.id, sum.id].sort());
  assert.equal((await client.stats()).by_status.waiting, 4);

  // Cancel a waiting child: cancelled at once, and its child (the summary, policy cancel) with it.
  const cancel = await client.cancel(c.id);
  assert.deepEqual([cancel.outcome, cancel.job.status], ['cancelled', 'cancelled']);
  const summary = await client.get(sum.id);
  assert.equal(summary.status, 'cancelled');
  assert.equal(summary.last_error, `cancelled: parent ${c.id} ended cancelled`);
  assert.equal((await queue.stats()).byStatus.waiting, 2); // /v1/stats answers from a short cache

  await finish(queue, root.id, 'succeed');
  assert.deepEqual([(await client.get(a.id)).status, (await client.get(b.id)).status], ['queued', 'queued']);
  // Retry of the cancelled summary runs it now (docs/flows.md): queued, whatever its parents.
  assert.equal((await client.retry(sum.id)).status, 'queued');
  assert.equal(await jobCount(db!.pool), 5);
});

test('refusals are 400 validation_failed naming the field (and the entry, in a batch); nothing of a refused batch is made', async () => {
  const { app, db } = await buildTestApp();
  const post = (url: string, payload: unknown) => app.inject({ method: 'POST', url, payload: payload as object });
  const parent = body(await post('/v1/jobs', noop())).id as string;
  const cases: [string, unknown, string, RegExp?][] = [
    ['/v1/jobs', noop({ depends_on: [UNKNOWN_ID] }), '/depends_on/0', new RegExp(`no job with id ${UNKNOWN_ID}`)],
    ['/v1/jobs', noop({ depends_on: [parent, UNKNOWN_ID] }), '/depends_on/1'],
    ['/v1/jobs', noop({ depends_on: ['#0'] }), '/depends_on/0', /only earlier entries/],
    ['/v1/jobs', noop({ depends_on: ['job-1'] }), '/depends_on/0'],
    ['/v1/jobs', noop({ depends_on: [] }), '/depends_on'],
    ['/v1/jobs', noop({ depends_on: [parent, parent] }), '/depends_on'],
    ['/v1/jobs', noop({ depends_on: Array.from({ length: MAX_DEPENDS_ON + 1 }, () => parent) }), '/depends_on'],
    ['/v1/jobs', noop({ depends_on: [parent], singleton_key: 'one' }), '/depends_on', /singleton_key/],
    ['/v1/jobs', noop({ depends_on: [parent], debounce_key: 'd', debounce_ms: 5 }), '/depends_on', /debounce_key/],
    ['/v1/jobs', noop({ on_parent_failure: 'run' }), '/on_parent_failure', /needs depends_on/],
    ['/v1/jobs', { ...noop({ depends_on: [parent] }), on_parent_failure: 'skip' }, '/on_parent_failure'],
    ['/v1/jobs/batch', { jobs: [noop(), noop({ depends_on: ['#1'] })] }, '/jobs/1/depends_on/0', /job 1: .*earlier entry/],
    ['/v1/jobs/batch', { jobs: [noop(), noop({ depends_on: ['#0', '#5'] }), noop()] }, '/jobs/1/depends_on/1'],
    ['/v1/jobs/batch', { jobs: [noop(), noop(), noop({ depends_on: ['#0', UNKNOWN_ID] })] }, '/jobs/2/depends_on/1', /job 2: .*no job with id/],
  ];
  for (const [url, payload, path, message] of cases) {
    const res = await post(url, payload);
    const e = assertError(res, 400, 'validation_failed').error;
    assert.ok(e.details?.some((d) => d.path === path), `${JSON.stringify(payload).slice(0, 120)}: ${path} in ${JSON.stringify(e.details)}`);
    if (message) assert.match(e.message, message);
  }
  assert.equal(await jobCount(db!.pool), 1);
});
