/**
 * Scenario: handlers that block the event loop (issue #14, item 1). One `jobq api`, two worker
 * processes that run `http` jobs beside a `block` kind (test/helpers/blocking-worker.ts: a synchronous
 * handler busy for 2.5 leases), and one plain `jobq worker` that sweeps. While N `http` jobs are
 * enqueued through the API, aimed at a counting server, `block` jobs arrive one a second, so the
 * blocking workers keep stalling with jobs running, buffered and being written. Each worker's lease
 * keeper thread renews through the stalls: no job is delivered twice, none is lost, each block job
 * runs once, and /healthz answers throughout.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '@sinclair/typebox';
import { builtinKinds } from '../../src/kinds/index.ts';
import { KindRegistry } from '../../src/kinds/registry.ts';
import { Queue } from '../../src/queue/queue.ts';
import { EVERY_JOB, freshDatabase } from '../helpers/db.ts';
import { keepAlive, request, startTarget } from './helpers/http.ts';
import { baseEnv, startApi, startWorker, statusCounts } from './helpers/jobq.ts';
import { runConcurrent } from './helpers/load.ts';
import { every, eventually, ProcessGroup } from './helpers/procs.ts';
import { pick, report } from './helpers/report.ts';

const JOBS = pick(2_000, 10_000);
const BLOCKS = pick(6, 20);
const LEASE_MS = 2_000;
const HEARTBEAT_MS = 400;
const BLOCK_MS = Math.round(2.5 * LEASE_MS);

test(`blocking handlers: ${JOBS} http jobs beside ${BLOCKS} handlers blocking the event loop for ${BLOCK_MS} ms, nothing run twice`, { timeout: pick(240_000, 600_000) }, async (t) => {
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const target = await startTarget(() => ({ status: 200, delayMs: 10 }), { keepRequests: false });
  t.after(() => target.close());
  const db = await freshDatabase();
  const env = baseEnv(db.url, { JOBQ_LEASE_MS: String(LEASE_MS), JOBQ_HEARTBEAT_MS: String(HEARTBEAT_MS), JOBQ_CONCURRENCY: '8' });
  const fixture = { script: 'test/helpers/blocking-worker.ts', keepBytes: 4 * 1024 * 1024 };
  const blockers = [1, 2].map((n) => group.start(`blocking-w${n}`, [], { ...env, JOBQ_WORKER_ID: `blocking-w${n}` }, fixture));
  const [{ url }] = await Promise.all([
    startApi(group, env, 'api', { keepBytes: 1024 * 1024 }),
    startWorker(group, env, 'plain-w', { metrics: false, keepBytes: 1024 * 1024 }),
    ...blockers.map((b) => b.waitForLine((l) => l.msg === 'worker started', 60_000, '"worker started"')),
  ]);
  const rss = every(1_000, () => group.sampleRss());
  const health: number[] = [];
  const healthz = every(250, async () => {
    health.push((await request(url, 'GET', '/healthz')).status);
  });

  // Block jobs go in directly (the API process has no such kind), one a second while the load runs.
  const kinds = new KindRegistry(builtinKinds({ outboxDir: '/nonexistent-outbox', httpAllowHosts: [] }));
  kinds.register({ name: 'block', payloadSchema: Type.Object({ wait_ms: Type.Integer(), block_ms: Type.Integer() }), handler: () => undefined });
  const queue = new Queue({ pool: db.pool, kinds });
  const blockIds: string[] = [];
  const blocks = (async () => {
    for (let i = 0; i < BLOCKS; i++) {
      const { job } = await queue.enqueue({ kind: 'block', payload: { wait_ms: Math.floor(Math.random() * 300), block_ms: BLOCK_MS } });
      blockIds.push(job.id);
      await new Promise((r) => setTimeout(r, 1_000));
    }
  })();
  const agent = keepAlive(8);
  const enqueued: string[] = [];
  const refused: string[] = [];
  await runConcurrent(JOBS, 4, async (i) => {
    const res = await request(url, 'POST', '/v1/jobs', { agent, body: { kind: 'http', payload: { url: `${target.url}/hook`, method: 'POST', body: { i } } } });
    if (res.status === 201) enqueued.push(JSON.parse(res.body).id);
    else refused.push(`${res.status} ${res.error ?? res.body.slice(0, 200)}`);
  });
  await blocks;
  await eventually(async () => {
    const c = await statusCounts(db.pool);
    return c.succeeded + c.failed_permanent + c.cancelled >= enqueued.length + BLOCKS && c.running === 0 ? c : undefined;
  }, pick(120_000, 300_000), 'every job to finish', 250).catch(() => undefined);
  await healthz.stop();
  await rss.stop();

  const { rows } = await db.pool.query<{ id: string; status: string; attempts: number }>(`SELECT id, status, attempts FROM ${EVERY_JOB} j`);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const lost = [...enqueued, ...blockIds].filter((id) => byId.get(id)?.status !== 'succeeded');
  const stuck = rows.filter((r) => !['succeeded', 'failed_permanent', 'cancelled'].includes(r.status));
  const duplicated = [...target.deliveries].filter(([, n]) => n > 1).map(([id]) => id);
  const undelivered = enqueued.filter((id) => !target.deliveries.has(id));
  const blockRuns = blockers.flatMap((b) => b.output().split('\n').filter((l) => l.includes('"msg":"blocking"')));
  const gaveUp = blockers.flatMap((b) => b.problems().filter((p) => /leases were given up|no more lease renewals/.test(String(p.msg))));
  const recoveries = group.all.flatMap((p) => p.output().split('\n').filter((l) => l.includes('recovered jobs whose worker was lost')));
  report('blocking-handler', {
    jobs_enqueued: enqueued.length + blockIds.length,
    succeeded: rows.filter((r) => r.status === 'succeeded').length,
    duplicated_deliveries: duplicated.length,
    lost: lost.length,
    stuck: stuck.length,
    max_rss_mb: Math.round(group.maxRssMb()),
    p99_wait_s: null,
  }, {
    block_jobs: blockIds.length,
    block_runs: blockRuns.length,
    block_ms: BLOCK_MS,
    lease_ms: LEASE_MS,
    sweeper_recoveries: recoveries.length,
    leases_given_up: gaveUp.length,
    healthz_checks: health.length,
    healthz_not_200: health.filter((s) => s !== 200).length,
    enqueue_refused: refused.length,
  });

  assert.deepEqual(refused, [], 'every enqueue got 201');
  assert.ok(blockRuns.length >= BLOCKS, `the block jobs ran (${blockRuns.length})`);
  assert.deepEqual(duplicated, [], 'no job delivered twice');
  assert.deepEqual(undelivered, [], 'every job delivered');
  assert.deepEqual(lost, [], 'every job succeeded');
  assert.deepEqual(stuck.map((r) => `${r.id} ${r.status}`), [], 'no job left running or waiting');
  assert.equal(blockRuns.length, BLOCKS, 'each block job ran once');
  assert.deepEqual(gaveUp, [], 'no worker gave its leases up');
  assert.ok(health.length > 10 && health.every((s) => s === 200), `/healthz answered 200 throughout (${health.filter((s) => s !== 200).length} not)`);
});
