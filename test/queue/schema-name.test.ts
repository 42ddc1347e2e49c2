/**
 * A configurable schema name (issue #21, item 4; src/queue/schema.ts): installations in schemas of
 * their own share one database, each with its own tables, functions, migrations record, channels,
 * sweep turn, schedules and event listeners, and none sees another's jobs, notifications or events.
 * Three live side by side here: the template's `jobq`, `tenant_a`, and `order` (a word PostgreSQL
 * reserves: the rewritten SQL quotes the name).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import { EventHub } from '../../src/events/hub.ts';
import type { HubEvent } from '../../src/events/event.ts';
import { isJobqError } from '../../src/errors.ts';
import { resolveConfig } from '../../src/config.ts';
import { appliedVersion, LATEST_VERSION, loadFunctions, loadMigrations, migrate, schemaVersion } from '../../src/queue/migrate.ts';
import { Queue } from '../../src/queue/queue.ts';
import { channels, checkSchemaName, sqlFor } from '../../src/queue/schema.ts';
import * as housekeeping from '../../src/queue/statements/housekeeping.ts';
import { Worker } from '../../src/worker/worker.ts';
import { directUrl, eventually, freshDatabase, kindsWithProbe, silent, testKinds, type TestDatabase } from '../helpers/fixtures.ts';
import { statementTexts } from '../helpers/statement-names.ts';

const SCHEMAS = ['jobq', 'tenant_a', 'order'] as const;
type Schema = (typeof SCHEMAS)[number];

/** Which schema's queue ran each probe job (by id). */
const ranBy = new Map<string, Schema>();
const pools = {} as Record<Schema, pg.Pool>;
const queues = {} as Record<Schema, Queue>;
// Registered before the database's own hook: the pools end first.
after(async () => {
  await Promise.all(Object.values(pools).map((p) => p.end()));
});
const db: TestDatabase = await freshDatabase(); // `jobq` migrated (the template)
for (const schema of SCHEMAS) {
  const pool = new pg.Pool({ connectionString: db.url, max: 5 }).on('error', () => {});
  pools[schema] = pool;
  if (schema !== 'jobq') await migrate(pool, undefined, { schema });
  queues[schema] = new Queue({ pool, schema, kinds: kindsWithProbe((_p, ctx) => void ranBy.set(ctx.job.id, schema)) });
}

test('sqlFor rewrites every schema-qualified name and channel of the migrations, functions.sql and statements, and nothing else', () => {
  const texts = [...loadMigrations().map((m) => m.sql), loadFunctions().sql, ...statementTexts()];
  assert.ok(texts.length > 60, `all statements found (${texts.length})`);
  for (const text of texts) {
    assert.equal(sqlFor('jobq', text), text, 'the default schema: the text itself');
    const out = sqlFor('tenant_a', text);
    // What is left of "jobq" may only be in comments, or names inside the schema (`jobq_` + not a channel).
    const code = out.replace(/--[^\n]*/g, '');
    const left = [...code.matchAll(/\bjobq\w*\.?/g)].map((m) => m[0]).filter((w) => w === 'jobq.' || /^jobq_(jobs|cancel|queues|schedules|listeners|events)$/.test(w) || w === 'jobq');
    assert.deepEqual(left, [], `nothing of schema jobq is left in ${out.slice(0, 200)}`);
  }
  assert.equal(sqlFor('tenant_a', `SELECT pg_notify('jobq_jobs', q), 'jobq.claims'::regclass, jobq_jobs_x FROM jobq.jobs`), `SELECT pg_notify('tenant_a_jobs', q), '"tenant_a".claims'::regclass, jobq_jobs_x FROM "tenant_a".jobs`);
  assert.deepEqual(channels('order'), { jobs: 'order_jobs', cancel: 'order_cancel', queues: 'order_queues', schedules: 'order_schedules', listeners: 'order_listeners', events: 'order_events' });
  assert.equal(channels().jobs, 'jobq_jobs');
});

