/**
 * /v1/queues over HTTP (a real socket, through the typed client): policies set and read back, a rate's
 * period in either form, validation with stable kinds and paths, scopes, and groups on enqueued jobs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient, JobqClientError } from '../../src/client.ts';
import { buildTestApp, listen } from '../helpers/fixtures.ts';

async function refused(promise: Promise<unknown>, status: number, kind: string, path?: string): Promise<void> {
  const err = await promise.then(() => assert.fail(`expected ${kind}`), (e: unknown) => e);
  assert.ok(err instanceof JobqClientError, String(err));
  assert.deepEqual([err.status, err.kind], [status, kind], err.message);
  if (path !== undefined) assert.ok(err.details?.some((d) => d.path === path), JSON.stringify(err.details));
}

test('PUT sets a policy field by field and answers with the queue; GET lists queues with their counts', async () => {
  const { app } = await buildTestApp();
  const client = createClient({ baseUrl: await listen(app) });
  const set = await client.setQueue('mail', { concurrency: 5, rate: { limit: 10, period: '1s' } });
  assert.deepEqual({ ...set, updated_at: null }, {
    name: 'mail', paused: false, concurrency: 5, rate: { limit: 10, period_ms: 1000 }, group_concurrency: null,
    depth: 0, running: 0, oldest_waiting_age_seconds: 0, updated_at: null,
  });
  // Every form of the period: a duration, milliseconds as a number, period_ms.
  assert.deepEqual((await client.setQueue('mail', { rate: { limit: 1000, period: '1h' } })).rate, { limit: 1000, period_ms: 3_600_000 });
  assert.deepEqual((await client.setQueue('mail', { rate: { limit: 3, period: 250 } })).rate, { limit: 3, period_ms: 250 });
  assert.deepEqual((await client.setQueue('mail', { rate: { limit: 3, period_ms: 500 } })).rate, { limit: 3, period_ms: 500 });
  const paused = await client.pauseQueue('mail');
  assert.deepEqual([paused.paused, paused.concurrency, paused.rate], [true, 5, { limit: 3, period_ms: 500 }], 'what is left out stays');
  const cleared = await client.setQueue('mail', { concurrency: null, rate: null, group_concurrency: 2 });
  assert.deepEqual([cleared.concurrency, cleared.rate, cleared.group_concurrency], [null, null, 2]);
  assert.equal((await client.resumeQueue('mail')).paused, false);

  await client.enqueueBatch([{ kind: 'noop', payload: {}, queue: 'b' }, { kind: 'noop', payload: {}, queue: 'a', group: 'tenant-1' }]);
  const all = [];
  for await (const q of client.listQueues({ limit: 1 })) all.push([q.name, q.depth, q.group_concurrency]);
  assert.deepEqual(all, [['a', 1, null], ['b', 1, null], ['mail', 0, 2]]);
  const { oldest_waiting_age_seconds: age, ...one } = await client.getQueue('a');
  assert.ok(age > 0, 'its job has waited a little');
  assert.deepEqual({ ...(await client.listQueuesPage({ limit: 1 })).queues[0], oldest_waiting_age_seconds: undefined }, { ...one, oldest_waiting_age_seconds: undefined });
  assert.equal((await client.getQueue('never-used')).depth, 0, 'any valid name answers');
});

test('bad policies are 400 validation_failed naming the field; the stored policy is left as it was', async () => {
  const { app } = await buildTestApp();
  const client = createClient({ baseUrl: await listen(app) });
  await client.setQueue('q', { concurrency: 3 });
  const cases: [unknown, string][] = [
    [{ concurrency: 0 }, '/concurrency'],
    [{ concurrency: 1.5 }, '/concurrency'],
    [{ group_concurrency: 2_000_000 }, '/group_concurrency'],
    [{ paused: 'yes' }, '/paused'],
    [{ rate: { limit: 10 } }, '/rate/period'],
    [{ rate: { limit: 10, period: '1s', period_ms: 1000 } }, '/rate/period'],
    [{ rate: { limit: 10, period: 'whenever' } }, '/rate/period'],
    [{ rate: { limit: 10, period: '-1s' } }, '/rate/period'],
    [{ rate: { limit: 10, period: '0.5ms' } }, '/rate/period'],
    [{ rate: { limit: 10, period: '1y' } }, '/rate/period'],
    [{ rate: { limit: 0, period: '1s' } }, '/rate/limit'],
    [{ rate: { limit: 10, period: '1s', burst: 3 } }, '/rate/burst'],
    [{ concurrency: 2, priority: 1 }, '/priority'],
  ];
  for (const [body, path] of cases) await refused(client.setQueue('q', body as never), 400, 'validation_failed', path);
  await refused(client.setQueue('bad name', { paused: true }), 400, 'validation_failed');
  assert.equal((await client.getQueue('q')).concurrency, 3);
});

test('changing a policy needs the admin scope; reading queues needs read', async () => {
  const { app } = await buildTestApp({ config: { apiKeys: ['ops:admin:key-admin', 'dash:read:key-read', 'app:enqueue:key-enq'], metricsAuth: false, bodyLimit: 1_048_576 } });
  const base = await listen(app);
  const as = (apiKey: string) => createClient({ baseUrl: base, apiKey });
  await refused(as('key-read').setQueue('q', { paused: true }), 403, 'forbidden');
  await refused(as('key-enq').listQueuesPage(), 403, 'forbidden');
  await refused(as('key-enq').getQueue('q'), 403, 'forbidden');
  await refused(createClient({ baseUrl: base }).getQueue('q'), 401, 'unauthorized');
  assert.equal((await as('key-admin').pauseQueue('q')).paused, true);
  assert.equal((await as('key-read').getQueue('q')).paused, true);
});

test("a job's group travels with it, and is bounded", async () => {
  const { app } = await buildTestApp();
  const client = createClient({ baseUrl: await listen(app) });
  const job = await client.enqueue({ kind: 'noop', payload: {}, group: 'customer-7' });
  assert.equal(job.group, 'customer-7');
  assert.equal((await client.get(job.id)).group, 'customer-7');
  assert.equal((await client.listPage({ limit: 10 })).jobs.find((j) => j.id === job.id)?.group, 'customer-7', 'and in listings');
  assert.equal((await client.enqueue({ kind: 'noop', payload: {} })).group, null);
  await refused(client.enqueue({ kind: 'noop', payload: {}, group: '' }), 400, 'validation_failed', '/group');
  await refused(client.enqueue({ kind: 'noop', payload: {}, group: 'x'.repeat(129) }), 400, 'validation_failed', '/group');
  await refused(client.enqueue({ kind: 'noop', payload: {}, group: 'new\nline' }), 400, 'validation_failed', '/group');
  await refused(client.enqueueBatch([{ kind: 'noop', payload: {} }, { kind: 'noop', payload: {}, group: '' }]), 400, 'validation_failed', '/jobs/1/group');
});
