/**
 * Storage candidate `ring` (bench/storage/ring/): the real Worker runs jobs through its Queue (claims
 * that delete from the generational ready table and write one lease row per batch, completions
 * appended to the partitioned history); its failures, cancels, retries, listing, retention, recovery
 * and pgbench scripts behave as jobq's would; and the rotation truncates drained slots (dead tuples
 * a held xmin keeps included), keeps those with runnable jobs, moves delayed jobs, and gives up on a
 * slot it cannot lock within its lock_timeout.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Type } from '@sinclair/typebox';
import { candidate, type RingQueue } from '../../bench/storage/ring/index.ts';
import { Worker } from '../../src/worker/worker.ts';
import { directDatabase } from '../helpers/db.ts';
import { eventually, silent, testKinds, type TestDatabase } from '../helpers/fixtures.ts';
import { withoutPgbench } from '../helpers/pgbench.ts';

const run = promisify(execFile);

interface Ring {
  db: TestDatabase;
  queue: RingQueue;
  worker(queues?: string[]): Promise<Worker>;
  stop(): Promise<void>;
}

/** A fresh database with the design applied, its Queue (kind `probe` runs `handler`), and real Workers on it. */
async function ring(handler: (payload: { n: number }, ctx: { signal: AbortSignal; job: { id: string; attempt: number } }) => Promise<unknown> | unknown): Promise<Ring> {
  const db = await directDatabase();
  await db.pool.query(readFileSync(candidate.setupSql, 'utf8'));
  const kinds = testKinds().register({
    name: 'probe', payloadSchema: Type.Object({ n: Type.Integer() }), timeoutMs: 60_000, handler: (p, ctx) => handler(p, ctx),
  });
  const queue = candidate.createQueue({ pool: db.pool, kinds, backoff: { baseMs: 50, capMs: 100 } }) as RingQueue;
  const workers: Worker[] = [];
  return {
    db,
    queue,
    async worker(queues = ['default']) {
      const w = new Worker({
        queue, databaseUrl: db.url, listenUrl: db.listenUrl, logger: silent, workerId: `w${workers.length + 1}`, concurrency: 10, queues,
        leaseMs: 30_000, heartbeatMs: 200, pollIntervalMs: 100, shutdownGraceMs: 5_000, timeoutGraceMs: 1_000,
      });
      workers.push(w);
      await w.start();
      return w;
    },
    async stop() {
      await Promise.all(workers.map((w) => w.stop()));
    },
  };
}

const count = async (db: TestDatabase, sql: string) => Number((await db.pool.query(sql)).rows[0].n);

test('500 jobs run through the real Worker exactly once, end succeeded in the history, and get returns them', async () => {
  const runs = new Map<string, number>();
  const l = await ring((p, ctx) => {
    runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1);
    return { n: p.n };
  });
  try {
    const jobs = await l.queue.enqueueMany(Array.from({ length: 500 }, (_, n) => ({ kind: 'probe', payload: { n } })));
    await l.worker();
    await eventually(async () => ((await count(l.db, `SELECT count(*) AS n FROM jobq.jobs_done WHERE status = 'succeeded'`)) === 500 ? true : undefined), 30_000, '500 succeeded');
    assert.equal(runs.size, 500);
    assert.ok([...runs.values()].every((n) => n === 1), 'each job ran once');
    assert.equal(await count(l.db, 'SELECT count(*) AS n FROM jobq.ready'), 0, 'the ready table is empty');
    assert.equal(await count(l.db, 'SELECT count(*) AS n FROM jobq.jobs'), 0, 'nothing left in the transient stage');
    await eventually(async () => ((await count(l.db, 'SELECT count(*) AS n FROM jobq.leases')) === 0 ? true : undefined), 5_000, 'no lease left');
    for (const { job } of jobs) {
      const got = await l.queue.get(job.id);
      assert.equal(got?.status, 'succeeded');
      assert.deepEqual(got?.result, { n: (job.payload as { n: number }).n });
      assert.equal(got?.attempts, 1);
    }
  } finally {
    await l.stop();
  }
});