test('bad schema names are refused with a clear message: by the setting, the Queue and migrate', async () => {
  for (const bad of ['', 'Tenant', '1abc', 'a-b', 'a.b', 'x'.repeat(41), 'pg_catalog', 'a"b']) {
    assert.throws(() => checkSchemaName(bad), (e) => isJobqError(e, 'validation_failed') && /schema name must/.test(e.message), bad);
    assert.throws(() => resolveConfig({}, { JOBQ_SCHEMA: bad === '' ? 'A' : bad }), /JOBQ_SCHEMA: must /, bad);
  }
  assert.equal(resolveConfig({}, { JOBQ_SCHEMA: 'tenant_b' }).schema, 'tenant_b');
  assert.equal(resolveConfig({}, {}).schema, 'jobq');
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  try {
    assert.throws(() => new Queue({ pool, schema: 'Bad Name', kinds: testKinds() }), (e) => isJobqError(e, 'validation_failed') && /lowercase letters/.test(e.message));
    await assert.rejects(migrate(pool, undefined, { schema: 'x;DROP' }), (e) => isJobqError(e, 'validation_failed'));
    // A pool is one installation's: another schema on it is refused.
    assert.throws(() => new Queue({ pool: pools.tenant_a, schema: 'order', kinds: testKinds() }), (e) => isJobqError(e, 'validation_failed') && /already used for jobq schema "tenant_a"/.test(e.message));
  } finally {
    await pool.end();
  }
});

test('each schema has its own migrations record, at the latest version, and migrating again applies nothing', async () => {
  for (const schema of SCHEMAS) {
    assert.equal(await appliedVersion(pools[schema]), LATEST_VERSION, schema);
    assert.equal(await schemaVersion(db.pool, schema), LATEST_VERSION, schema);
    assert.deepEqual((await migrate(pools[schema])).applied, [], `${schema}: the pool's schema, already migrated`);
  }
  const { rows } = await db.pool.query<{ n: string }>(`SELECT n.nspname AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'migrations' ORDER BY 1`);
  assert.deepEqual(rows.map((r) => r.n), ['jobq', 'order', 'tenant_a']);
  // The checksums recorded are the files' as written, in every schema.
  const sums = async (schema: string) => (await db.pool.query(`SELECT version, checksum FROM "${schema}".migrations ORDER BY version`)).rows;
  assert.deepEqual(await sums('tenant_a'), await sums('jobq'));
  assert.equal(await schemaVersion(db.pool, 'nobody_here'), 0);
});

test("a job of one schema is invisible to the others: get, list, stats, claim, cancel, retry, idempotency keys", async () => {
  const a = await queues.tenant_a.enqueue({ kind: 'noop', payload: {}, queue: 'iso', idempotencyKey: 'same-key' });
  for (const other of ['jobq', 'order'] as const) {
    const q = queues[other];
    assert.equal(await q.get(a.job.id), null, other);
    assert.deepEqual((await q.list({ queue: 'iso' })).jobs, [], other);
    assert.equal((await q.stats()).byQueue.iso, undefined, other);
    assert.deepEqual(await q.claim(`w-${other}`, { queues: ['iso'] }), [], other);
    await assert.rejects(q.requestCancel(a.job.id), (e) => isJobqError(e, 'not_found'), other);
    await assert.rejects(q.retry(a.job.id), (e) => isJobqError(e, 'not_found'), other);
    // The same key makes a new job there.
    const b = await q.enqueue({ kind: 'noop', payload: {}, queue: 'iso', idempotencyKey: 'same-key' });
    assert.equal(b.isNew, true, other);
    assert.notEqual(b.job.id, a.job.id);
  }
  assert.equal((await queues.tenant_a.stats()).byQueue.iso?.queued, 1);
  const [claimed] = await queues.tenant_a.claim('w-a', { queues: ['iso'] });
  assert.equal(claimed?.id, a.job.id);
  assert.equal((await queues.tenant_a.requestCancel(a.job.id)).outcome, 'cancel_requested');
  assert.equal((await queues.order.list({ queue: 'iso' })).jobs.length, 1, "order's own job only");
});

