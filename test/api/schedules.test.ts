/**
 * /v1/schedules over HTTP (a real socket, through the typed client): create, replace and the idempotent
 * PUT, the wire form, validation naming the field, not found, delete, trigger, paging, scopes, and what a
 * list shows after a tick fired (a Queue whose clock the test sets, fired by hand as a worker would).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient, JobqClientError, type SetScheduleWire } from '../../src/client.ts';
import { Queue } from '../../src/queue/index.ts';
import { buildTestApp, freshDatabase, ISO_UTC, listen, testKinds } from '../helpers/fixtures.ts';

async function refused(promise: Promise<unknown>, status: number, kind: string, path?: string): Promise<JobqClientError> {
  const err = await promise.then(() => assert.fail(`expected ${kind}`), (e: unknown) => e);
  assert.ok(err instanceof JobqClientError, String(err));
  assert.deepEqual([err.status, err.kind], [status, kind], err.message);
  if (path !== undefined) assert.ok(err.details?.some((d) => d.path === path), `${path} in ${JSON.stringify(err.details)}`);
  return err;
}

const SCHEDULE_KEYS = [
  'name', 'cron', 'every', 'every_ms', 'timezone', 'job', 'enabled', 'catch_up', 'catch_up_limit', 'source', 'next_fire_at', 'last_fire_at',
  'last_job', 'fires', 'created_at', 'updated_at',
];
const REPORT: SetScheduleWire = {
  cron: '0 3 * * *',
  timezone: 'Europe/Berlin',
  job: { kind: 'send_email', payload: { to: 'ops@example.com', subject: 'Nightly', body: 'See the dashboard.' }, queue: 'mail', priority: 5, max_attempts: 4, timeout_ms: 60_000 },
  catch_up: 'latest',
};

/** The API on a Queue whose clock reads `clock.now`. */
async function clockedApi(start: string) {
  const db = await freshDatabase();
  const clock = { now: new Date(start) };
  const queue = new Queue({ pool: db.pool, kinds: testKinds(), clock: () => clock.now });
  const { app } = await buildTestApp({ queue });
  return { clock, queue, client: createClient({ baseUrl: await listen(app) }) };
}

test('PUT creates (201), the same again changes nothing (200, changed:false), a new body replaces it; GET answers the wire form', async () => {
  const { client } = await clockedApi('2030-01-15T00:00:00Z');
  const created = await client.setSchedule('nightly-report', REPORT);
  assert.deepEqual([created.created, created.changed], [true, true]);
  const s = created.schedule;
  assert.deepEqual(Object.keys(s), SCHEDULE_KEYS);
  assert.deepEqual({ ...s, created_at: null, updated_at: null }, {
    name: 'nightly-report', cron: '0 3 * * *', every: null, every_ms: null, timezone: 'Europe/Berlin',
    job: { kind: 'send_email', payload: REPORT.job.payload, queue: 'mail', priority: 5, max_attempts: 4, timeout_ms: 60_000 },
    enabled: true, catch_up: 'latest', catch_up_limit: 100, source: 'api',
    // 03:00 in Berlin, which is UTC+1 in January
    next_fire_at: '2030-01-15T02:00:00.000Z', last_fire_at: null, last_job: null, fires: 0, created_at: null, updated_at: null,
  });
  assert.match(s.created_at, ISO_UTC);
  assert.deepEqual(await client.getSchedule('nightly-report'), s);

  const again = await client.setSchedule('nightly-report', REPORT);
  assert.deepEqual([again.created, again.changed], [false, false]);
  assert.deepEqual(again.schedule, s, 'nothing was written');

  const replaced = await client.setSchedule('nightly-report', { every: '30s', job: { kind: 'noop', payload: {} }, enabled: false });
  assert.deepEqual([replaced.created, replaced.changed], [false, true]);
  const r = replaced.schedule;
  assert.deepEqual(
    [r.cron, r.every, r.every_ms, r.timezone, r.job, r.enabled, r.catch_up, r.next_fire_at],
    [null, '30s', 30_000, 'UTC', { kind: 'noop', payload: {}, queue: 'default', priority: 0, max_attempts: null, timeout_ms: null }, false, 'skip', null],
    'a field left out takes its default; disabled: no next tick',
  );
  assert.equal((await client.setSchedule('every-minute', { every: 60_000, job: { kind: 'noop', payload: {} } })).schedule.every_ms, 60_000, 'every in milliseconds');
  // The longest name, percent-encoded on the way (`:` travels as %3A), is as good as any other.
  const longest = `a${':'.repeat(127)}`;
  assert.equal((await client.setSchedule(longest, { every: '1h', job: { kind: 'noop', payload: {} } })).schedule.name, longest);
  assert.equal((await client.getSchedule(longest)).name, longest);
  await client.deleteSchedule(longest);
});