test('a job that throws retries, then fails; retry of the failed job runs it again; cancel of a queued and of a running job', async () => {
  let failing = true;
  const l = await ring(async (p, ctx) => {
    if (p.n === 1 && failing) throw new Error(`boom ${ctx.job.attempt}`);
    if (p.n === 2) await new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
    return 'ok';
  });
  try {
    await l.worker();
    const { job: bad } = await l.queue.enqueue({ kind: 'probe', payload: { n: 1 }, maxAttempts: 3 });
    const failed = await eventually(async () => {
      const j = await l.queue.get(bad.id);
      return j?.status === 'failed_permanent' ? j : undefined;
    }, 10_000, 'failed after its attempts');
    assert.equal(failed.attempts, 3);
    assert.deepEqual(failed.errors.map((e) => e.error.split('\n')[0]), ['Error: boom 1', 'Error: boom 2', 'Error: boom 3']);
    assert.equal(await count(l.db, `SELECT count(*) AS n FROM jobq.jobs_done WHERE status = 'failed_permanent'`), 1);

    failing = false;
    const retried = await l.queue.retry(bad.id);
    assert.equal(retried.status, 'queued');
    assert.equal(retried.attempts, 0);
    await eventually(async () => ((await l.queue.get(bad.id))?.status === 'succeeded' ? true : undefined), 10_000, 'retried job succeeded');
    await assert.rejects(l.queue.retry(bad.id), /invalid_transition|cannot retry/);

    const { job: later } = await l.queue.enqueue({ kind: 'probe', payload: { n: 3 }, delayMs: 3_600_000 });
    const c1 = await l.queue.requestCancel(later.id);
    assert.equal(c1.outcome, 'cancelled');
    assert.equal((await l.queue.get(later.id))?.status, 'cancelled');
    assert.equal((await l.queue.requestCancel(later.id)).outcome, 'already_terminal');

    const { job: long } = await l.queue.enqueue({ kind: 'probe', payload: { n: 2 } });
    await eventually(async () => ((await l.queue.get(long.id))?.status === 'running' ? true : undefined), 10_000, 'running');
    const c2 = await l.queue.requestCancel(long.id);
    assert.equal(c2.outcome, 'cancel_requested');
    assert.equal((await l.queue.get(long.id))?.cancelRequested, true);
    const done = await eventually(async () => {
      const j = await l.queue.get(long.id);
      return j?.status === 'cancelled' ? j : undefined;
    }, 10_000, 'the worker stopped the cancelled job');
    assert.ok(done.finishedAt);
  } finally {
    await l.stop();
  }
});

test('list: newest first across ready table, leases and history, with a stable cursor while jobs move', async () => {
  const l = await ring(() => 'ok');
  try {
    await l.queue.enqueueMany(Array.from({ length: 20 }, (_, n) => ({ kind: 'probe', payload: { n } })));
    await l.queue.claim('someone', { limit: 8, kinds: ['probe'] }); // 8 running, in a lease
    const claimed = await l.queue.claim('someone', { limit: 4, kinds: ['probe'] });
    await l.queue.complete('someone', claimed.map((j) => ({ id: j.id, claimSeq: j.claimSeq }))); // 4 in the history
    await l.queue.enqueueMany(Array.from({ length: 5 }, (_, n) => ({ kind: 'probe', payload: { n }, delayMs: 60_000 })));
    const all = (await l.db.pool.query<{ id: string }>(
      `SELECT id FROM jobq.ready UNION ALL SELECT unnest(ids) FROM jobq.leases UNION ALL SELECT id FROM jobq.jobs_done ORDER BY id DESC`,
    )).rows.map((r) => r.id);
    assert.equal(all.length, 25);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await l.queue.list({ limit: 6, cursor });
      seen.push(...page.jobs.map((j) => j.id));
      cursor = page.nextCursor ?? undefined;
      // Between pages the jobs move: the running ones finish, queued ones are claimed.
      if (pages++ === 0) {
        const more = await l.queue.claim('someone', { limit: 3, kinds: ['probe'] });
        await l.queue.complete('someone', more.map((j) => ({ id: j.id, claimSeq: j.claimSeq })));
      }
    } while (cursor);
    assert.deepEqual(seen, all, 'every job once, newest first, though jobs moved between tables mid-walk');
    const statuses = new Set((await l.queue.list({ limit: 500 })).jobs.map((j) => j.status));
    assert.deepEqual([...statuses].sort(), ['queued', 'running', 'succeeded']);
    await assert.rejects(l.queue.list({ status: 'queued' }), /ring prototype: list filters/);
  } finally {
    await l.stop();
  }
});

test('retention drops only the days of history that ended before the cut', async () => {
  const l = await ring(() => 'ok');
  const c = await l.db.pool.connect();
  try {
    await candidate.addFinished(c, 30, 72);
    await candidate.addFinished(c, 20, 0.01);
    assert.equal(await candidate.retention(c, new Date(Date.now() - 48 * 3_600_000)), 30);
    assert.equal(await candidate.succeeded(c), 20);
    assert.equal(await candidate.retention(c, new Date(Date.now() - 48 * 3_600_000)), 0);
  } finally {
    c.release();
    await l.stop();
  }
});

