/**
 * The storage study's `log` candidate (bench/storage/log/): its Queue runs real Workers over the
 * append-only tables, derives each job's status, recovers, retries, cancels, lists and drops old
 * generations; and each of its pgbench scripts runs against a seeded database.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import pino from 'pino';
import { candidate } from '../../bench/storage/log/index.ts';
import type { LogQueue } from '../../bench/storage/log/queue.ts';
import { archiveGenerations, rotate } from '../../bench/storage/log/retention.ts';
import { Worker } from '../../src/worker/worker.ts';
import { directDatabase, type TestDatabase } from '../helpers/db.ts';
import { eventually } from '../helpers/poll.ts';
import { kindsWithProbe } from '../helpers/worker.ts';
import { withoutPgbench } from '../helpers/pgbench.ts';

const kinds = kindsWithProbe((p) => {
  if (p.n === -1) throw new Error('always fails');
});

async function logDatabase(): Promise<{ db: TestDatabase; queue: LogQueue }> {
  const db = await directDatabase();
  await db.pool.query(readFileSync(candidate.setupSql, 'utf8'));
  const queue = candidate.createQueue({ pool: db.pool, kinds, backoff: { baseMs: 20, capMs: 50 } }) as LogQueue;
  return { db, queue };
}

function startWorker(db: TestDatabase, queue: LogQueue, id: string): Promise<Worker> {
  const w = new Worker({
    queue, databaseUrl: db.url, listenUrl: db.listenUrl, logger: pino({ level: 'silent' }), workerId: id, concurrency: 10, queues: [],
    leaseMs: 30_000, heartbeatMs: 5_000, pollIntervalMs: 100, shutdownGraceMs: 5_000, timeoutGraceMs: 1_000,
  });
  after(() => w.stop());
  return w.start().then(() => w);
}

test('500 jobs run through the Worker exactly once, end succeeded and are read back', async () => {
  const { db, queue } = await logDatabase();
  const seen = new Map<string, number>();
  const w = await startWorker(db, queue, 'w1');
  w.events.on('job:finish', ({ job }) => seen.set(job.id, (seen.get(job.id) ?? 0) + 1));
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    ids.push(...(await queue.enqueueMany(Array.from({ length: 100 }, (_, n) => ({ kind: 'probe', payload: { n } })))).map((r) => r.job.id));
  }
  await eventually(async () => (seen.size === 500 ? true : undefined), 20_000, '500 jobs finished', 50);
  await w.stop();
  assert.ok([...seen.values()].every((n) => n === 1), 'each job ran once');
  for (const id of ids) {
    const job = await queue.get(id);
    assert.equal(job?.status, 'succeeded', id);
    assert.equal(job.attempts, 1);
  }
  const c = await db.pool.connect();
  try {
    assert.equal(await candidate.succeeded(c), 500);
    assert.equal(await candidate.remaining(c), 0);
  } finally {
    c.release();
  }
});

test('a job that throws retries after its backoff, then fails for good; retry queues it again', async () => {
  const { db, queue } = await logDatabase();
  const w = await startWorker(db, queue, 'w1');
  const { job } = await queue.enqueue({ kind: 'probe', payload: { n: -1 }, maxAttempts: 3 });
  const failed = await eventually(async () => {
    const j = await queue.get(job.id);
    return j?.status === 'failed_permanent' ? j : undefined;
  }, 10_000, 'the job failed for good', 50);
  assert.equal(failed.attempts, 3);
  assert.deepEqual(failed.errors.map((e) => e.attempt), [1, 2, 3]);
  assert.equal(failed.lastError, 'always fails');
  await w.stop();
  const again = await queue.retry(job.id);
  assert.equal(again.status, 'queued');
  assert.equal(again.attempts, 0);
  await assert.rejects(queue.retry(job.id), /invalid_transition|cannot retry/);
});

test('cancel of a queued job and of a delayed one: never claimed; a finished job is already terminal', async () => {
  const { queue } = await logDatabase();
  const { job: now } = await queue.enqueue({ kind: 'probe', payload: {} });
  const { job: later } = await queue.enqueue({ kind: 'probe', payload: {}, delayMs: 60_000 });
  assert.equal((await queue.requestCancel(now.id)).outcome, 'cancelled');
  const c2 = await queue.requestCancel(later.id);
  assert.equal(c2.outcome, 'cancelled');
  assert.equal(c2.job.status, 'cancelled');
  assert.deepEqual(await queue.claim('w', { limit: 10 }), []);
  const out = await queue.requestCancel(now.id);
  assert.equal(out.outcome, 'already_terminal');
  assert.equal((await queue.retry(later.id)).status, 'queued');
  assert.deepEqual((await queue.claim('w', { limit: 10 })).map((j) => j.id), [later.id]);
});

test('retries of one job at the same time append one entry: the others find it queued', async () => {
  const { db, queue } = await logDatabase();
  const { job } = await queue.enqueue({ kind: 'probe', payload: {} });
  assert.equal((await queue.requestCancel(job.id)).outcome, 'cancelled');
  const tries = await Promise.allSettled(Array.from({ length: 5 }, () => queue.retry(job.id)));
  assert.equal(tries.filter((t) => t.status === 'fulfilled').length, 1);
  for (const t of tries) if (t.status === 'rejected') assert.match(String(t.reason), /cannot retry/);
  const { rows: [n] } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM jobq.log_all WHERE id = $1', [job.id]);
  assert.equal(n!.n, 2, 'the first entry and one appended by the retry');
});

test('list: newest first across the log and the scheduled entries, with a stable cursor', async () => {
  const { queue } = await logDatabase();
  const ids: string[] = [];
  for (let i = 0; i < 7; i++) ids.push((await queue.enqueue({ kind: 'probe', payload: { n: i }, ...(i % 2 ? { delayMs: 60_000 } : {}) })).job.id);
  const claimed = new Set((await queue.claim('w', { limit: 2 })).map((j) => j.id));
  assert.equal(claimed.size, 2);
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await queue.list({ limit: 3, ...(cursor ? { cursor } : {}) });
    seen.push(...page.jobs.map((j) => j.id));
    cursor = page.nextCursor ?? undefined;
    if (cursor) await queue.enqueue({ kind: 'probe', payload: {} }); // newer jobs do not shift the pages
  } while (cursor);
  assert.deepEqual(seen, [...ids].reverse());
  const statuses = new Map((await queue.list({ limit: 10 })).jobs.map((j) => [j.id, j.status]));
  // A claim takes each lane's entries in order, not the queue's across lanes: which two ran depends on the lanes drawn.
  for (const id of ids) assert.equal(statuses.get(id), claimed.has(id) ? 'running' : 'queued');
  await assert.rejects(queue.list({ status: 'queued' }), /log prototype: listing by status not supported/);
});

test('an entry whose transaction was in progress at a lane\'s last window is still claimed once it commits', async () => {
  // The claim visits only lanes with work (jobq.log_lane_busy). An entry of an older xid than the
  // lane's newest batch, committed after that batch's window was taken, belongs to the next window:
  // only the check of the window's in-progress xids sees it.
  const { db, queue } = await logDatabase();
  const busy = async () => (await db.pool.query<{ b: boolean }>(`SELECT jobq.log_lane_busy('default', 0::smallint) AS b`)).rows[0]!.b;
  const slow = await db.pool.connect();
  try {
    await slow.query('BEGIN');
    await slow.query(`INSERT INTO jobq.log (id, queue, kind, payload, max_attempts, lane) VALUES (jobq.log_uuid7(), 'default', 'probe', '{"n":1}', 3, 0)`);
    await db.pool.query(`INSERT INTO jobq.log (id, queue, kind, payload, max_attempts, lane) VALUES (jobq.log_uuid7(), 'default', 'probe', '{"n":2}', 3, 0)`);
    const first = await queue.claim('w', { limit: 10 });
    assert.deepEqual(first.map((j) => j.payload), [{ n: 2 }]);
    assert.deepEqual(await queue.claim('w', { limit: 10 }), [], 'the in-progress entry is not claimable yet');
    await slow.query('COMMIT');
    assert.equal(await busy(), true, 'the committed entry is work');
  } finally {
    slow.release();
  }
  const second = await queue.claim('w', { limit: 10 });
  assert.deepEqual(second.map((j) => j.payload), [{ n: 1 }]);
  assert.deepEqual(await queue.claim('w', { limit: 10 }), []);
  // The newest window's batch ends below the entry of the window before it: that one is claimed, not work.
  assert.equal(await busy(), false, 'nothing left in the lane');
});

test('a claim commits without waiting for the flush only when it is its own transaction', async () => {
  const { db, queue } = await logDatabase();
  await queue.enqueueMany([1, 2].map((n) => ({ kind: 'probe', payload: { n } })));
  const c = await db.pool.connect();
  const setting = async () => (await c.query<{ s: string }>('SELECT current_setting($1) AS s', ['synchronous_commit'])).rows[0]!.s;
  try {
    await c.query('BEGIN');
    assert.equal((await queue.claim('w', { limit: 1, db: c })).length, 1);
    assert.equal(await setting(), 'on', "a claim inside the caller's transaction leaves its durability alone");
    await c.query('COMMIT');
    await c.query('BEGIN');
    await c.query(`SELECT * FROM jobq.log_claim_any(NULL, '{}', 'w', 1, true)`);
    assert.equal(await setting(), 'off', 'an own-transaction claim commits asynchronously');
    await c.query('COMMIT');
    assert.equal(await setting(), 'on', 'for that transaction only');
  } finally {
    c.release();
  }
});

test('recovery: a lapsed claim is put back (attempt counted), its late completion is refused', async () => {
  const { queue } = await logDatabase();
  const { job } = await queue.enqueue({ kind: 'probe', payload: {} });
  const [claimed] = await queue.claim('dead', { limit: 5 });
  assert.equal(claimed!.id, job.id);
  assert.equal((await queue.get(job.id))!.status, 'running');
  assert.equal(await queue.recoverStale(0), 1);
  const back = (await queue.get(job.id))!;
  assert.equal(back.status, 'queued');
  assert.equal(back.attempts, 1);
  assert.deepEqual(await queue.complete('dead', [{ id: job.id, claimSeq: claimed!.claimSeq }]), []);
  assert.deepEqual((await queue.renew('dead', [claimed!])).lost, [claimed!.claimSeq]);
  const [again] = await queue.claim('alive', { limit: 5 });
  assert.equal(again!.attempts, 2);
  assert.deepEqual(await queue.complete('alive', [{ id: job.id, claimSeq: again!.claimSeq }]), [again!.claimSeq]);
  assert.equal((await queue.get(job.id))!.status, 'succeeded');
  assert.equal(await queue.recoverStale(0), 0);
});

test('retention drops only the generations whose jobs all finished before the cutoff', async () => {
  const { db, queue } = await logDatabase();
  const c = await db.pool.connect();
  try {
    await candidate.addFinished(c, 10, 48);
    const [old] = (await c.query<{ id: string }>(`SELECT id FROM jobq.log_all ORDER BY pos LIMIT 1`)).rows;
    await candidate.addFinished(c, 10, 1);
    const { job } = await queue.enqueue({ kind: 'probe', payload: {} });
    assert.equal(await candidate.retention(c, new Date(Date.now() - 24 * 3_600_000)), 10);
    assert.equal(await queue.get(old!.id), null);
    assert.equal(await candidate.succeeded(c), 10);
    assert.equal((await queue.get(job.id))!.status, 'queued');
    assert.equal(await candidate.retention(c, new Date(Date.now() - 24 * 3_600_000)), 0);
  } finally {
    c.release();
  }
});

test('a generation is archived only once every entry in it finished: a queued entry, a claim still open keep it; a cancelled one does not', async () => {
  const { db, queue } = await logDatabase();
  const c = await db.pool.connect();
  try {
    // Generation A: three jobs claimed, two completed (the empty one before it is archived at once).
    const a = await rotate(c);
    assert.equal(await archiveGenerations(c), 1);
    const archivedGens = async () => (await c.query<{ gen: number }>('SELECT gen FROM jobq.log_gen WHERE archived AND gen >= $1 ORDER BY gen', [a])).rows.map((r) => r.gen);
    const ids = (await queue.enqueueMany([1, 2, 3].map((n) => ({ kind: 'probe', payload: { n } })))).map((r) => r.job.id);
    const claimed = await queue.claim('w', { limit: 10 });
    assert.deepEqual(claimed.map((j) => j.id).sort(), [...ids].sort());
    await queue.complete('w', claimed.slice(0, 2).map((j) => ({ id: j.id, claimSeq: j.claimSeq })));
    // Generation B: one job queued, one cancelled before any claim.
    const b = await rotate(c);
    const { job: waiting } = await queue.enqueue({ kind: 'probe', payload: { n: 4 } });
    const { job: cancelled } = await queue.enqueue({ kind: 'probe', payload: { n: 5 } });
    assert.equal((await queue.requestCancel(cancelled.id)).outcome, 'cancelled');
    await rotate(c);
    assert.equal(await archiveGenerations(c), 0, 'a claim of generation A is still open');
    assert.deepEqual(await archivedGens(), []);
    await queue.complete('w', claimed.slice(2).map((j) => ({ id: j.id, claimSeq: j.claimSeq })));
    assert.equal(await archiveGenerations(c), 1);
    assert.deepEqual(await archivedGens(), [a], 'B keeps a queued entry');
    const [last] = await queue.claim('w', { limit: 10 });
    assert.equal(last!.id, waiting.id, 'the cancelled entry is not claimed');
    assert.equal(await archiveGenerations(c), 0, 'its claim is open');
    await queue.complete('w', [{ id: last!.id, claimSeq: last!.claimSeq }]);
    assert.equal(await archiveGenerations(c), 1);
    assert.deepEqual(await archivedGens(), [a, b]);
    assert.equal((await queue.get(cancelled.id))!.status, 'cancelled');
  } finally {
    c.release();
  }
});

test('finished generations leave the hot parents (the hot path opens only the current one); reads still find their jobs, and a retry of one appends to the hot log', async () => {
  const { db, queue } = await logDatabase();
  const c = await db.pool.connect();
  try {
    const leaves = async (parent: string) =>
      (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_partition_tree($1::regclass) WHERE isleaf`, [parent])).rows[0]!.n;
    await candidate.addFinished(c, 20, 1);
    await candidate.addFailed(c, 5);
    const { job } = await queue.enqueue({ kind: 'probe', payload: {} });
    for (const t of ['jobq.log', 'jobq.log_batch', 'jobq.log_done', 'jobq.log_fail']) assert.equal(await leaves(t), 1, `${t}: the current generation only`);
    assert.ok((await leaves('jobq.log_old')) >= 2, 'the finished generations are archived');
    const { rows: [done] } = await c.query<{ id: string }>(`SELECT l.id FROM jobq.log_old l JOIN (SELECT unnest(pos) AS pos FROM jobq.log_done_old) d USING (pos) LIMIT 1`);
    assert.equal((await queue.get(done!.id))!.status, 'succeeded');
    const { rows: [failed] } = await c.query<{ id: string }>(`SELECT id FROM jobq.log_fail_old WHERE status = 'failed_permanent' LIMIT 1`);
    assert.equal((await queue.get(failed!.id))!.status, 'failed_permanent');
    assert.equal((await queue.retry(failed!.id)).status, 'queued');
    const claimed = await queue.claim('w', { limit: 10 });
    assert.deepEqual(claimed.map((j) => j.id).sort(), [failed!.id, job.id].sort());
    const listed = [];
    for (let cursor: string | undefined, page; (page = await queue.list({ limit: 10, ...(cursor ? { cursor } : {}) })); ) {
      listed.push(...page.jobs);
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    assert.equal(listed.length, 20 + 5 + 1, 'the listing spans the hot and the archived generations');
  } finally {
    c.release();
  }
});

test('a page derived in one call (jobq.log_jobs) agrees with the per-job derivation (jobq.log_job), job by job, in every state', async () => {
  const { db } = await logDatabase();
  // Retries wait an hour here: no claim below takes the retrying job back.
  const queue = candidate.createQueue({ pool: db.pool, kinds, backoff: { baseMs: 3_600_000, capMs: 3_600_000 } }) as LogQueue;
  const c = await db.pool.connect();
  try {
    await candidate.addFinished(c, 5, 1);
    await candidate.addFailed(c, 3);
    const claimOne = async (worker = 'w') => {
      const { job } = await queue.enqueue({ kind: 'probe', payload: {} });
      const [claimed] = await queue.claim(worker, { limit: 10 });
      assert.equal(claimed!.id, job.id);
      return claimed!;
    };
    const done = await claimOne();
    await queue.complete('w', [{ id: done.id, claimSeq: done.claimSeq, result: { ok: 1 } }]);
    const retrying = await claimOne();
    await queue.markFailedOrRetry(retrying.id, new Error('once'), { workerId: 'w', claimSeq: retrying.claimSeq });
    const failed = await claimOne();
    await queue.markFailedOrRetry(failed.id, new Error('for good'), { workerId: 'w', claimSeq: failed.claimSeq, permanent: true });
    await claimOne(); // running
    const lost = await claimOne('dead');
    await c.query(`UPDATE jobq.log_batch SET locked_at = now() - interval '1 hour' WHERE worker = 'dead'`);
    assert.equal(await queue.recoverStale(60_000), 1, 'only the dead claim lapsed');
    const { job: cancelled } = await queue.enqueue({ kind: 'probe', payload: {} });
    await queue.requestCancel(cancelled.id);
    await queue.enqueue({ kind: 'probe', payload: {} });
    await queue.enqueue({ kind: 'probe', payload: {}, delayMs: 60_000 });
    const ids = (await c.query<{ id: string }>('SELECT DISTINCT id FROM jobq.log_all UNION SELECT id FROM jobq.log_scheduled ORDER BY id')).rows.map((r) => r.id);
    const page = (await c.query('SELECT * FROM jobq.log_jobs($1::uuid[])', [ids])).rows;
    assert.deepEqual(page.map((j) => j.id), ids, 'one row per id, in the order asked');
    for (const [n, id] of ids.entries()) {
      assert.deepEqual(page[n], (await c.query('SELECT * FROM jobq.log_job($1)', [id])).rows[0], id);
    }
    assert.deepEqual([...new Set(page.map((j) => j.status))].sort(), ['cancelled', 'failed_permanent', 'queued', 'retrying', 'running', 'succeeded']);
    assert.equal(page.find((j) => j.id === lost.id)!.attempts, 1, 'the lost attempt counts');
    assert.deepEqual(page.find((j) => j.id === done.id)!.result, { ok: 1 });
    assert.deepEqual((await c.query('SELECT * FROM jobq.log_jobs($1::uuid[])', [['00000000-0000-7000-8000-000000000000']])).rows, [], 'no row for an unknown id');
  } finally {
    c.release();
  }
});

test('unsupported features throw instead of answering wrongly', async () => {
  const { queue } = await logDatabase();
  await assert.rejects(queue.enqueue({ kind: 'probe', payload: {}, priority: 5 }), /log prototype: priority other than 0 not supported/);
  await assert.rejects(queue.enqueue({ kind: 'probe', payload: {}, idempotencyKey: 'k' }), /log prototype: idempotencyKey not supported/);
  assert.throws(() => queue.stats(), /log prototype: stats not supported/);
});

test('each pgbench script runs against a seeded database', { skip: withoutPgbench() }, async () => {
  const { db } = await logDatabase();
  const c = await db.pool.connect();
  try {
    await candidate.addFinished(c, 50, 2);
    await candidate.addFailed(c, 50);
    await candidate.seed(c, 500);
    await c.query('CREATE TABLE jobq.bench_ids (i int PRIMARY KEY, id uuid NOT NULL)');
    const fill = async (what: 'finished' | 'queued' | 'failed') => {
      await c.query('TRUNCATE jobq.bench_ids');
      await c.query(`INSERT INTO jobq.bench_ids SELECT row_number() OVER (), id FROM (${candidate.sampleIdsSql(what)}) s`);
      return (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM jobq.bench_ids')).rows[0]!.n;
    };
    const run = (script: string, nids: number) =>
      execFileSync('/usr/bin/pgbench', ['-n', '-M', 'prepared', '-t', '5', '-c', '2', '-D', 'batch=50', '-D', `nids=${nids}`, '-f', script, db.url], { stdio: 'pipe' });
    const p = candidate.pgbench;
    for (const [script, what] of [[p.get, 'finished'], [p.list, 'finished'], [p.cancel, 'queued'], [p.retry, 'failed'], [p.enqueue, 'finished']] as const) {
      run(script, await fill(what));
    }
    // The claims drain what is left (cancel and retry moved some): a claim that finds a lane held by the other client may come back short.
    const waiting = Number((await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobq.log_all l, LATERAL jobq.log_job(l.id) j WHERE l.first AND j.status = 'queued'`)).rows[0]!.n);
    assert.ok(waiting >= 500, `${waiting} queued`);
    for (let i = 0; i < 5 && (await candidate.succeeded(c)) < 50 + waiting; i++) run(p.claimFinish, 1);
    assert.equal(await candidate.succeeded(c), 50 + waiting, 'claim_finish completed every queued job, each once');
    assert.equal(Number((await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobq.log_all l, LATERAL jobq.log_job(l.id) j WHERE j.status = 'running'`)).rows[0]!.n), 0);
  } finally {
    c.release();
  }
});
