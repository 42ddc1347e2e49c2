/**
 * The dashboard's reads over HTTP (issue #20), through the typed client on a real socket: workers with
 * what they run, jobs finished per minute, a job's children, the list's group and idempotency-key
 * filters, and started_at on jobs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient, JobqClientError } from '../../src/client.ts';
import { Queue } from '../../src/queue/index.ts';
import { buildTestApp, eventually, freshDatabase, kindsWithProbe, listen, noopJob, setup, testKinds } from '../helpers/fixtures.ts';

async function refused(promise: Promise<unknown>, status: number, kind: string): Promise<void> {
  const err = await promise.then(() => assert.fail(`expected ${kind}`), (e: unknown) => e);
  assert.ok(err instanceof JobqClientError, String(err));
  assert.deepEqual([err.status, err.kind], [status, kind], err.message);
}

test('GET /v1/workers: each live worker with its concurrency, queues and running jobs; a stopped one stays listed, not alive', async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const s = await setup(kindsWithProbe(() => held));
  const { app } = await buildTestApp({ queue: s.queue });
  const client = createClient({ baseUrl: await listen(app) });
  const busy = await s.worker({ workerId: 'busy', concurrency: 3, queues: ['mail'] });
  await s.worker({ workerId: 'idle', concurrency: 7, queues: ['other', 'reports'] });
  await s.queue.enqueue({ kind: 'probe', payload: {}, queue: 'mail' });
  await s.queue.enqueue({ kind: 'probe', payload: {}, queue: 'mail' });
  const seen = await eventually(async () => {
    const { workers } = await client.workers();
    return workers.find((w) => w.id === 'busy')?.running === 2 ? workers : undefined;
  }, 10_000, 'two jobs running on worker busy');
  assert.deepEqual(
    seen.map((w) => ({ id: w.id, alive: w.alive, concurrency: w.concurrency, queues: w.queues, running: w.running })),
    [
      { id: 'busy', alive: true, concurrency: 3, queues: ['mail'], running: 2 },
      { id: 'idle', alive: true, concurrency: 7, queues: ['other', 'reports'], running: 0 },
    ],
  );
  for (const w of seen) {
    assert.ok(w.started_at !== null && Date.parse(w.last_seen_at) >= Date.parse(w.started_at), JSON.stringify(w));
  }
  release();
  await busy.stop();
  const after = (await client.workers()).workers.find((w) => w.id === 'busy');
  assert.deepEqual([after?.alive, after?.running], [false, 0], 'a worker that stopped is shown as stopped, for an hour');
});

test('GET /v1/stats/throughput: jobs finished per queue and minute, oldest first, the current minute last', async () => {
  const db = await freshDatabase();
  let now = new Date('2026-01-05T10:00:30.000Z');
  const queue = new Queue({ pool: db.pool, kinds: testKinds(), clock: () => now });
  const { app } = await buildTestApp({ queue });
  const client = createClient({ baseUrl: await listen(app) });
  /** Enqueues `n` jobs on `q`, and at `at` claims them and settles them with `settle`. */
  const finish = async (at: string, q: string, n: number, settle: 'succeed' | 'fail' | 'cancel') => {
    now = new Date(at);
    const jobs = await Promise.all(Array.from({ length: n }, () => queue.enqueue(noopJob({ queue: q, maxAttempts: 1 }))));
    if (settle === 'cancel') {
      for (const { job } of jobs) await queue.requestCancel(job.id);
      return;
    }
    const claimed = await queue.claim('w', { limit: n, queues: [q] });
    assert.equal(claimed.length, n);
    if (settle === 'succeed') await queue.complete('w', claimed.map((c) => ({ id: c.id, claimSeq: c.claimSeq })));
    else for (const c of claimed) await queue.markFailedOrRetry(c.id, new Error('boom'), { workerId: 'w', claimSeq: c.claimSeq, permanent: true });
  };
  await finish('2026-01-05T09:59:59.000Z', 'mail', 4, 'succeed'); // before the window: not counted
  await finish('2026-01-05T10:00:30.000Z', 'mail', 1, 'succeed');
  await finish('2026-01-05T10:02:15.000Z', 'mail', 2, 'succeed');
  await finish('2026-01-05T10:02:59.999Z', 'mail', 1, 'fail');
  await finish('2026-01-05T10:04:05.000Z', 'reports', 3, 'succeed');
  await finish('2026-01-05T10:04:06.000Z', 'reports', 2, 'cancel');
  now = new Date('2026-01-05T10:04:10.000Z');
  const t = await client.throughput(5);
  assert.deepEqual(t, {
    minutes: 5,
    until: '2026-01-05T10:05:00.000Z',
    queues: {
      mail: { succeeded: [1, 0, 2, 0, 0], failed: [0, 0, 1, 0, 0], cancelled: [0, 0, 0, 0, 0] },
      reports: { succeeded: [0, 0, 0, 0, 3], failed: [0, 0, 0, 0, 0], cancelled: [0, 0, 0, 0, 2] },
    },
  });
  // The default window is 30 minutes; the earlier minute's four jobs are in it.
  const wide = await client.throughput();
  assert.equal(wide.minutes, 30);
  assert.equal(wide.queues.mail!.succeeded.reduce((a, b) => a + b, 0), 7);
  assert.equal(wide.queues.mail!.succeeded.length, 30);
  await refused(client.throughput(0), 400, 'validation_failed');
  await refused(client.throughput(61), 400, 'validation_failed');
});