test("recovery: a lapsed lease gives its jobs back (started ones retrying with the error, buffered ones queued, attempt given back)", async () => {
  const l = await ring(() => 'ok');
  try {
    await l.queue.enqueueMany(Array.from({ length: 5 }, (_, n) => ({ kind: 'probe', payload: { n }, queue: 'q2' })));
    const jobs = await l.queue.claim('dead', { limit: 5, started: 2, kinds: ['probe'] });
    assert.equal(jobs.length, 5);
    assert.equal(await l.queue.recoverStale(30_000), 0, 'a fresh lease is left alone');
    await l.db.pool.query(`UPDATE jobq.leases SET locked_at = now() - interval '1 hour'`);
    assert.equal(await l.queue.recoverStale(30_000), 5);
    assert.equal(await count(l.db, 'SELECT count(*) AS n FROM jobq.leases'), 0);
    const after = await Promise.all(jobs.map((j) => l.queue.get(j.id)));
    assert.deepEqual(after.map((j) => j?.status), ['retrying', 'retrying', 'queued', 'queued', 'queued']);
    assert.deepEqual(after.map((j) => j?.attempts), [1, 1, 0, 0, 0]);
    assert.match(after[0]!.lastError ?? '', /worker dead lost the job/);
    const hb = await l.queue.renew('dead', jobs);
    assert.deepEqual(hb.lost, jobs.map((j) => j.claimSeq), 'the lost worker learns it lost them');
    await l.worker(['q2']);
    await eventually(async () => ((await count(l.db, `SELECT count(*) AS n FROM jobq.jobs_done WHERE status = 'succeeded'`)) === 5 ? true : undefined), 10_000, 'recovered jobs ran');
  } finally {
    await l.stop();
  }
});

/** The ring slot's partition sizes (pg_relation_size of jobq.ready_0..3, bytes). */
const slotSizes = async (db: TestDatabase) =>
  (await db.pool.query<{ n: string }>(`SELECT pg_relation_size(format('jobq.ready_%s', g)::regclass) AS n FROM generate_series(0, 3) g ORDER BY g`)).rows.map((r) => Number(r.n));

/** A time in ring slot `slot` (5-second slots, reused every 20 s), `turns` rotations of the ring after a start later than any real claim's turn. */
const inSlot = (slot: number, turns = 0) => new Date(Date.UTC(2100, 0, 1) + (turns * 4 + slot) * 5_000 + 1_000);

test('rotation: a drained slot is truncated (its dead tuples too, under a held xmin), a slot with runnable jobs is kept, delayed jobs move to the current slot', async () => {
  const l = await ring(() => 'ok');
  const holder = await l.db.pool.connect();
  try {
    const rotate = async (at: Date) => Number((await l.db.pool.query(`SELECT jobq.ring_rotate($1) AS n`, [at])).rows[0].n);
    // Slot 1: 300 jobs, claimed and deleted while a REPEATABLE READ transaction holds the xmin; one delayed job.
    await l.db.pool.query(`INSERT INTO jobq.ready (id, kind, payload, max_attempts, gen) SELECT jobq.uuid7(now()), 'probe', '{"n": 1}', 5, 1 FROM generate_series(1, 300)`);
    const delayed = (await l.db.pool.query(`INSERT INTO jobq.ready (id, kind, payload, max_attempts, run_at, gen) VALUES (jobq.uuid7(now()), 'probe', '{"n": 2}', 5, '2200-01-01', 1) RETURNING id`)).rows[0].id;
    // Slot 2: a runnable job (a backlog drains where it is).
    await l.db.pool.query(`INSERT INTO jobq.ready (id, kind, payload, max_attempts, run_at, gen) VALUES (jobq.uuid7(now()), 'probe', '{"n": 3}', 5, '2000-01-01', 2)`);
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await holder.query('SELECT txid_current()');
    const claimed = await l.queue.claim('w', { limit: 500, kinds: ['probe'] });
    assert.equal(claimed.length, 301, 'the runnable jobs of every slot are claimed (the delayed one is not)');
    await l.queue.complete('w', claimed.map((c) => ({ id: c.id, claimSeq: c.claimSeq })));
    await l.db.pool.query(`INSERT INTO jobq.ready (id, kind, payload, max_attempts, run_at, gen) VALUES (jobq.uuid7(now()), 'probe', '{"n": 4}', 5, '2000-01-01', 2)`);
    await l.db.pool.query('VACUUM jobq.ready_1');
    assert.ok((await slotSizes(l.db))[1]! >= 8192 * 3, 'the held xmin keeps the dead tuples of slot 1');

    assert.equal(await rotate(inSlot(0, 1)), 2, 'slots 1 and 3 truncated, slot 2 (a runnable job) kept');
    assert.equal(await rotate(inSlot(0, 1)), 0, 'one turn per 5-second slot');
    const sizes = await slotSizes(l.db);
    assert.equal(sizes[1], 0, 'slot 1 thrown away whole, its dead tuples with it, whatever the xmin');
    assert.ok(sizes[2]! > 0);
    const gens = (await l.db.pool.query(`SELECT gen, id FROM jobq.ready ORDER BY gen`)).rows;
    assert.deepEqual(gens.find((r) => r.id === delayed)?.gen, 0, 'the delayed job moved to the current slot');
    assert.equal(gens.length, 2);
  } finally {
    await holder.query('ROLLBACK');
    holder.release();
    await l.stop();
  }
});