test('bad schedules are 400 naming the field; nothing is stored', async () => {
  const { client } = await clockedApi('2030-01-15T00:00:00Z');
  const job = { kind: 'noop', payload: {} };
  const cases: [unknown, string, string][] = [
    [{ cron: 'every day at noon', job }, 'validation_failed', '/cron'],
    [{ cron: '61 * * * *', job }, 'validation_failed', '/cron'],
    [{ cron: '0 3 * * *', timezone: 'Mars/Olympus_Mons', job }, 'validation_failed', '/timezone'],
    [{ cron: '0 3 * * *', job: { kind: 'send_email', payload: { subject: 'Hi', body: 'Hello' } } }, 'payload_invalid', '/job/payload/to'],
    [{ cron: '0 3 * * *', every: '1h', job }, 'validation_failed', '/every'],
    [{ job }, 'validation_failed', '/cron'],
    [{ every: 'now and then', job }, 'validation_failed', '/every'],
    [{ every: 500, job }, 'validation_failed', '/every'],
    [{ every: '1h' }, 'validation_failed', '/job'],
    [{ every: '1h', job: { payload: {} } }, 'validation_failed', '/job/kind'],
    [{ every: '1h', job: { ...job, priority: 'high' } }, 'validation_failed', '/job/priority'],
    [{ every: '1h', job: { ...job, max_attempts: 0 } }, 'validation_failed', '/job/max_attempts'],
    [{ every: '1h', job: { ...job, queue: 'no spaces' } }, 'validation_failed', '/job/queue'],
    [{ every: '1h', job: { ...job, extra: 1 } }, 'validation_failed', '/job/extra'],
    [{ every: '1h', job, catch_up: 'sometimes' }, 'validation_failed', '/catch_up'],
    [{ every: '1h', job, catch_up_limit: 0 }, 'validation_failed', '/catch_up_limit'],
    [{ every: '1h', job, catch_up_limit: 1001 }, 'validation_failed', '/catch_up_limit'],
    [{ every: '1h', job, enabled: 'yes' }, 'validation_failed', '/enabled'],
    [{ every: '1h', job, name: 'x' }, 'validation_failed', '/name'],
    [{ every: '1h', job: { kind: 'no_such_kind', payload: {} } }, 'unknown_kind', '/job/kind'],
  ];
  for (const [body, kind, path] of cases) await refused(client.setSchedule('bad', body as SetScheduleWire), 400, kind, path);
  await refused(client.setSchedule('-starts-with-a-dash', { every: '1h', job }), 400, 'validation_failed', '/name');
  await refused(client.setSchedule('x'.repeat(129), { every: '1h', job }), 400, 'validation_failed', '/name');
  await refused(client.getSchedule('bad'), 404, 'not_found');
  assert.deepEqual((await client.listSchedulesPage()).schedules, []);
});

test('GET and DELETE of a missing schedule are 404; DELETE is 204 once; trigger runs the template now and leaves the ticks', async () => {
  const { client, queue } = await clockedApi('2030-01-15T00:00:00Z');
  await refused(client.getSchedule('nope'), 404, 'not_found');
  await refused(client.deleteSchedule('nope'), 404, 'not_found');
  await refused(client.triggerSchedule('nope'), 404, 'not_found');
  await refused(client.getSchedule('a b'), 400, 'validation_failed', '/name');

  const { schedule } = await client.setSchedule('nightly-report', { ...REPORT, enabled: false });
  const job = await client.triggerSchedule('nightly-report');
  assert.deepEqual(
    [job.kind, job.payload, job.queue, job.priority, job.max_attempts, job.timeout_ms, job.status],
    ['send_email', REPORT.job.payload, 'mail', 5, 4, 60_000, 'queued'],
    'a disabled schedule runs too',
  );
  assert.deepEqual(await client.get(job.id), job);
  const second = await client.triggerSchedule('nightly-report');
  assert.notEqual(second.id, job.id, 'each trigger is a new job');
  const after = await client.getSchedule('nightly-report');
  assert.deepEqual([after.next_fire_at, after.last_fire_at, after.enabled], [schedule.next_fire_at, null, false], 'its ticks stay as they were');

  assert.equal(await client.deleteSchedule('nightly-report'), undefined);
  await refused(client.getSchedule('nightly-report'), 404, 'not_found');
  await refused(client.deleteSchedule('nightly-report'), 404, 'not_found');
  assert.equal((await queue.get(job.id))?.status, 'queued', 'its jobs stay');
});

