/** Singleton and debounce keys over HTTP: real sockets, concurrent requests, the answers' codes and headers. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient, type NewJobWire } from '../../src/client.ts';
import { createMetrics } from '../../src/metrics/metrics.ts';
import { parseExposition, value } from '../metrics/exposition.ts';
import { assertError, body, buildTestApp, email, jobCount, listen } from '../helpers/fixtures.ts';

const noop = (extra: Partial<NewJobWire> = {}): NewJobWire => ({ kind: 'noop', payload: {}, ...extra });

async function postAll(base: string, bodies: unknown[]): Promise<{ status: number; headers: Headers; job: any }[]> {
  return Promise.all(
    bodies.map(async (b) => {
      const res = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });
      return { status: res.status, headers: res.headers, job: await res.json() };
    }),
  );
}

test('50 concurrent requests with one singleton key: one 201, 49 answers 200 Singleton-Existing with that job', async () => {
  const { app, db } = await buildTestApp();
  const base = await listen(app);
  const answers = await postAll(base, Array.from({ length: 50 }, (_x, i) => noop({ payload: { sleep_ms: i }, singleton_key: 'nightly' })));
  const created = answers.filter((a) => a.status === 201);
  assert.equal(created.length, 1);
  assert.match(String(created[0]!.headers.get('location')), new RegExp(`/v1/jobs/${created[0]!.job.id}$`));
  const others = answers.filter((a) => a.status !== 201);
  assert.ok(others.every((a) => a.status === 200 && a.headers.get('singleton-existing') === 'true' && a.headers.get('idempotent-replayed') === null));
  assert.ok(answers.every((a) => a.job.id === created[0]!.job.id && a.job.singleton_key === 'nightly' && a.job.debounce_key === null));
  const { rows } = await db!.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM jobq.jobs WHERE singleton_key = 'nightly'");
  assert.equal(rows[0]!.n, 1);
});

test('50 concurrent requests with one debounce key: one 201, 49 answers 200 Debounced; one waiting job', async () => {
  const { app, db } = await buildTestApp();
  const base = await listen(app);
  const answers = await postAll(base, Array.from({ length: 50 }, (_x, i) => noop({ payload: { sleep_ms: i }, debounce_key: 'reindex-7', debounce_ms: 60_000 })));
  assert.equal(answers.filter((a) => a.status === 201).length, 1);
  assert.ok(answers.every((a) => a.status === 201 || (a.status === 200 && a.headers.get('debounced') === 'true')));
  assert.equal(new Set(answers.map((a) => a.job.id)).size, 1);
  assert.deepEqual(answers.map((a) => a.job.payload), answers.map((_a, i) => ({ sleep_ms: i })), 'each answer shows its own write');
  const { rows } = await db!.pool.query("SELECT status, payload, debounce_key FROM jobq.jobs");
  assert.equal(rows.length, 1);
  assert.equal(rows[0].status, 'queued');
  assert.ok(rows[0].payload.sleep_ms >= 0 && rows[0].payload.sleep_ms < 50);
});

test('the job shows its keys; a debounce answer shows the rewritten job; GET and list show the same', async () => {
  const { app } = await buildTestApp();
  const post = (b: unknown) => app.inject({ method: 'POST', url: '/v1/jobs', payload: b as object });
  const first = await post(email({ debounce_key: 'd', debounce_ms: 30_000 }));
  assert.equal(first.statusCode, 201);
  const second = await post(email({ payload: { to: 'bob@example.com', subject: 'S', body: 'B' }, debounce_key: 'd', debounce_ms: 60_000, priority: 2 }));
  assert.equal(second.statusCode, 200);
  assert.equal(second.headers.debounced, 'true');
  const job = body(second);
  assert.equal(job.id, body(first).id);
  assert.deepEqual([job.payload.to, job.priority, job.debounce_key, job.singleton_key], ['bob@example.com', 2, 'd', null]);
  assert.ok(Date.parse(job.run_at) >= Date.parse(body(first).run_at) + 25_000, 'run_at pushed by the second debounce');
  assert.deepEqual(body(await app.inject({ url: `/v1/jobs/${job.id}` })), job);
  const listed = body(await app.inject({ url: '/v1/jobs' })).jobs;
  assert.deepEqual(listed, [job]);
});

test('bad keys are 400 validation_failed naming the field, single and in a batch; nothing is stored', async () => {
  const { app, db } = await buildTestApp();
  const cases: [Record<string, unknown>, string][] = [
    [{ singleton_key: '' }, '/singleton_key'],
    [{ singleton_key: 'x'.repeat(256) }, '/singleton_key'],
    [{ singleton_key: 5 }, '/singleton_key'],
    [{ debounce_key: 'x'.repeat(256), debounce_ms: 5 }, '/debounce_key'],
    [{ debounce_ms: 5 }, '/debounce_key'],
    [{ debounce_key: 'd' }, '/debounce_ms'],
    [{ debounce_key: 'd', debounce_ms: -1 }, '/debounce_ms'],
    [{ debounce_key: 'd', debounce_ms: 2 ** 31 }, '/debounce_ms'],
    [{ debounce_key: 'd', debounce_ms: '5' }, '/debounce_ms'],
    [{ singleton_key: 's', debounce_key: 'd', debounce_ms: 5 }, '/debounce_key'],
    [{ debounce_key: 'd', debounce_ms: 5, delay_ms: 1 }, '/delay_ms'],
    [{ debounce_key: 'd', debounce_ms: 5, run_at: '2030-01-01T00:00:00Z' }, '/run_at'],
  ];
  for (const [extra, path] of cases) {
    const res = await app.inject({ method: 'POST', url: '/v1/jobs', payload: noop(extra as Partial<NewJobWire>) });
    const err = assertError(res, 400, 'validation_failed');
    assert.ok(err.error.details?.some((d) => d.path === path), `${JSON.stringify(extra)}: ${res.body}`);
    assert.ok(err.error.details?.every((d) => d.index === undefined), res.body);
    const batch = await app.inject({ method: 'POST', url: '/v1/jobs/batch', payload: { jobs: [noop(), noop(extra as Partial<NewJobWire>)] } });
    const berr = assertError(batch, 400, 'validation_failed');
    assert.ok(berr.error.details?.some((d) => d.path === `/jobs/1${path}`), `${JSON.stringify(extra)}: ${batch.body}`);
  }
  assert.equal(await jobCount(db!.pool), 0);
});

test('retrying a cancelled singleton job whose key another job holds is 409 invalid_transition naming it', async () => {
  const { app } = await buildTestApp();
  const a = body(await app.inject({ method: 'POST', url: '/v1/jobs', payload: noop({ singleton_key: 's' }) }));
  await app.inject({ method: 'POST', url: `/v1/jobs/${a.id}/cancel` });
  const b = body(await app.inject({ method: 'POST', url: '/v1/jobs', payload: noop({ singleton_key: 's' }) }));
  assert.notEqual(b.id, a.id);
  const err = assertError(await app.inject({ method: 'POST', url: `/v1/jobs/${a.id}/retry` }), 409, 'invalid_transition');
  assert.deepEqual(err.error.details, [{ path: '/singleton_key', message: `held by job ${b.id}`, job_id: b.id }]);
});

test('a batch answers keyed entries with their jobs, in order', async () => {
  const { app } = await buildTestApp();
  const res = await app.inject({
    method: 'POST',
    url: '/v1/jobs/batch',
    payload: { jobs: [noop({ singleton_key: 's' }), noop({ singleton_key: 's' }), noop({ debounce_key: 'd', debounce_ms: 1000 }), noop({ debounce_key: 'd', debounce_ms: 1000, payload: { sleep_ms: 2 } })] },
  });
  assert.equal(res.statusCode, 201, res.body);
  const jobs = body(res).jobs;
  assert.equal(jobs[1].id, jobs[0].id);
  assert.equal(jobs[3].id, jobs[2].id);
  assert.deepEqual(jobs[3].payload, { sleep_ms: 2 });
  assert.deepEqual(jobs[2].payload, {}, 'each entry is answered with the job as its own statement left it');
});

test('the typed client sends the keys and gets the job back; metrics count each outcome', async () => {
  const { app, queue } = await buildTestApp();
  const metrics = createMetrics({ queue, processMetrics: false });
  const client = createClient({ baseUrl: await listen(app) });
  const a = await client.enqueue(noop({ singleton_key: 'c' }));
  assert.equal((await client.enqueue(noop({ singleton_key: 'c' }))).id, a.id);
  const d = await client.enqueue(noop({ debounce_key: 'cd', debounce_ms: 10_000 }));
  assert.equal((await client.enqueue(noop({ debounce_key: 'cd', debounce_ms: 10_000 }))).id, d.id);
  await client.enqueue(noop(), { idempotencyKey: 'i' });
  await client.enqueue(noop(), { idempotencyKey: 'i' });
  const samples = parseExposition(await metrics.render());
  assert.equal(value(samples, 'jobq_jobs_enqueued_total', { kind: 'noop', queue: 'default' }), 3);
  assert.equal(value(samples, 'jobq_jobs_singleton_existing_total', { kind: 'noop' }), 1);
  assert.equal(value(samples, 'jobq_jobs_debounced_total', { kind: 'noop' }), 1);
  assert.equal(value(samples, 'jobq_jobs_idempotent_replays_total', { kind: 'noop' }), 1);
});