test('rotation: a slot another transaction holds is left for a later turn after the 50 ms lock_timeout; none in a REPEATABLE READ transaction', async () => {
  const l = await ring(() => 'ok');
  const other = await l.db.pool.connect();
  try {
    await l.db.pool.query(`INSERT INTO jobq.ready (id, kind, payload, max_attempts, gen) SELECT jobq.uuid7(now()), 'probe', '{"n": 1}', 5, 0 FROM generate_series(1, 10)`);
    await l.db.pool.query(`DELETE FROM jobq.ready WHERE gen = 0`);
    await other.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    assert.equal(Number((await other.query(`SELECT jobq.ring_rotate($1) AS n`, [inSlot(1, 1)])).rows[0].n), 0, 'its snapshot could miss new jobs');
    await other.query('SELECT count(*) FROM jobq.ready_0');
    const t0 = performance.now();
    const { rows } = await l.db.pool.query(`SELECT jobq.ring_rotate($1) AS n, current_setting('lock_timeout') AS lt`, [inSlot(1, 2)]);
    const ms = performance.now() - t0;
    assert.equal(Number(rows[0].n), 2, 'slots 2 and 3 truncated; slot 0 skipped');
    assert.equal(rows[0].lt, '0', 'lock_timeout given back');
    assert.ok(ms < 1_000, `gave up on slot 0 quickly (${ms.toFixed(0)} ms)`);
    assert.ok((await slotSizes(l.db))[0]! > 0, 'slot 0 left as it was');
    await other.query('COMMIT');
    assert.equal(Number((await l.db.pool.query(`SELECT jobq.ring_rotate($1) AS n`, [inSlot(1, 3)])).rows[0].n), 3, 'the next turn takes it');
    assert.equal((await slotSizes(l.db))[0], 0);
  } finally {
    other.release();
    await l.stop();
  }
});

test('what the design does not carry throws', async () => {
  const l = await ring(() => 'ok');
  await assert.rejects(async () => l.queue.enqueue({ kind: 'probe', payload: { n: 1 }, idempotencyKey: 'k' }), /ring prototype: idempotency keys not supported/);
  await assert.rejects(async () => l.queue.stats(), /ring prototype: stats/);
});

test('each pgbench script runs against a seeded database', { skip: withoutPgbench() }, async () => {
  const l = await ring(() => 'ok');
  const c = await l.db.pool.connect();
  try {
    await candidate.seed(c, 2_000);
    await candidate.addFinished(c, 200, 1);
    await candidate.addFailed(c, 200);
    await c.query('CREATE TABLE jobq.bench_ids (i int PRIMARY KEY, id uuid NOT NULL)');
    await c.query('VACUUM ANALYZE');
    const scripts = Object.entries(candidate.pgbench);
    const sample = { claimFinish: 'finished', enqueue: 'finished', get: 'finished', list: 'finished', cancel: 'queued', retry: 'failed' } as const;
    for (const [name, file] of scripts) {
      await c.query('TRUNCATE jobq.bench_ids');
      const { rowCount } = await c.query(`INSERT INTO jobq.bench_ids SELECT row_number() OVER (), id FROM (${candidate.sampleIdsSql(sample[name as keyof typeof sample])} LIMIT 100) s`);
      const { stdout } = await run('/usr/bin/pgbench', [
        '-n', '-M', 'prepared', '-t', '5', '-c', '2', '-D', 'batch=50', '-D', `nids=${rowCount}`, '-f', file, l.db.url,
      ]);
      assert.match(stdout, /number of failed transactions: 0/, `${name}: ${stdout}`);
    }
    assert.equal(await candidate.remaining(c) + await candidate.succeeded(c) > 0, true);
  } finally {
    c.release();
    await l.stop();
  }
});