test("NOTIFY goes on the schema's own channels: each enqueue is heard on its channel only", async () => {
  const listener = new pg.Client({ connectionString: directUrl(db.url) });
  listener.on('error', () => {});
  await listener.connect();
  const heard: [string, string][] = [];
  listener.on('notification', (n) => heard.push([n.channel, n.payload ?? '']));
  try {
    for (const schema of SCHEMAS) {
      const c = channels(schema);
      for (const ch of [c.jobs, c.cancel]) await listener.query(`LISTEN ${pg.escapeIdentifier(ch)}`);
    }
    // One listening session gets notifications in commit order: each enqueue commits before the next starts.
    for (const schema of SCHEMAS) await queues[schema].enqueue({ kind: 'noop', payload: {}, queue: `n_${schema}` });
    const waiting = await queues.order.enqueue({ kind: 'noop', payload: {}, queue: 'n_cancel' });
    await queues.order.requestCancel(waiting.job.id); // a waiting job: cancelled at once, nothing to notify
    const [running] = await (async () => {
      const r = await queues.order.enqueue({ kind: 'noop', payload: {}, queue: 'n_cancel2' });
      await queues.order.claim('w-n', { queues: ['n_cancel2'] });
      return [r.job];
    })();
    await queues.order.requestCancel(running!.id);
    await eventually(() => (heard.length >= 6 ? true : undefined), 10_000, 'six notifications');
    assert.deepEqual(heard, [
      ['jobq_jobs', 'n_jobq'],
      ['tenant_a_jobs', 'n_tenant_a'],
      ['order_jobs', 'n_order'],
      ['order_jobs', 'n_cancel'],
      ['order_jobs', 'n_cancel2'],
      ['order_cancel', running!.id],
    ]);
  } finally {
    await listener.end();
  }
});