test('the list pages by name and shows the next tick, the last tick and its job once one fired', async () => {
  const { client, queue, clock } = await clockedApi('2030-01-15T00:00:30Z');
  for (const name of ['c-every-minute', 'a-hourly', 'b-daily']) {
    const cron = { 'c-every-minute': '* * * * *', 'a-hourly': '0 * * * *', 'b-daily': '0 0 * * *' }[name]!;
    await client.setSchedule(name, { cron, job: { kind: 'noop', payload: { sleep_ms: 1 } } });
  }
  const names = [];
  for await (const s of client.listSchedules({ limit: 1 })) names.push([s.name, s.next_fire_at]);
  assert.deepEqual(names, [['a-hourly', '2030-01-15T01:00:00.000Z'], ['b-daily', '2030-01-16T00:00:00.000Z'], ['c-every-minute', '2030-01-15T00:01:00.000Z']]);
  const first = await client.listSchedulesPage({ limit: 2 });
  assert.deepEqual([first.schedules.map((s) => s.name), first.next_cursor], [['a-hourly', 'b-daily'], 'b-daily']);
  const last = await client.listSchedulesPage({ limit: 2, cursor: 'b-daily' });
  assert.deepEqual([last.schedules.map((s) => s.name), last.next_cursor], [['c-every-minute'], null]);

  clock.now = new Date('2030-01-15T00:01:05Z');
  const { fired } = await queue.schedules.fireDue();
  assert.deepEqual(fired.map((f) => [f.schedule, f.tick.toISOString()]), [['c-every-minute', '2030-01-15T00:01:00.000Z']]);
  const page = await client.listSchedulesPage();
  const minute = page.schedules.find((s) => s.name === 'c-every-minute')!;
  assert.deepEqual(
    [minute.next_fire_at, minute.last_fire_at, minute.last_job, minute.fires],
    ['2030-01-15T00:02:00.000Z', '2030-01-15T00:01:00.000Z', { id: fired[0]!.jobId, status: 'queued' }, 1],
  );
  const job = await client.get(fired[0]!.jobId);
  assert.deepEqual([job.kind, job.payload, job.idempotency_key], ['noop', { sleep_ms: 1 }, 'schedule:c-every-minute:2030-01-15T00:01:00.000Z']);
  const hourly = page.schedules.find((s) => s.name === 'a-hourly')!;
  assert.deepEqual([hourly.last_fire_at, hourly.last_job, hourly.fires], [null, null, 0], 'the others did not fire');
  await refused(client.listSchedulesPage({ limit: 0 }), 400, 'validation_failed', '/limit');
  await refused(client.listSchedulesPage({ limit: 1001 }), 400, 'validation_failed', '/limit');
  await refused(client.listSchedulesPage({ cursor: 'no spaces' }), 400, 'validation_failed', '/cursor');
});

test('scopes: reading needs read; set, delete and trigger need admin (an enqueue key may not trigger)', async () => {
  const { app } = await buildTestApp({ config: { apiKeys: ['ops:admin:key-admin', 'dash:read:key-read', 'app:enqueue:key-enq'], metricsAuth: false, bodyLimit: 1_048_576 } });
  const base = await listen(app);
  const as = (apiKey: string) => createClient({ baseUrl: base, apiKey });
  const body: SetScheduleWire = { every: '1h', job: { kind: 'noop', payload: {} } };
  for (const key of ['key-read', 'key-enq']) {
    await refused(as(key).setSchedule('hourly', body), 403, 'forbidden');
    await refused(as(key).triggerSchedule('hourly'), 403, 'forbidden');
    await refused(as(key).deleteSchedule('hourly'), 403, 'forbidden');
  }
  await refused(as('key-enq').listSchedulesPage(), 403, 'forbidden');
  await refused(as('key-enq').getSchedule('hourly'), 403, 'forbidden');
  await refused(createClient({ baseUrl: base }).listSchedulesPage(), 401, 'unauthorized');
  assert.equal((await as('key-admin').setSchedule('hourly', body)).created, true);
  assert.equal((await as('key-read').getSchedule('hourly')).every, '1h');
  assert.equal((await as('key-read').listSchedulesPage()).schedules.length, 1);
  assert.equal((await as('key-admin').triggerSchedule('hourly')).kind, 'noop');
  await as('key-admin').deleteSchedule('hourly');
  await refused(as('key-read').getSchedule('hourly'), 404, 'not_found');
});
