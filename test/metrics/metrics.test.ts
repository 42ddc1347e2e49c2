/**
 * Metrics fed by real jobs through a real worker, read back in the exposition format: counters moved by
 * exactly the number of jobs, histograms counted per run, gauges equal to the database, labels bounded.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { PermanentError } from '../../src/kinds/registry.ts';
import { type ApiEvents, createMetrics } from '../../src/metrics/metrics.ts';
import { serveMetrics } from '../../src/metrics/server.ts';
import { JOB_STATUSES } from '../../src/queue/types.ts';
import { deferred, kindsWithProbe, setup, waitForStatus } from '../helpers/fixtures.ts';
import { parseExposition, sum, value } from './exposition.ts';

test('a burst of every outcome moves each metric by exactly the number of jobs', async () => {
  const hold = deferred();
  const s = await setup(
    kindsWithProbe(async (p, ctx) => {
      if (p.n === 1) return 'ok';
      if (p.n === 2) throw new Error('transient');
      if (p.n === 3) throw new PermanentError('bad');
      if (p.n === 4) return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      await hold.promise; // n = 5: runs until cancelled
      throw ctx.signal.reason;
    }),
  );
  const worker = await s.worker({ concurrency: 8, queues: ['default'], pollIntervalMs: 100 });
  const api = new EventEmitter<ApiEvents>();
  const metrics = createMetrics({ queue: s.queue, worker, api, statsCacheMs: 0 });

  const jobs = await s.queue.enqueueMany([
    ...[1, 1, 1].map((n) => ({ kind: 'probe', payload: { n } })),
    { kind: 'probe', payload: { n: 2 }, maxAttempts: 2 },
    { kind: 'probe', payload: { n: 3 } },
    { kind: 'probe', payload: { n: 4 }, timeoutMs: 100, maxAttempts: 1 },
    { kind: 'probe', payload: { n: 5 } },
  ]);
  const keyed = await s.queue.enqueue({ kind: 'probe', payload: { n: 1 }, idempotencyKey: 'once' });
  await s.queue.enqueue({ kind: 'probe', payload: { n: 1 }, idempotencyKey: 'once' }); // a replay
  await s.queue.enqueue({ kind: 'noop', payload: {}, queue: 'unserved' }); // runnable, but no worker serves its queue
  const ids = jobs.map((r) => r.job.id);
  await waitForStatus(s.queue, ids[6]!, 'running');
  await s.queue.requestCancel(ids[6]!);
  hold.resolve();
  for (const id of ids.slice(0, 3)) await waitForStatus(s.queue, id, 'succeeded');
  await waitForStatus(s.queue, ids[3]!, 'failed_permanent', 10_000); // retried once, then out of attempts
  await waitForStatus(s.queue, ids[4]!, 'failed_permanent');
  await waitForStatus(s.queue, ids[5]!, 'failed_permanent');
  await waitForStatus(s.queue, ids[6]!, 'cancelled');
  await waitForStatus(s.queue, keyed.job.id, 'succeeded');
  // A row's status commits before its worker reads the write's reply and emits job:finish (what the
  // counters and histograms count; for the cancelled job, the queue's `cancelled` event comes just
  // before it): wait for every attempt's, the retried job's second one included.
  for (const id of [...ids, keyed.job.id]) await s.finished(id, { attempt: id === ids[3] ? 2 : 1 });
  api.emit('request', { method: 'POST', route: '/v1/jobs', statusCode: 201, durationMs: 3 });
  api.emit('request', { method: 'GET', route: '/v1/jobs/:id', statusCode: 404, durationMs: 1 });

  const samples = parseExposition(await metrics.render());
  const probe = { kind: 'probe', queue: 'default' };
  assert.equal(value(samples, 'jobq_jobs_enqueued_total', probe), 8);
  assert.equal(value(samples, 'jobq_jobs_enqueued_total', { kind: 'noop', queue: 'unserved' }), 1);
  assert.equal(value(samples, 'jobq_jobs_idempotent_replays_total', { kind: 'probe' }), 1);
  const finished = (outcome: string) => value(samples, 'jobq_jobs_finished_total', { ...probe, outcome });
  assert.equal(finished('succeeded'), 4);
  assert.equal(finished('retried'), 1);
  assert.equal(finished('failed_permanent'), 2, 'the transient one on its last attempt, and the PermanentError');
  assert.equal(finished('timed_out'), 1);
  assert.equal(finished('cancelled'), 1);
  const attempts = 4 + 1 + 2 + 1 + 1;
  assert.equal(sum(samples, 'jobq_job_run_seconds_count', { kind: 'probe' }), attempts, 'one observation per finished attempt');
  assert.ok(sum(samples, 'jobq_job_wait_seconds_count', probe) >= attempts, 'one observation per start');
  assert.equal(value(samples, 'jobq_worker_slots', { state: 'busy' }) + value(samples, 'jobq_worker_slots', { state: 'free' }), 8);
  assert.equal(value(samples, 'jobq_http_requests_total', { method: 'POST', route: '/v1/jobs', status: '201' }), 1);
  assert.equal(sum(samples, 'jobq_http_request_duration_seconds_count'), 2);
  assert.ok(sum(samples, 'jobq_claim_batch_size_count') >= 1);
  assert.ok(samples.some((x) => x.name === 'jobq_nodejs_eventloop_lag_seconds'), 'process metrics are there');

  // Gauges equal the counts in the database: the rows, and each log job as jobq.log_jobs derives it.
  const { rows } = await s.db.pool.query(
    `SELECT queue, status, count(*)::int AS n
       FROM (SELECT queue, status::text FROM jobq.jobs
             UNION ALL
             SELECT queue, status FROM jobq.log_jobs(ARRAY(SELECT id FROM jobq.log_all UNION SELECT id FROM jobq.log_scheduled
                                                           EXCEPT SELECT id FROM jobq.jobs))) j
      GROUP BY 1, 2`,
  );
  for (const queue of ['default', 'unserved']) {
    for (const status of JOB_STATUSES) {
      const expected = rows.find((r) => r.queue === queue && r.status === status)?.n ?? 0;
      assert.equal(value(samples, 'jobq_jobs', { queue, status }), expected, `${queue}/${status}`);
    }
  }
  assert.ok(value(samples, 'jobq_oldest_runnable_job_age_seconds', { queue: 'unserved' }) > 0);
  assert.equal(value(samples, 'jobq_oldest_runnable_job_age_seconds', { queue: 'default' }), 0);

  // Labels come from bounded sets: no job id, no error text.
  const text = await metrics.render();
  for (const id of ids) assert.equal(text.includes(id), false);
  assert.equal(/transient|bad input/.test(text), false);
  for (const x of samples.filter((x) => x.name.startsWith('jobq_job'))) {
    if (x.labels.kind) assert.ok(['probe', 'noop', 'send_email', 'summarize_text', 'http'].includes(x.labels.kind), x.labels.kind);
    if (x.labels.outcome) assert.ok(['succeeded', 'retried', 'failed_permanent', 'cancelled', 'timed_out'].includes(x.labels.outcome));
  }
});

test('the table gauges cost one query per second however often they are scraped', async () => {
  const s = await setup();
  let queries = 0;
  const stats = s.queue.stats.bind(s.queue);
  s.queue.stats = (...a) => (queries++, stats(...a));
  const metrics = createMetrics({ queue: s.queue, processMetrics: false });
  await Promise.all(Array.from({ length: 10 }, () => metrics.render()));
  await metrics.render();
  assert.equal(queries, 1);
  await s.queue.enqueue({ kind: 'noop', payload: {} });
  const fresh = createMetrics({ queue: s.queue, processMetrics: false, statsCacheMs: 0 });
  assert.equal(value(parseExposition(await fresh.render()), 'jobq_jobs', { queue: 'default', status: 'queued' }), 1);
});

test('a scrape while the database is down still answers, keeping the last table values', async () => {
  const s = await setup();
  await s.queue.enqueue({ kind: 'noop', payload: {} });
  const metrics = createMetrics({ queue: s.queue, processMetrics: false, statsCacheMs: 0 });
  assert.equal(value(parseExposition(await metrics.render()), 'jobq_jobs', { queue: 'default', status: 'queued' }), 1);
  await s.db.pool.end();
  assert.equal(value(parseExposition(await metrics.render()), 'jobq_jobs', { queue: 'default', status: 'queued' }), 1);
});

test('the worker metrics server answers /metrics over a real socket, and 404 elsewhere', async () => {
  const s = await setup();
  const worker = await s.worker({ concurrency: 3 });
  const metrics = createMetrics({ queue: s.queue, worker, processMetrics: false });
  const server = await serveMetrics(metrics, '127.0.0.1', 0);
  try {
    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /text\/plain/);
    assert.equal(value(parseExposition(await res.text()), 'jobq_worker_slots', { state: 'free' }), 3);
    assert.equal((await fetch(`${server.url}/other`)).status, 404);
  } finally {
    server.close();
  }
});
