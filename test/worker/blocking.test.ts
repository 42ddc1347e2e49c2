/**
 * A handler that blocks the event loop (issue #14, item 1): a synchronous CPU-bound handler in one
 * worker process runs for four leases while that worker holds other jobs (running, buffered, being
 * written) and another worker, in this process, sweeps. The lease keeper's thread keeps renewing, so
 * no other job is delivered twice; the API, in this process, answers /healthz throughout.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '@sinclair/typebox';
import type pg from 'pg';
import { builtinKinds } from '../../src/kinds/index.ts';
import { KindRegistry } from '../../src/kinds/registry.ts';
import { Queue } from '../../src/queue/queue.ts';
import { buildApp } from '../../src/api/app.ts';
import { startTarget } from '../chaos/helpers/http.ts';
import { ProcessGroup } from '../chaos/helpers/procs.ts';
import { freshDatabase, DEFAULT_CONFIG, listen, eventually, silent } from '../helpers/fixtures.ts';
import { Worker } from '../../src/worker/worker.ts';

const LEASE_MS = 1_500;
const HEARTBEAT_MS = 300;
const BLOCK_MS = 4 * LEASE_MS;
const JOBS = 150;

function kinds(withBlock: boolean): KindRegistry {
  const k = new KindRegistry(builtinKinds({ outboxDir: '/nonexistent-outbox', httpAllowHosts: ['127.0.0.1'] }));
  if (withBlock) k.register({ name: 'block', payloadSchema: Type.Object({ wait_ms: Type.Integer(), block_ms: Type.Integer() }), handler: () => undefined });
  return k;
}

/** These jobs as stored, in whichever store holds each: its row, else the log's derived job. */
async function stored(pool: pg.Pool, ids: string[]): Promise<{ id: string; status: string; locked_by: string | null; attempts: number }[]> {
  const { rows } = await pool.query(
    `SELECT id, status::text, locked_by, attempts FROM jobq.jobs WHERE id = ANY($1)
     UNION ALL
     SELECT id, status, locked_by, attempts FROM jobq.log_jobs($1) WHERE status <> 'moved'`,
    [ids],
  );
  return rows;
}

export function blockingWorkerEnv(url: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: url, JOBQ_LEASE_MS: String(LEASE_MS), JOBQ_HEARTBEAT_MS: String(HEARTBEAT_MS), JOBQ_POLL_INTERVAL_MS: '200',
    JOBQ_CONCURRENCY: '4', JOBQ_HTTP_ALLOW_HOSTS: '127.0.0.1', JOBQ_WORKER_ID: 'blocked', ...extra,
  };
}

