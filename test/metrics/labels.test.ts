/**
 * Issue #14, item 6: a queue name is whatever the caller sends, and every label value is a series
 * kept for the life of the process. Known queues and the first few others keep their label; the rest
 * count under `(other)`, so invented names cannot grow /metrics or memory without bound.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { BoundedLabels, OTHER_LABEL } from '../../src/metrics/labels.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { eventually, setup } from '../helpers/fixtures.ts';
import { parseExposition, value } from './exposition.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

test('known queues always keep their label; the first `max` others too; later ones are (other)', () => {
  const labels = new BoundedLabels(['default', 'mail'], 2);
  assert.deepEqual(['a', 'b', 'c', 'a', 'default', 'mail', 'd', 'b'].map((q) => labels.of(q)), ['a', 'b', OTHER_LABEL, 'a', 'default', 'mail', OTHER_LABEL, 'b']);
  assert.equal(new BoundedLabels([], 0).of('x'), OTHER_LABEL);
});

test('100,000 jobs in 100,000 invented queues leave /metrics and memory bounded', { timeout: 600_000 /* hang guard: about 30 s here */ }, async () => {
  const s = await setup();
  const worker = await s.worker({ concurrency: 50, pollIntervalMs: 200 });
  const metrics = createMetrics({ queue: s.queue, worker, processMetrics: false, statsCacheMs: 0, knownQueues: ['mail'], maxQueueLabels: 20 });
  let finishes = 0;
  worker.events.on('job:finish', ({ outcome }) => {
    if (outcome === 'succeeded') finishes++;
  });
  await s.queue.enqueue({ kind: 'noop', payload: {}, queue: 'mail' });
  await metrics.render();
  const before = heapAfterGc();
  const rssBefore = process.memoryUsage().rss;

  const N = 100_000;
  for (let b = 0; b < N / 1000; b++) {
    await s.queue.enqueueMany(Array.from({ length: 1000 }, (_, i) => ({ kind: 'noop', payload: {}, queue: `q-${b}-${i}` })));
  }
  // A job's job:finish comes after its outcome commits: once every job's came, the database (both
  // stores, read once: stats) holds every job succeeded.
  await eventually(() => (finishes === N + 1 ? true : undefined), 540_000, 'every job\'s job:finish', 100);
  const { byStatus } = await s.queue.stats();
  assert.deepEqual(Object.entries(byStatus).filter(([, n]) => n > 0), [['succeeded', N + 1]], 'every job succeeded');

  const samples = parseExposition(await metrics.render());
  const grown = heapAfterGc() - before;
  const rssGrown = process.memoryUsage().rss - rssBefore;
  const mib = (n: number) => `${Math.round(n / 1048576)} MiB`;
  assert.ok(grown < 32 * 1024 * 1024, `heap grew by ${mib(grown)}`);
  // RSS also holds what the allocator keeps after the burst (pg buffers, the 100,000-row stats reads).
  assert.ok(rssGrown < 160 * 1024 * 1024, `RSS grew by ${mib(rssGrown)}`);
  const queueLabels = new Set(samples.filter((x) => x.labels.queue !== undefined).map((x) => x.labels.queue));
  assert.ok(queueLabels.size <= 20 + 2 + 1, `queue label values: ${queueLabels.size}`);
  assert.ok(queueLabels.has('mail') && queueLabels.has(OTHER_LABEL));
  assert.ok(samples.length < 3_000, `series: ${samples.length}`);
  // Every job is still counted, the invented queues under (other).
  const enqueued = samples.filter((x) => x.name === 'jobq_jobs_enqueued_total').reduce((a, x) => a + x.value, 0);
  assert.equal(enqueued, N + 1);
  assert.equal(value(samples, 'jobq_jobs_finished_total', { kind: 'noop', queue: OTHER_LABEL, outcome: 'succeeded' }), N - 20);
  assert.equal(value(samples, 'jobq_jobs', { queue: OTHER_LABEL, status: 'succeeded' }), N - 20);
});