test("a worker on one schema runs only its schema's jobs, woken by its own notifications", { timeout: 60_000 }, async () => {
  const workers: Worker[] = [];
  const start = async (schema: Schema) => {
    const w = new Worker({
      queue: queues[schema], databaseUrl: db.url, listenUrl: db.listenUrl, logger: silent, workerId: `worker-${schema}`,
      concurrency: 5, queues: ['work'], leaseMs: 30_000, heartbeatMs: 5_000, pollIntervalMs: 60_000, shutdownGraceMs: 5_000, timeoutGraceMs: 1_000,
    });
    workers.push(w);
    await w.start();
  };
  try {
    await start('order');
    const jobs = {} as Record<Schema, string[]>;
    for (const schema of SCHEMAS) {
      jobs[schema] = (await queues[schema].enqueueMany([1, 2, 3].map((n) => ({ kind: 'probe', payload: { n }, queue: 'work' })))).map((r) => r.job.id);
    }
    // A long poll interval: a prompt run is the notification on order's channel.
    for (const id of jobs.order) await eventually(async () => ((await queues.order.get(id))?.status === 'succeeded' ? true : undefined), 15_000, `order's job ${id}`);
    for (const schema of ['jobq', 'tenant_a'] as const) {
      for (const id of jobs[schema]) assert.equal((await queues[schema].get(id))?.status, 'queued', `${schema}'s job untouched by order's worker`);
    }
    await start('tenant_a');
    for (const id of jobs.tenant_a) await eventually(async () => ((await queues.tenant_a.get(id))?.status === 'succeeded' ? true : undefined), 15_000, `tenant_a's job ${id}`);
    for (const id of jobs.jobq) assert.equal((await queues.jobq.get(id))?.status, 'queued');
    for (const schema of ['order', 'tenant_a'] as const) for (const id of jobs[schema]) assert.equal(ranBy.get(id), schema);
    assert.equal(jobs.jobq.some((id) => ranBy.has(id)), false);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
});

test("events of one schema reach only that schema's hubs", { timeout: 30_000 }, async () => {
  const seen = { tenant_a: [] as HubEvent[], order: [] as HubEvent[] };
  const hubs = (['tenant_a', 'order'] as const).map((schema) => {
    const hub = new EventHub({ url: directUrl(db.url), db: pools[schema], logger: silent, onRegistered: () => queues[schema].publisher.onListenersChanged() });
    return { schema, hub, sub: hub.subscribe({ queue: ['ev'] }, { event: (e) => seen[schema].push(e), reset: () => {} }) };
  });
  try {
    await Promise.all(hubs.map((h) => h.sub.ready));
    const a = await queues.tenant_a.enqueue({ kind: 'noop', payload: {}, queue: 'ev' });
    await eventually(() => (seen.tenant_a.some((e) => e.data.id === a.job.id) ? true : undefined), 10_000, "tenant_a's event");
    // Committed after tenant_a's notification: had order's hub listened on tenant_a's channel, that event would come first.
    const b = await queues.order.enqueue({ kind: 'noop', payload: {}, queue: 'ev' });
    await eventually(() => (seen.order.some((e) => e.data.id === b.job.id) ? true : undefined), 10_000, "order's event");
    assert.deepEqual(seen.order.map((e) => e.data.id), [b.job.id]);
    assert.deepEqual(seen.tenant_a.map((e) => e.data.id), [a.job.id]);
    const listeners = async (schema: string) => (await db.pool.query(`SELECT id FROM "${schema}".event_listeners`)).rows.map((r) => r.id as string);
    assert.deepEqual(await listeners('tenant_a'), [hubs[0]!.hub.processId]);
    assert.deepEqual(await listeners('order'), [hubs[1]!.hub.processId]);
    assert.deepEqual(await listeners('jobq'), []);
  } finally {
    for (const h of hubs) h.sub.close();
    await Promise.all(hubs.map((h) => h.hub.close()));
  }
});

test('the sweep turn is per schema: one held in tenant_a does not stop order from sweeping', async () => {
  const [turn] = await housekeeping.sweepTake(pools.tenant_a, { holder: 'someone', leaseMs: 60_000 });
  assert.equal(turn?.taken, true);
  try {
    assert.equal(await queues.tenant_a.sweep(30_000), null, "tenant_a's turn is taken");
    assert.deepEqual(await queues.order.sweep(30_000), { recovered: 0, pruned: 0 });
    assert.deepEqual(await queues.jobq.sweep(30_000), { recovered: 0, pruned: 0 });
  } finally {
    await housekeeping.sweepGive(pools.tenant_a, { holder: 'someone' });
  }
});

test('schedules are per schema: the same name in two schemas, each seen and fired in its own', async () => {
  const def = (queue: string) => ({ name: 'nightly', every: '1h', job: { kind: 'noop', payload: {}, queue } });
  assert.equal((await queues.tenant_a.schedules.set(def('sched_a'))).created, true);
  assert.equal(await queues.order.schedules.get('nightly'), null);
  assert.equal((await queues.order.schedules.set(def('sched_b'))).created, true);
  assert.equal((await queues.order.schedules.get('nightly'))?.job.queue, 'sched_b');
  assert.equal((await queues.tenant_a.schedules.get('nightly'))?.job.queue, 'sched_a');
  assert.deepEqual(await queues.jobq.schedules.count(), { total: 0, enabled: 0 });
  const fired = await queues.order.schedules.trigger('nightly');
  assert.equal((await queues.order.get(fired.job.id))?.queue, 'sched_b');
  assert.equal(await queues.tenant_a.get(fired.job.id), null);
  assert.equal(await queues.tenant_a.schedules.delete('nightly'), true);
  assert.equal((await queues.order.schedules.get('nightly'))?.name, 'nightly', "deleting tenant_a's leaves order's");
});

test("a caller's client given as opts.db runs in the schema of the queue it is given to", async () => {
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const a = await queues.tenant_a.enqueue({ kind: 'noop', payload: {}, queue: 'tx' }, { db: client });
    const b = await queues.order.enqueue({ kind: 'noop', payload: {}, queue: 'tx' }, { db: client });
    assert.equal((await queues.tenant_a.get(a.job.id, { db: client }))?.id, a.job.id);
    assert.equal(await queues.tenant_a.get(b.job.id, { db: client }), null);
    await client.query('COMMIT');
    assert.equal((await queues.order.get(b.job.id))?.queue, 'tx');
    assert.equal(await queues.order.get(a.job.id), null);
  } finally {
    client.release();
  }
});

test('the log store works in every schema: claims that find a queue empty keep their idle hint per installation', async () => {
  for (const schema of ['tenant_a', 'order'] as const) {
    const q = new Queue({ pool: pools[schema], schema, logStore: true, kinds: testKinds() });
    const a = await q.enqueue({ kind: 'noop', payload: {}, queue: 'lg' });
    const [got] = await q.claim(`w-${schema}`, { queues: ['lg'] });
    assert.equal(got?.id, a.job.id, schema);
    assert.equal((await q.get(a.job.id))?.status, 'running', `${schema}: a log job`);
    // Found empty: the claim records the queue in the session's idle hint (a setting named for the schema).
    assert.deepEqual(await q.claim(`w-${schema}`, { queues: ['lg'] }), [], schema);
    const b = await q.enqueue({ kind: 'noop', payload: {}, queue: 'lg' });
    assert.deepEqual((await q.claim(`w-${schema}`, { queues: ['lg'] })).map((j) => j.id), [b.job.id], `${schema}: an idle queue is still claimed`);
  }
});