// Hang-guard far above the expected ~15 s.
test('a handler blocking the event loop for four leases costs no other job an extra run, and /healthz answers', { timeout: 120_000 }, async (t) => {
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const target = await startTarget(() => ({ status: 200, delayMs: 20 }));
  t.after(() => target.close());
  const db = await freshDatabase();
  const queue = new Queue({ pool: db.pool, kinds: kinds(true) });
  const { job: blocker } = await queue.enqueue({ kind: 'block', payload: { wait_ms: 450, block_ms: BLOCK_MS }, priority: 10 });
  const jobs = await queue.enqueueMany(Array.from({ length: JOBS }, (_, i) => ({ kind: 'http', payload: { url: `${target.url}/hook`, method: 'POST', body: { i } } })));

  const blocked = group.start('blocked', [], blockingWorkerEnv(db.url), { script: 'test/helpers/blocking-worker.ts' });
  const startedAt = await blocked.waitForLine((l) => l.msg === 'blocking', 60_000, '"blocking"');
  const all = [blocker.id, ...jobs.map((r) => r.job.id)];
  const held = (await stored(db.pool, all)).filter((r) => r.status === 'running' && r.locked_by === 'blocked' && r.id !== blocker.id).map((r) => r.id);
  assert.ok(held.length >= 2, `the blocked worker holds other jobs (${held.length})`);

  // Another worker sweeps (every 300 ms) and works the rest; the API runs here, not in the blocked process.
  const sweeper = new Worker({
    queue: new Queue({ pool: db.pool, kinds: kinds(false) }), databaseUrl: db.url, logger: silent, workerId: 'sweeper', concurrency: 4, queues: [],
    leaseMs: LEASE_MS, heartbeatMs: HEARTBEAT_MS, pollIntervalMs: 200, shutdownGraceMs: 2_000, timeoutGraceMs: 1_000,
  });
  await sweeper.start();
  t.after(() => sweeper.stop());
  const app = await buildApp({ ready: async () => true, queue, config: DEFAULT_CONFIG });
  t.after(() => app.close());
  const api = await listen(app);
  let unblocked = false;
  const endedAt = blocked.waitForLine((l) => l.msg === 'unblocked', 60_000, '"unblocked"').finally(() => (unblocked = true));
  const health: number[] = [];
  while (!unblocked) {
    health.push((await fetch(`${api}/healthz`)).status);
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(Number((await endedAt).time) - Number(startedAt.time) >= BLOCK_MS, 'blocked for four leases');
  assert.ok(health.length >= 5 && health.every((st) => st === 200), `/healthz answered 200 while the worker was blocked: ${health.join(',')}`);

  await eventually(async () => {
    const rows = await stored(db.pool, all);
    return rows.filter((r) => r.status === 'succeeded').length === JOBS + 1 ? true : undefined;
  }, 60_000, 'every job to succeed');
  const twice = jobs.filter((r) => target.deliveries.get(r.job.id) !== 1).map((r) => `${r.job.id}: ${target.deliveries.get(r.job.id) ?? 0}`);
  assert.deepEqual(twice, [], 'every http job delivered exactly once');
  const rows = await stored(db.pool, [blocker.id, ...held]);
  assert.ok(rows.length === held.length + 1 && rows.every((r) => r.attempts === 1), 'the jobs it held were not recovered');
  assert.equal(blocked.output().split('\n').filter((l) => l.includes('"msg":"blocking"')).length, 1, 'the blocking job ran once');
  assert.equal(blocked.problems().filter((p) => /leases were given up|no more lease renewals|could not record/.test(String(p.msg))).length, 0, 'no lease given up, no outcome unwritten');
});

// Hang-guard far above the expected ~10 s.
test('past maxBlockedMs the lease keeper gives the leases up and says so: a stuck process does not hold its jobs forever', { timeout: 120_000 }, async (t) => {
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const db = await freshDatabase();
  const queue = new Queue({ pool: db.pool, kinds: kinds(true) });
  const { job } = await queue.enqueue({ kind: 'block', payload: { wait_ms: 0, block_ms: BLOCK_MS }, maxAttempts: 1 });
  const blocked = group.start('blocked', [], blockingWorkerEnv(db.url, { JOBQ_MAX_BLOCKED_MS: '500' }), { script: 'test/helpers/blocking-worker.ts' });
  await blocked.waitForLine((l) => l.msg === 'blocking', 60_000, '"blocking"');
  // Written by the keeper's thread while the main thread is still blocked.
  const gaveUp = await blocked.waitForLine((l) => /no more lease renewals/.test(String(l.msg)), 10_000, 'the keeper giving up');
  assert.equal(gaveUp.level, 50);
  assert.equal(blocked.output().includes('"msg":"unblocked"'), false, 'while still blocked');
  // Another process's sweeper then recovers the job: out of attempts, it fails saying its worker was lost.
  const other = new Queue({ pool: db.pool, kinds: kinds(false) });
  const recovered = await eventually(async () => ((await other.recoverStale(LEASE_MS)) > 0 ? true : undefined), BLOCK_MS, 'the lease to lapse');
  assert.ok(recovered);
  const after = await queue.get(job.id);
  assert.equal(after?.status, 'failed_permanent');
  assert.match(after!.lastError!, /worker blocked lost the job/);
});
