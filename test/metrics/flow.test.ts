/** The flow-control metrics: policies as gauges read at scrape time, and jobs held back by them counted from the worker. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { deferred, eventually, kindsWithProbe, setup } from '../helpers/fixtures.ts';
import { parseExposition, value } from './exposition.ts';

test('jobq_queue_paused and jobq_queue_limit follow the policies; a removed limit loses its series', async () => {
  const s = await setup();
  const metrics = createMetrics({ queue: s.queue, statsCacheMs: 0, processMetrics: false });
  await s.queue.setQueue('mail', { concurrency: 5, rate: { limit: 600, periodMs: 60_000 }, groupConcurrency: 2 });
  await s.queue.pauseQueue('reports');
  let samples = parseExposition(await metrics.render());
  assert.equal(value(samples, 'jobq_queue_paused', { queue: 'reports' }), 1);
  assert.equal(value(samples, 'jobq_queue_paused', { queue: 'mail' }), 0);
  assert.equal(value(samples, 'jobq_queue_limit', { queue: 'mail', kind: 'concurrency' }), 5);
  assert.equal(value(samples, 'jobq_queue_limit', { queue: 'mail', kind: 'rate' }), 10, 'starts per second');
  assert.equal(value(samples, 'jobq_queue_limit', { queue: 'mail', kind: 'group' }), 2);
  await s.queue.setQueue('mail', { concurrency: null, rate: null });
  await s.queue.resumeQueue('reports');
  samples = parseExposition(await metrics.render());
  assert.deepEqual(samples.filter((x) => x.name === 'jobq_queue_limit').map((x) => x.labels), [{ queue: 'mail', kind: 'group' }]);
  assert.deepEqual(samples.filter((x) => x.name === 'jobq_queue_paused').map((x) => x.labels), [{ queue: 'mail' }], 'a queue without a policy has no series');
});

test('jobq_jobs_throttled_total counts the runnable jobs a claim left waiting, by reason', async () => {
  const gate = deferred();
  const s = await setup(kindsWithProbe(() => gate.promise));
  await s.queue.setQueue('c', { concurrency: 2 });
  await s.queue.enqueueMany(Array.from({ length: 5 }, () => ({ kind: 'probe', payload: {}, queue: 'c' })));
  const worker = await s.worker({ concurrency: 10, pollIntervalMs: 60_000 });
  const metrics = createMetrics({ queue: s.queue, worker, statsCacheMs: 0, processMetrics: false });
  const throttled = async () => value(parseExposition(await metrics.render()), 'jobq_jobs_throttled_total', { queue: 'c', reason: 'concurrency' });
  // The first claim took 2 of the worker's 10 slots and left 3 waiting (counted if the metrics listened already).
  await eventually(() => (worker.busy === 2 ? true : undefined));
  const before = await throttled();
  assert.ok(before === 0 || before === 3, String(before));
  await s.queue.enqueue({ kind: 'probe', payload: {}, queue: 'c' }); // a notification: the worker claims again, and is held back
  const after = await eventually(async () => ((await throttled()) > before ? throttled() : undefined));
  assert.equal(after - before, 4, 'the four waiting jobs');
  gate.resolve();
});
