/**
 * Issue #14, item 12: jobq_jobs_finished_total{outcome="cancelled"} counts every cancellation exactly
 * once, whichever transition made it: an API cancel of a waiting job, a worker finalizing a running or a
 * buffered job, a failed or timed-out attempt that finds a cancel request, a release at shutdown or a
 * recovery of a lost job that ends cancelled.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildApp } from '../../src/api/app.ts';
import { createMetrics, type Metrics } from '../../src/metrics/metrics.ts';
import type { Queue } from '../../src/queue/queue.ts';
import { deferred, eventually, kindsWithProbe, setup, waitForStatus } from '../helpers/fixtures.ts';
import { parseExposition, sum, value } from './exposition.ts';

async function finished(metrics: Metrics, outcome: string): Promise<number> {
  return sum(parseExposition(await metrics.render()), 'jobq_jobs_finished_total', { outcome });
}

async function metricsOn(queue: Queue, worker?: Parameters<typeof createMetrics>[0]['worker']): Promise<Metrics> {
  return createMetrics({ queue, worker, processMetrics: false, statsCacheMs: 0 });
}

test('an API cancel of a waiting job counts one cancellation, labelled by its kind and queue', async () => {
  const s = await setup();
  const metrics = await metricsOn(s.queue);
  const app = await buildApp({ queue: s.queue, config: { apiKeys: [], metricsAuth: false, bodyLimit: 1_048_576 }, ready: async () => true, metrics });
  try {
    const { job } = await s.queue.enqueue({ kind: 'noop', payload: {}, queue: 'mail' });
    const res = await app.inject({ method: 'POST', url: `/v1/jobs/${job.id}/cancel` });
    assert.equal(JSON.parse(res.body).outcome, 'cancelled');
    const again = await app.inject({ method: 'POST', url: `/v1/jobs/${job.id}/cancel` });
    assert.equal(JSON.parse(again.body).outcome, 'already_terminal');
    const samples = parseExposition((await app.inject({ url: '/metrics' })).body);
    assert.equal(value(samples, 'jobq_jobs_finished_total', { kind: 'noop', queue: 'mail', outcome: 'cancelled' }), 1);
    assert.equal(sum(samples, 'jobq_jobs_finished_total'), 1, 'nothing else counted');
  } finally {
    await app.close();
  }
});

test('a running job its worker finalizes as cancelled counts once', async () => {
  const s = await setup(kindsWithProbe((_p, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))));
  const worker = await s.worker({ concurrency: 2 });
  const metrics = await metricsOn(s.queue, worker);
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  await waitForStatus(s.queue, job.id, 'running');
  assert.equal((await s.queue.requestCancel(job.id)).outcome, 'cancel_requested');
  await waitForStatus(s.queue, job.id, 'cancelled');
  // The row turns cancelled when the write commits; the worker counts it when the write's answer
  // comes back, a moment later. Then stop() drains every outcome: the count must still be one.
  await eventually(async () => ((await finished(metrics, 'cancelled')) === 1 ? true : undefined));
  await worker.stop();
  assert.equal(await finished(metrics, 'cancelled'), 1);
});

test('a buffered job cancelled before it started counts once', async () => {
  const release = deferred();
  const s = await setup(kindsWithProbe(async () => release.promise));
  const worker = await s.worker({ concurrency: 1 });
  const metrics = await metricsOn(s.queue, worker);
  const ids = (await s.queue.enqueueMany([1, 2, 3].map((n) => ({ kind: 'probe', payload: { n } })))).map((r) => r.job.id);
  // One job runs; a full claim makes the worker buffer the next one.
  const buffered = await eventually(async () => {
    if (worker.buffered === 0) return undefined;
    const jobs = await Promise.all(ids.map((id) => s.queue.get(id)));
    return jobs.find((j) => j!.status === 'running' && j!.startedAt === null);
  });
  assert.equal((await s.queue.requestCancel(buffered!.id)).outcome, 'cancel_requested');
  await waitForStatus(s.queue, buffered!.id, 'cancelled');
  release.resolve();
  for (const id of ids.filter((id) => id !== buffered!.id)) await waitForStatus(s.queue, id, 'succeeded');
  await eventually(async () => ((await finished(metrics, 'succeeded')) === 2 ? true : undefined));
  await worker.stop();
  assert.equal(await finished(metrics, 'cancelled'), 1);
  assert.equal(await finished(metrics, 'succeeded'), 2);
});

test('an attempt that times out while a cancel is pending counts as cancelled, not timed_out', async () => {
  const s = await setup(kindsWithProbe((_p, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))));
  const worker = await s.worker({ concurrency: 1 });
  const metrics = await metricsOn(s.queue, worker);
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {}, timeoutMs: 500 });
  await waitForStatus(s.queue, job.id, 'running');
  // The request reaches the database but not the worker (no NOTIFY; its next heartbeat is seconds away).
  // Written in whichever store holds the job: the row's flag, or the log's request row (jobq.log_cancel).
  const rows = await s.db.pool.query(`UPDATE jobq.jobs SET cancel_requested = true WHERE id = $1`, [job.id]);
  if (rows.rowCount === 0) await s.db.pool.query(`INSERT INTO jobq.log_cancel (id, at) VALUES ($1, now())`, [job.id]);
  await waitForStatus(s.queue, job.id, 'cancelled');
  // The queue's `cancelled` event comes once the write's reply is read, and the worker's job:finish, which
  // would count a timed_out, after it: checked before that, a wrong timed_out would go unseen.
  await s.finished(job.id);
  assert.equal(await finished(metrics, 'cancelled'), 1);
  assert.equal(await finished(metrics, 'timed_out'), 0);
});

test('queue transitions that end a job cancelled count once each: a failed attempt, a release, a recovery', async () => {
  const s = await setup();
  const metrics = await metricsOn(s.queue);
  const ids = (await s.queue.enqueueMany([1, 2, 3].map(() => ({ kind: 'noop', payload: {} })))).map((r) => r.job.id);
  const claims = await s.queue.claim('w', { limit: 3 });
  for (const id of ids) assert.equal((await s.queue.requestCancel(id)).outcome, 'cancel_requested');
  assert.equal(await finished(metrics, 'cancelled'), 0, 'a request alone cancels nothing yet');

  assert.equal((await s.queue.markFailedOrRetry(ids[0]!, new Error('boom'), { workerId: 'w' })).status, 'cancelled');
  assert.equal(await finished(metrics, 'cancelled'), 1);

  const released = await s.queue.release('w', claims.filter((c) => c.id === ids[1]));
  assert.equal(released[0]!.status, 'cancelled');
  assert.equal(await finished(metrics, 'cancelled'), 2);

  assert.equal(await s.queue.recoverStale(0), 1);
  assert.equal((await s.queue.get(ids[2]!))!.status, 'cancelled');
  assert.equal(await finished(metrics, 'cancelled'), 3);

  // Nothing counts twice: the transitions after the fact change nothing.
  await assert.rejects(s.queue.finalizeCancelled(ids[0]!, { workerId: 'w' }));
  assert.equal(await s.queue.recoverStale(0), 0);
  assert.equal((await s.queue.requestCancel(ids[1]!)).outcome, 'already_terminal');
  assert.equal(await finished(metrics, 'cancelled'), 3);
});