test("GET /v1/jobs/{id}/children: the jobs that depend on a job, paged by id, whether they still wait or have finished", async () => {
  const { app, queue } = await buildTestApp();
  const client = createClient({ baseUrl: await listen(app) });
  const [parent, other, ...kids] = await queue.enqueueMany([
    noopJob(), noopJob(),
    noopJob({ dependsOn: ['#0'] }), noopJob({ dependsOn: ['#0', '#1'] }), noopJob({ dependsOn: ['#1', '#0'] }), noopJob({ dependsOn: ['#1'] }),
  ]);
  const ids = kids.slice(0, 3).map((k) => k.job.id);
  const first = await client.children(parent!.job.id, { limit: 2 });
  assert.deepEqual(first.jobs.map((j) => [j.id, j.status, j.kind, j.queue, j.finished_at]), ids.slice(0, 2).map((id) => [id, 'waiting', 'noop', 'default', null]));
  assert.ok(first.next_cursor);
  const second = await client.children(parent!.job.id, { limit: 2, cursor: first.next_cursor! });
  assert.deepEqual([second.jobs.map((j) => j.id), second.next_cursor], [ids.slice(2), null]);
  assert.deepEqual((await client.children(other!.job.id)).jobs.map((j) => j.id), kids.slice(1).map((k) => k.job.id));
  // Children stay findable once their parents have settled (jobq.dependencies no longer holds the edges).
  const claimed = await queue.claim('w', { limit: 2 });
  await queue.complete('w', claimed.map((c) => ({ id: c.id, claimSeq: c.claimSeq })));
  assert.deepEqual((await client.children(parent!.job.id)).jobs.map((j) => [j.id, j.status]), ids.map((id) => [id, 'queued']));
  assert.deepEqual(await client.children(ids[0]!), { jobs: [], next_cursor: null }, 'a job without children');
  await refused(client.children('01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f'), 404, 'not_found');
  await refused(client.children('not-a-uuid'), 400, 'validation_failed');
  await refused(client.children(parent!.job.id, { limit: 501 }), 400, 'validation_failed');
});

test('GET /v1/jobs filters by group and finds the job of an idempotency key; jobs carry started_at', async () => {
  const { app, queue } = await buildTestApp();
  const client = createClient({ baseUrl: await listen(app) });
  const a = await queue.enqueue(noopJob({ group: 'acme', queue: 'q1' }));
  await queue.enqueue(noopJob({ group: 'globex', queue: 'q1' }));
  const keyed = await queue.enqueue(noopJob({ group: 'acme', queue: 'q2', idempotencyKey: 'order-42' }));
  const byGroup = await client.listPage({ group: 'acme' });
  assert.deepEqual(byGroup.jobs.map((j) => j.id), [keyed.job.id, a.job.id]);
  assert.deepEqual((await client.listPage({ group: 'acme', queue: 'q1' })).jobs.map((j) => j.id), [a.job.id]);
  const found = await client.listPage({ idempotency_key: 'order-42' });
  assert.deepEqual([found.jobs.map((j) => j.id), found.next_cursor], [[keyed.job.id], null]);
  assert.deepEqual((await client.listPage({ idempotency_key: 'order-42', queue: 'q1' })).jobs, [], 'the key holder must match the other filters too');
  assert.deepEqual((await client.listPage({ idempotency_key: 'order-43' })).jobs, []);
  assert.equal(found.jobs[0]!.started_at, null, 'not started yet');
  await queue.enqueue(noopJob({ queue: 'q3' }));
  const [claimed] = await queue.claim('w', { limit: 1, queues: ['q3'] });
  const started = await client.get(claimed!.id);
  assert.equal(started.status, 'running');
  assert.ok(started.started_at !== null && Date.parse(started.started_at) >= Date.parse(started.created_at), JSON.stringify(started));
});
