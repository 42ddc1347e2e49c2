/**
 * Issue #21: jobq behind a real PgBouncer in transaction mode, whichever pass runs it (each test starts
 * its own PgBouncer in front of the run's server). jobq tells a pooler apart by the process id it was
 * handed at connect, sends its statements unnamed there, and its LISTEN connection refuses to listen
 * through one: a worker then polls, and says so.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import pino from 'pino';
import { openDatabase } from '../../src/db/index.ts';
import { Listener } from '../../src/db/listener.ts';
import { DIRECT, sendMode, urlMode } from '../../src/queue/pooling.ts';
import { Queue } from '../../src/queue/queue.ts';
import { Worker } from '../../src/worker/worker.ts';
import { directUrl, eventually, freshDatabase, silent, testKinds, waitForStatus } from '../helpers/fixtures.ts';
import { type PgBouncer, pgbouncerAvailable, startPgBouncer } from '../helpers/pgbouncer.ts';

const missing = pgbouncerAvailable();
if (!missing.ok && process.env.CI) throw new Error(`the PgBouncer tests need it in CI: ${missing.why}`);
const skip = missing.ok ? false : missing.why;

let bouncer: PgBouncer;
before(async () => {
  if (!skip) bouncer = await startPgBouncer({ serverUrl: process.env.JOBQ_TEST_ADMIN_URL! });
});
after(() => bouncer?.stop());

/** A fresh database, reached straight (`direct`) and through this file's PgBouncer (`pooled`). */
async function database(): Promise<{ direct: string; pooled: string; pool: pg.Pool; ours: pg.Pool }> {
  const db = await freshDatabase();
  const direct = directUrl(db.url);
  const pooled = bouncer.pooled(direct);
  const ours = new pg.Pool({ connectionString: pooled, max: 4 }).on('error', () => {});
  after(() => ours.end().catch(() => {}));
  return { direct, pooled, pool: db.pool, ours };
}

test('a pool through PgBouncer is told apart from a direct one, and its statements go unnamed', { skip }, async () => {
  const { direct, pooled, ours } = await database();
  const straight = new pg.Pool({ connectionString: direct, max: 2 }).on('error', () => {});
  after(() => straight.end().catch(() => {}));
  assert.deepEqual(await sendMode(straight), DIRECT);
  // PgBouncer 1.18 keeps no prepared statements: a name prepared on one server session would be
  // executed on another. (1.21+ with max_prepared_statements renames them, and is detected as such.)
  assert.deepEqual(await sendMode(ours), { pooled: true, named: false });
  assert.equal((await urlMode(pooled, pg.Client)).pooled, true);
  assert.equal((await urlMode(direct, pg.Client)).pooled, false);

  const sent: unknown[] = [];
  const query = ours.query.bind(ours) as (...a: unknown[]) => unknown;
  (ours as unknown as { query: unknown }).query = (...a: unknown[]) => (sent.push(a[0]), query(...a));
  const queue = new Queue({ pool: ours, kinds: testKinds() });
  // More statements than PgBouncer has server sessions, from a client that stays connected: with names,
  // one of them would be sent by name to a session that never prepared it.
  for (let i = 0; i < 30; i++) await queue.enqueue({ kind: 'noop', payload: { sleep_ms: i } });
  assert.equal((await queue.list({ kind: 'noop', limit: 100 })).jobs.length, 30);
  const named = sent.filter((c) => typeof c === 'object' && (c as { name?: string }).name);
  assert.deepEqual(named, [], 'no statement was sent by name');
});

test('openDatabase through PgBouncer connects without the statement_timeout it refuses, and says why', { skip }, async () => {
  const { pooled } = await database();
  const said: string[] = [];
  const db = await openDatabase({ databaseUrl: pooled, dataDir: '/nonexistent', log: (m) => said.push(m) });
  try {
    assert.equal(db.pooled, true);
    assert.equal((await db.pool.query('SELECT 1 AS one')).rows[0].one, 1, 'the pool connects through it');
    assert.equal((await db.readPool.query('SELECT 1 AS one')).rows[0].one, 1, 'and so does the read pool');
    assert.ok(said.some((m) => /connection pooler/.test(m)), said.join('\n'));
  } finally {
    await db.close();
  }
  // What a pool that sent it would get (the reason openDatabase asks first).
  const refused = new pg.Client({ connectionString: pooled, statement_timeout: 1_000 });
  await assert.rejects(refused.connect(), /unsupported startup parameter: statement_timeout/);
});

test('a listener through PgBouncer does not LISTEN: it says the URL is pooled and stops', { skip }, async () => {
  const { pooled } = await database();
  let told = 0;
  let connected = 0;
  const listener = new Listener({ url: pooled, channels: ['jobq_jobs'], logger: silent, onNotify: () => {}, onConnect: () => connected++, onPooled: () => told++ });
  await listener.start();
  assert.equal(told, 1);
  assert.equal(connected, 0);
  assert.equal(listener.connected, false);
  await listener.close();
});

test('a worker through PgBouncer with no listen URL polls, says so, and runs the jobs; with one it listens', { skip }, async () => {
  const { direct, pooled, ours } = await database();
  const queue = new Queue({ pool: ours, kinds: testKinds() });
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const base = { queue, databaseUrl: pooled, logger, concurrency: 4, queues: [], leaseMs: 30_000, heartbeatMs: 5_000, shutdownGraceMs: 2_000, timeoutGraceMs: 500 };
  // A poll interval of an hour: only the poll-only mode's short one can find the jobs.
  const polling = new Worker({ ...base, workerId: 'polling', pollIntervalMs: 3_600_000 });
  await polling.start();
  try {
    const started = lines.find((l) => l.msg === 'worker started')!;
    assert.equal(started.listening, false);
    assert.equal(started.poll_interval_ms, 200);
    assert.ok(lines.some((l) => /connection pooler in transaction mode/.test(String(l.msg)) && l.level === 40), 'a warning says why');
    const { job } = await queue.enqueue({ kind: 'noop', payload: {} }); // long after the start's first look
    await waitForStatus(queue, job.id, 'succeeded', 10_000);
  } finally {
    await polling.stop();
  }

  lines.length = 0;
  const listening = new Worker({ ...base, workerId: 'listening', listenUrl: direct, pollIntervalMs: 3_600_000 });
  await listening.start();
  try {
    const started = lines.find((l) => l.msg === 'worker started')!;
    assert.equal(started.listening, true);
    assert.equal(started.poll_interval_ms, 3_600_000);
    const { job } = await queue.enqueue({ kind: 'noop', payload: {} }); // woken by NOTIFY, sent through PgBouncer
    await waitForStatus(queue, job.id, 'succeeded', 10_000);
  } finally {
    await listening.stop();
  }
  await eventually(async () => ((await queue.stats()).byStatus.succeeded === 2 ? true : undefined), 5_000, 'both jobs done');
});
