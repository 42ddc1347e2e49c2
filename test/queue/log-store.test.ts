/**
 * The log store (QueueOptions.logStore; src/queue/log/, docs/design/storage.md "Stage 2") behind the
 * Queue and the real Worker: which jobs it takes, the whole lifecycle of a job it holds (claim,
 * completion with a result, failure and retry, delays, cancellation waiting and running, release,
 * recovery of a lapsed lease, progress, the operator's retry), listings merged with the row store, the
 * rows that existed before it was turned on, and retention by generation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { PermanentError } from '../../src/kinds/registry.ts';
import { Queue } from '../../src/queue/queue.ts';
import type { Job } from '../../src/queue/types.ts';
import { renewAllOfWorker } from '../../src/queue/statements/leases.ts';
import { eventually, freshQueue, kindsWithProbe, noopJob as noop, setup, testKinds, waitForStatus } from '../helpers/fixtures.ts';

const LOG = { logStore: true } as const;

async function counts(pool: pg.Pool): Promise<{ log: number; scheduled: number; rows: number }> {
  return (await pool.query<{ log: number; scheduled: number; rows: number }>('SELECT (SELECT count(*)::int FROM jobq.log) AS log, (SELECT count(*)::int FROM jobq.log_scheduled) AS scheduled, (SELECT count(*)::int FROM jobq.jobs) AS rows')).rows[0]!;
}

test('plain jobs go to the log; a priority, a key, a group or a queue with a policy keeps a job a row; without the option every job is a row', async () => {
  const { queue, db } = await freshQueue(LOG);
  await queue.setQueue('limited', { concurrency: 2 });
  const plain = await queue.enqueue(noop());
  const later = await queue.enqueue(noop({ delayMs: 60_000 }));
  await queue.enqueueMany([noop(), noop({ queue: 'other' })]);
  await queue.enqueue(noop({ priority: 1 }));
  await queue.enqueue(noop({ idempotencyKey: 'k' }));
  await queue.enqueue(noop({ group: 'g' }));
  await queue.enqueue(noop({ queue: 'limited' }));
  assert.deepEqual(await counts(db.pool), { log: 3, scheduled: 1, rows: 4 });
  assert.equal(plain.job.status, 'queued');
  assert.equal((await queue.get(plain.job.id))?.status, 'queued');
  assert.equal((await queue.get(later.job.id))?.status, 'queued');
  assert.equal((await queue.get(later.job.id))?.runAt.getTime(), later.job.runAt.getTime());

  const rowsOnly = new Queue({ pool: db.pool, kinds: testKinds(), logStore: false }); // without the option (the log store is the default)
  await rowsOnly.enqueue(noop());
  assert.deepEqual(await counts(db.pool), { log: 3, scheduled: 1, rows: 5 });
});

test('a claim takes rows of a higher priority first, then the log, then the rest of the rows; each store completes its own claims', async () => {
  const { queue } = await freshQueue(LOG);
  const low = await queue.enqueue(noop({ priority: -1 }));
  const logged = await queue.enqueueMany([noop(), noop()]);
  assert.deepEqual((await queue.claim('w', { limit: 2 })).map((j) => j.id).sort(), logged.map((r) => r.job.id).sort(), 'the log before a lower priority');
  const high = await queue.enqueue(noop({ priority: 3 }));
  const more = await queue.enqueueMany([noop(), noop()]);
  const first = await queue.claim('w', { limit: 1 });
  assert.deepEqual(first.map((j) => j.id), [high.job.id], 'a higher priority before the log');
  const claimed = [...first, ...(await queue.claim('w', { limit: 10 }))];
  // The higher priority first, then the log (in lane order: each lane in enqueue order, lanes drawn at
  // random), then the lower priority.
  assert.equal(claimed[0]!.id, high.job.id);
  assert.deepEqual(claimed.slice(1, 3).map((j) => j.id).sort(), more.map((r) => r.job.id).sort());
  assert.equal(claimed[3]!.id, low.job.id);
  assert.equal(claimed.length, 4);
  assert.deepEqual(claimed.map((j) => Math.sign(j.claimSeq)), [1, -1, -1, 1], 'log claims are negative');
  assert.equal((await queue.get(more[0]!.job.id))?.status, 'running');
  assert.equal((await queue.get(more[0]!.job.id))?.lockedBy, 'w');

  assert.deepEqual(await queue.complete('other', claimed.map((j) => ({ id: j.id, claimSeq: j.claimSeq }))), [], 'only under its own worker');
  const done = await queue.complete('w', claimed.map((j, i) => ({ id: j.id, claimSeq: j.claimSeq, result: { i } })));
  assert.deepEqual(done.sort(), claimed.map((j) => j.claimSeq).sort());
  assert.deepEqual(await queue.complete('w', claimed.map((j) => ({ id: j.id, claimSeq: j.claimSeq }))), [], 'never twice');
  for (const [i, j] of claimed.entries()) {
    const job = (await queue.get(j.id))!;
    assert.equal(job.status, 'succeeded');
    assert.deepEqual(job.result, { i });
    assert.equal(job.attempts, 1);
    assert.ok(job.finishedAt instanceof Date);
  }
  assert.deepEqual(await queue.claim('w', { limit: 10 }), []);
});

test('a backlog in either store or in one queue starves no other: rows of priority 0 share each claim with the log, and the log\'s queues take turns', async () => {
  const { queue } = await freshQueue(LOG);
  const rows = await queue.enqueueMany(Array.from({ length: 30 }, (_, i) => noop({ idempotencyKey: `k${i}` }))); // keyed: rows
  await queue.enqueueMany(Array.from({ length: 30 }, () => noop()));
  const four = await queue.claim('w', { limit: 4 });
  assert.deepEqual(four.map((j) => Math.sign(j.claimSeq)).sort(), [-1, -1, 1, 1], 'half of a claim each');
  assert.equal(four.filter((j) => j.claimSeq > 0)[0]!.id, rows[0]!.job.id, 'the rows in their order');
  const ones = [];
  for (let i = 0; i < 24; i++) ones.push(...(await queue.claim('w', { limit: 1 })));
  assert.ok(ones.some((j) => j.claimSeq > 0) && ones.some((j) => j.claimSeq < 0), 'claims of one job reach both stores');

  const { queue: q2 } = await freshQueue(LOG);
  await q2.enqueueMany([...Array.from({ length: 30 }, () => noop({ queue: 'a' })), ...Array.from({ length: 30 }, () => noop({ queue: 'z' }))]);
  const taken = [];
  for (let i = 0; i < 24; i++) taken.push(...(await q2.claim('w', { limit: 1 })));
  assert.deepEqual([...new Set(taken.map((j) => j.queue))].sort(), ['a', 'z'], 'both queues served');
});

test('a claim looks only at queues with log jobs in the hot generations, and at those it found empty in the last second after the others', async () => {
  const now = new Date('2030-01-01T00:00:00Z'); // a claim's "last second" is its clock's
  const { queue, db } = await freshQueue({ ...LOG, clock: () => now });
  const drain = async () => {
    for (let c = await queue.claim('w', { limit: 100 }); c.length > 0; c = await queue.claim('w', { limit: 100 })) await queue.complete('w', c);
  };
  for (let i = 0; i < 20; i++) await queue.enqueue(noop({ queue: `old${i}` }));
  await drain();
  await db.pool.query('SELECT jobq.log_rotate()');
  await queue.sweep(60_000);
  assert.deepEqual((await db.pool.query('SELECT gen FROM jobq.log_gen WHERE archived')).rows, [{ gen: 1 }]);
  for (let i = 0; i < 20; i++) await queue.enqueue(noop({ queue: `idle${i}` }));
  await drain();
  await queue.enqueueMany(Array.from({ length: 10 }, () => noop({ queue: 'busy' })));

  const client = await db.pool.connect();
  try {
    await client.query("SET track_functions = 'all'");
    await client.query('BEGIN');
    const calls = async () => (await client.query<{ n: string | null }>(
      "SELECT sum(pg_stat_get_xact_function_calls(p.oid)) AS n FROM pg_proc p WHERE p.proname = 'log_claim' AND p.pronamespace = 'jobq'::regnamespace",
    )).rows[0]!.n;
    const got = [];
    for (let i = 0; i < 10; i++) got.push(...(await queue.claim('w', { limit: 1, db: client })));
    assert.deepEqual(got.map((j) => j.queue), Array(10).fill('busy'));
    // Each idle queue once (the first claims find them empty, in a random order), the busy one ten
    // times; the queues of the archived generation never. Without the hint: about 10 × (1 + 20 / 2).
    const n = Number(await calls());
    assert.ok(n >= 10 && n <= 30, `${n} queues looked at`);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
});

test('the Worker runs log jobs: failures retry with backoff, a PermanentError or the last attempt fails for good, the operator retries', async () => {
  const tries = new Map<number, number>();
  const s = await setup(
    kindsWithProbe((p) => {
      const n = (tries.get(p.n!) ?? 0) + 1;
      tries.set(p.n!, n);
      if (p.n === 1 && n === 1) throw new Error('first try fails');
      if (p.n === 2) throw new PermanentError('never');
      if (p.n === 3 && tries.get(99) === undefined) throw new Error('always, until told');
      return { n: p.n, try: n };
    }),
    { ...LOG, backoff: { baseMs: 10, capMs: 20 } },
  );
  await s.worker({ pollIntervalMs: 50 });
  const [a, b, c] = await s.queue.enqueueMany([1, 2, 3].map((n) => ({ kind: 'probe', payload: { n }, maxAttempts: 2 })));
  await s.finished(a!.job.id, { attempt: 2 });
  const ja = await waitForStatus(s.queue, a!.job.id, 'succeeded');
  assert.equal(ja.attempts, 2);
  assert.deepEqual(ja.result, { n: 1, try: 2 });
  assert.deepEqual(ja.errors.map((e) => e.attempt), [1]);
  assert.match(ja.errors[0]!.error, /^Error: first try fails\n/);
  const jb = await waitForStatus(s.queue, b!.job.id, 'failed_permanent');
  assert.equal(jb.attempts, 1, 'a PermanentError does not retry');
  const jc = await waitForStatus(s.queue, c!.job.id, 'failed_permanent');
  assert.equal(jc.attempts, 2);
  assert.match(jc.lastError!, /^Error: always, until told/);

  tries.set(99, 1);
  const again = await s.queue.retry(c!.job.id);
  assert.equal(again.status, 'queued');
  assert.equal(again.attempts, 0);
  const done = await waitForStatus(s.queue, c!.job.id, 'succeeded');
  assert.equal(done.attempts, 1);
  await assert.rejects(s.queue.retry(c!.job.id), (e: { kind?: string }) => e.kind === 'invalid_transition');
});

test('a claim takes log jobs that became due with it at once; inside the caller\'s transaction it says more may be there', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue, db } = await freshQueue({ ...LOG, clock: () => now });
  const [a, b] = await queue.enqueueMany([noop({ delayMs: 1_000 }), noop({ delayMs: 1_000, queue: 'other' })]);
  assert.deepEqual(await queue.claim('w', { limit: 5 }), [], 'not due yet');
  now = new Date(now.getTime() + 1_000);
  const claimed = await queue.claim('w', { limit: 5 });
  assert.deepEqual(claimed.map((j) => j.id).sort(), [a!.job.id, b!.job.id].sort(), 'due now: this claim takes them');
  assert.ok(claimed.every((j) => j.claimSeq < 0 && j.startedAt !== null));

  const [c] = await queue.enqueueMany([noop({ delayMs: 1_000 })]);
  now = new Date(now.getTime() + 1_000);
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const inside = await queue.claim('w', { limit: 5, db: client });
    assert.deepEqual([...inside], [], 'its own transaction cannot see what it moved');
    assert.equal(inside.more, true, 'but it says so');
    await client.query('COMMIT');
  } finally {
    client.release();
  }
  assert.deepEqual((await queue.claim('w', { limit: 5 })).map((j) => j.id), [c!.job.id]);
});

test('a delayed log job waits for its time; a waiting one cancels at once, a running one through its worker', async () => {
  let release!: () => void;
  const s = await setup(
    kindsWithProbe(async (p, ctx) => {
      if (p.n !== 2) return 'ok';
      await new Promise<void>((resolve, reject) => {
        release = resolve;
        ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error));
      });
      return 'ran';
    }),
    LOG,
  );
  const delayed = await s.queue.enqueue({ kind: 'probe', payload: { n: 1 }, delayMs: 400 });
  const waiting = await s.queue.enqueue({ kind: 'probe', payload: { n: 1 }, delayMs: 60_000 });
  assert.equal((await s.queue.requestCancel(waiting.job.id)).outcome, 'cancelled');
  const cancelledAgain = await s.queue.requestCancel(waiting.job.id);
  assert.equal(cancelledAgain.outcome, 'already_terminal');
  assert.equal((await s.queue.get(waiting.job.id))?.status, 'cancelled');

  await s.worker({ pollIntervalMs: 50 });
  const running = await s.queue.enqueue({ kind: 'probe', payload: { n: 2 } });
  await waitForStatus(s.queue, running.job.id, 'running');
  await eventually(() => release);
  const asked = await s.queue.requestCancel(running.job.id);
  assert.equal(asked.outcome, 'cancel_requested');
  assert.equal(asked.job.cancelRequested, true);
  const cancelled = await waitForStatus(s.queue, running.job.id, 'cancelled');
  assert.equal(cancelled.attempts, 1, 'a running job spent its attempt');

  const ran = await waitForStatus(s.queue, delayed.job.id, 'succeeded');
  assert.ok(ran.finishedAt!.getTime() >= delayed.job.runAt.getTime(), 'not before its time');
});

test('a released log claim goes back unspent; a lapsed one is recovered with its attempt spent, and its worker loses it', async () => {
  const { queue } = await freshQueue(LOG);
  const { job } = await queue.enqueue(noop({ maxAttempts: 2 }));
  const [first] = await queue.claim('w1', { limit: 1 });
  const [released] = await queue.release('w1', [first!]);
  assert.equal(released?.status, 'queued');
  assert.equal(released?.attempts, 0);

  const [second] = await queue.claim('w2', { limit: 1 });
  assert.equal(second?.id, job.id);
  assert.equal(second?.attempts, 1);
  assert.deepEqual(await queue.renew('w2', [second!]), { cancelRequested: [], lost: [] });
  assert.equal(await queue.recoverStale(60_000), 0, 'a fresh lease is kept');
  assert.equal(await queue.recoverStale(0), 1);
  assert.deepEqual((await queue.renew('w2', [second!])).lost, [second!.claimSeq]);
  assert.deepEqual(await queue.complete('w2', [second!]), [], 'a lost claim completes nothing');
  const recovered = (await queue.get(job.id))!;
  assert.equal(recovered.status, 'retrying', 'waiting for its next attempt, as a row would');
  assert.equal(recovered.attempts, 1);
  assert.match(recovered.lastError!, /w2 lost the job/);

  const [third] = await queue.claim('w3', { limit: 1 });
  assert.equal(third?.attempts, 2);
  assert.equal(await queue.recoverStale(0), 1);
  assert.equal((await queue.get(job.id))?.status, 'failed_permanent', 'out of attempts');
});

test('a lost worker\'s buffered log jobs get their attempt back: only those its claim started, or it marked started, are spent', async () => {
  const { queue } = await freshQueue(LOG);
  const jobs = await queue.enqueueMany(Array.from({ length: 6 }, () => noop({ queue: 'one' })));
  const claimed: { id: string; claimSeq: number; startedAt: Date | null }[] = [];
  for (let got = await queue.claim('w', { limit: 6, started: 2 }); claimed.push(...got), claimed.length < 6; ) got = await queue.claim('w', { limit: 6 - claimed.length, started: 0 });
  assert.equal(claimed.length, 6);
  assert.ok(claimed.every((c) => c.claimSeq < 0));
  const started = claimed.filter((c) => c.startedAt !== null);
  assert.equal(started.length, 2, 'the claim started two');
  // The worker starts its buffered jobs in claim order: the first of them, then marks it.
  const buffered = claimed.filter((c) => c.startedAt === null).sort((x, y) => y.claimSeq - x.claimSeq);
  await queue.markStartedThrough('w', buffered[0]!.claimSeq);
  await queue.complete('w', [started[0]!]);
  assert.equal(await queue.recoverStale(0), 5);
  const after = new Map((await Promise.all(jobs.map((j) => queue.get(j.job.id)))).map((j) => [j!.id, j!]));
  const spent = [started[1]!.id, buffered[0]!.id];
  for (const id of spent) {
    assert.equal(after.get(id)!.attempts, 1, 'started: its attempt spent');
    assert.match(after.get(id)!.lastError!, /w lost the job/);
  }
  for (const c of buffered.slice(1)) {
    const job = after.get(c.id)!;
    assert.deepEqual([job.status, job.attempts, job.lastError], ['queued', 0, null], 'never started: its attempt given back');
  }
  const again = await queue.claim('w2', { limit: 10 });
  assert.deepEqual(again.map((j) => j.attempts).sort(), [1, 1, 1, 2, 2]);
});

test('a log job\'s started_at is its claim\'s time, or its worker\'s start from the buffer, and stays so once it ends and after renewals', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const t0 = now.getTime();
  const { queue } = await freshQueue({ ...LOG, clock: () => now });
  await queue.enqueueMany(Array.from({ length: 5 }, () => noop({ queue: 'one', maxAttempts: 1 })));
  const claimed: Awaited<ReturnType<Queue['claim']>> = [];
  for (let got = await queue.claim('w', { limit: 5, started: 2 }); claimed.push(...got), claimed.length < 5; ) got = await queue.claim('w', { limit: 5 - claimed.length, started: 0 });
  const [a, b] = claimed.filter((c) => c.startedAt !== null);
  const [c, d, e] = claimed.filter((x) => x.startedAt === null);
  assert.ok(a && b && c && d && e);
  const startedAt = async (id: string) => (await queue.get(id))!.startedAt?.getTime() ?? null;
  for (const j of [a, b]) assert.equal(await startedAt(j.id), t0, 'started with the claim');
  for (const j of [c, d, e]) assert.equal(await startedAt(j.id), null, 'waiting in the buffer: not started yet');
  now = new Date(t0 + 10_000);
  await queue.renew('w', claimed);
  assert.equal(await startedAt(a.id), t0, 'a renewal does not move it');
  await queue.complete('w', [a]);
  await queue.complete('w', [{ ...c, launchedAtMs: t0 + 3_000 }]);
  await queue.markFailedOrRetry(d.id, new Error('no'), { workerId: 'w', claimSeq: d.claimSeq, launchedAtMs: t0 + 4_000 });
  await queue.markFailedOrRetry(b.id, new Error('no'), { workerId: 'w', claimSeq: b.claimSeq });
  assert.deepEqual(await Promise.all([a, c, d, b].map((j) => startedAt(j.id))), [t0, t0 + 3_000, t0 + 4_000, t0], 'kept once ended');
  const listed = new Map((await queue.list({ limit: 10 })).jobs.map((j) => [j.id, j.startedAt?.getTime() ?? null]));
  assert.deepEqual([a, c, d, b, e].map((j) => listed.get(j.id)), [t0, t0 + 3_000, t0 + 4_000, t0, null], 'a listing says the same');
});

test('a retrying log job was last updated when its attempt failed, as a row', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue } = await freshQueue({ ...LOG, clock: () => now });
  const { job } = await queue.enqueue(noop());
  const [c] = await queue.claim('w', { limit: 1 });
  now = new Date(now.getTime() + 5_000);
  await queue.markFailedOrRetry(c!.id, new Error('no'), { workerId: 'w', claimSeq: c!.claimSeq, previousDelayMs: null });
  const read = (await queue.get(job.id))!;
  assert.equal(read.status, 'retrying');
  assert.equal(read.updatedAt.getTime(), now.getTime());
});

test('a running log job reads its claim; progress by id reaches it; renewal and release hold only real claims; the sweep keeps its worker', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue, db } = await freshQueue({ ...LOG, clock: () => now });
  const [a, b] = await queue.enqueueMany([noop({ queue: 'one' }), noop({ queue: 'one' })]);
  const claimed = await queue.claim('w', { limit: 2, queues: ['one'] });
  const ca = claimed.find((c) => c.id === a!.job.id)!;
  const cb = claimed.find((c) => c.id === b!.job.id)!;
  assert.equal((await queue.get(ca.id))?.claimSeq, ca.claimSeq, 'its claim number, as a running row has');
  assert.equal(await queue.progress(ca.id, 0.5), true, 'progress named by the id alone');
  assert.ok((await queue.get(ca.id))?.progress, 'stored');
  const junk = { id: ca.id, claimSeq: Math.min(ca.claimSeq, cb.claimSeq) - 7 }; // in a held batch, never issued
  const beat = await queue.renew('w', [ca, { id: 'not-a-uuid', claimSeq: cb.claimSeq }, junk]);
  assert.deepEqual(beat.lost.sort(), [cb.claimSeq, junk.claimSeq].sort(), 'a claim without a UUID, and one never issued, are lost; the real one held');
  await queue.requestCancel(cb.id);
  await queue.release('w', [cb]);
  assert.deepEqual([(await queue.get(cb.id))?.status, (await queue.get(cb.id))?.attempts], ['cancelled', 0], 'cancelled at release: its attempt given back');
  await queue.markStartedThrough('w', ca.claimSeq); // the worker's row, written now
  now = new Date(now.getTime() + 2 * 3_600_000);
  await queue.renew('w', [ca]); // its batch renewed, its row not: silent for two hours
  await queue.sweep(60_000);
  assert.equal((await db.pool.query('SELECT count(*)::int AS n FROM jobq.workers WHERE id = $1', ['w'])).rows[0].n, 1, 'a worker still running a log job keeps its row');
});

test('a log claim completes only the job it took: an unknown id, or another job\'s, under a held claim completes nothing, here or in another process', async () => {
  const { queue, db } = await freshQueue(LOG);
  const [a, b] = await queue.enqueueMany([noop({ queue: 'g' }), noop({ queue: 'g' })]);
  const claimed = await queue.claim('w', { limit: 2, queues: ['g'] });
  const ca = claimed.find((c) => c.id === a!.job.id)!;
  const other = new Queue({ pool: db.pool, kinds: testKinds(), logStore: true }); // knows none of the claims
  for (const q of [queue, other]) {
    assert.deepEqual(await q.complete('w', [{ id: '00000000-0000-4000-8000-000000000000', claimSeq: ca.claimSeq }]), [], 'an unknown id');
    assert.deepEqual(await q.complete('w', [{ id: b!.job.id, claimSeq: ca.claimSeq }]), [], 'another job\'s id');
  }
  assert.deepEqual((await Promise.all([a, b].map((r) => queue.get(r!.job.id)))).map((j) => j!.status), ['running', 'running']);
  assert.equal((await db.pool.query('SELECT count(*)::int AS n FROM jobq.log_done')).rows[0].n, 0);
  assert.deepEqual(await other.complete('w', [ca]), [ca.claimSeq], 'the claim itself, from another process');
  assert.equal((await queue.get(a!.job.id))?.status, 'succeeded');
});

test('a recovery of log jobs, and the sweep\'s move of due ones, wake their queue\'s workers', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue, db } = await freshQueue({ ...LOG, clock: () => now });
  // A session of its own, past any pooler (LISTEN needs one).
  const listener = new pg.Client({ connectionString: db.listenUrl ?? db.url });
  await listener.connect();
  const heard: string[] = [];
  try {
    listener.on('notification', (n) => heard.push(`${n.channel} ${n.payload}`));
    await listener.query('LISTEN jobq_jobs');
    await queue.enqueue(noop({ queue: 'lapsed' }));
    await queue.enqueue(noop({ queue: 'later', delayMs: 60_000 }));
    assert.equal((await queue.claim('w', { limit: 1, queues: ['lapsed'] })).length, 1);
    heard.length = 0;
    now = new Date(now.getTime() + 1_000);
    assert.equal(await queue.recoverStale(500), 1);
    await eventually(() => heard.includes('jobq_jobs lapsed') || undefined, 10_000, 'the recovered job\'s queue woken');
    now = new Date(now.getTime() + 61_000);
    await queue.sweep(60_000);
    await eventually(() => heard.includes('jobq_jobs later') || undefined, 10_000, 'the due job\'s queue woken');
  } finally {
    await listener.end();
  }
});

test('a log job keeps its last 10 errors, as a row does, oldest first', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue } = await freshQueue({ ...LOG, clock: () => now, backoff: { baseMs: 1_000, capMs: 1_000 } });
  const { job } = await queue.enqueue(noop({ maxAttempts: 20 }));
  for (let i = 1; i <= 12; i++) {
    const claimed = await eventually(async () => {
      now = new Date(now.getTime() + 2_000); // past the retry's backoff: due, then claimed
      return (await queue.claim('w', { limit: 1 }))[0];
    }, 10_000, `attempt ${i}`);
    await queue.markFailedOrRetry(claimed.id, new Error(`e${i}`), { workerId: 'w', claimSeq: claimed.claimSeq });
  }
  const after = (await queue.get(job.id))!;
  assert.equal(after.attempts, 12);
  assert.deepEqual(after.errors.map((e) => /e\d+/.exec(e.error)![0]), ['e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9', 'e10', 'e11', 'e12']);
  assert.match(after.lastError!, /e12/);
});

test('a worker\'s transition of a log job named by its id alone finds the job\'s claim; a job not running says its status', async () => {
  const { queue } = await freshQueue(LOG);
  const [a, b, c] = await queue.enqueueMany([noop({ queue: 'x' }), noop({ queue: 'y' }), noop({ queue: 'z' })]);
  await queue.claim('w1', { limit: 1, queues: ['x'] });
  await queue.claim('w1', { limit: 1, queues: ['y'] });
  const invalid = (status: string) => (e: { kind?: string; message?: string }) => e.kind === 'invalid_transition' && e.message!.includes(`it is ${status}`);
  await assert.rejects(queue.markFailedOrRetry(a!.job.id, new Error('x'), { workerId: 'w2' }), invalid('running'), 'another worker\'s');
  await assert.rejects(queue.markFailedOrRetry(c!.job.id, new Error('x'), { workerId: 'w1' }), invalid('queued'), 'not claimed');
  const failed = await queue.markFailedOrRetry(a!.job.id, new Error('smtp down'), { workerId: 'w1', permanent: true });
  assert.deepEqual([failed.status, failed.attempts], ['failed_permanent', 1]);
  assert.match(failed.lastError!, /smtp down/);
  await queue.requestCancel(b!.job.id);
  assert.equal((await queue.finalizeCancelled(b!.job.id, { workerId: 'w1' })).status, 'cancelled');
  await assert.rejects(queue.finalizeCancelled(b!.job.id, { workerId: 'w1' }), invalid('cancelled'));
});

test('progress of a running log job is stored under its claim only', async () => {
  const { queue } = await freshQueue(LOG);
  const { job } = await queue.enqueue(noop());
  const [c] = await queue.claim('w', { limit: 1 });
  assert.equal(await queue.progress(job.id, 0.5, { workerId: 'other', claimSeq: c!.claimSeq }), false);
  assert.equal(await queue.progress(job.id, { current: 3, total: 4 }, { workerId: 'w', claimSeq: c!.claimSeq, message: 'three' }), true);
  const p = (await queue.get(job.id))!.progress!;
  assert.deepEqual([p.value, p.current, p.total, p.message], [0.75, 3, 4, 'three']);
});

test('a listing merges both stores newest first, and its cursor walks them without a gap or a repeat, with filters', async () => {
  const { queue } = await freshQueue(LOG);
  const made: Job[] = [];
  for (let i = 0; i < 30; i++) {
    const r = await queue.enqueue(noop(i % 3 === 0 ? { priority: 1 } : i % 5 === 0 ? { queue: 'q2' } : {}));
    made.push(r.job);
  }
  const [c] = await queue.claim('w', { limit: 1 });
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await queue.list({ limit: 7, cursor });
    seen.push(...page.jobs.map((j) => j.id));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  assert.deepEqual(seen, made.map((j) => j.id).sort().reverse());
  const q2 = await queue.list({ queue: 'q2', limit: 100 });
  assert.deepEqual(q2.jobs.map((j) => j.id), made.filter((j) => j.queue === 'q2').map((j) => j.id).sort().reverse());
  const running = await queue.list({ status: 'running', limit: 100 });
  assert.deepEqual(running.jobs.map((j) => j.id), [c!.id]);
});

test('a filtered listing examines a bounded number of log jobs per page, says where to go on, and its walk finds every match', async () => {
  const { queue, db } = await freshQueue({ ...LOG, listBounds: { scanRows: 4, pageBytes: 8 * 1024 * 1024 } });
  const made: Job[] = [];
  for (let i = 0; i < 23; i++) made.push((await queue.enqueue(noop(i === 5 || i === 17 ? { queue: 'rare', delayMs: i === 17 ? 60_000 : 0 } : {}))).job);
  assert.equal((await db.pool.query('SELECT count(*)::int AS n FROM jobq.log_scheduled')).rows[0].n, 1);
  const first = await queue.list({ queue: 'rare', limit: 10 });
  assert.deepEqual(first.jobs, [], 'the newest four of each have none');
  assert.ok(first.nextCursor, 'and the page says where to go on');
  const found: string[] = [];
  let pages = 0;
  for (let cursor: string | null | undefined; cursor !== null; pages++) {
    const page = await queue.list({ queue: 'rare', limit: 10, cursor });
    found.push(...page.jobs.map((j) => j.id));
    cursor = page.nextCursor;
  }
  assert.deepEqual(found, [made[17]!.id, made[5]!.id]);
  assert.ok(pages >= 23 / 4, `${pages} pages of four`);
  const all: string[] = [];
  for (let cursor: string | null | undefined; cursor !== null; ) {
    const page = await queue.list({ kind: 'noop', limit: 3, cursor });
    all.push(...page.jobs.map((j) => j.id));
    cursor = page.nextCursor;
  }
  assert.deepEqual(all, made.map((j) => j.id).reverse(), 'a kind every job has: each once, newest first');
});

test('rows made before the log store was turned on finish as rows, beside the log\'s jobs', async () => {
  const s = await setup(testKinds(), LOG);
  const before = new Queue({ pool: s.db.pool, kinds: testKinds(), logStore: false }); // before the option (the log store is the default)
  const old = await before.enqueueMany([noop(), noop()]);
  const fresh = await s.queue.enqueueMany([noop(), noop()]);
  await s.worker({ pollIntervalMs: 50 });
  for (const r of [...old, ...fresh]) await waitForStatus(s.queue, r.job.id, 'succeeded');
  assert.deepEqual(await counts(s.db.pool), { log: 2, scheduled: 0, rows: 2 });
});

test('retention: a finished generation is archived by the sweep, and dropped whole after the shortest retention, its jobs kept longer made rows first', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue, db } = await freshQueue({ ...LOG, clock: () => now });
  const [ok, bad, gone] = await queue.enqueueMany([noop(), noop({ maxAttempts: 1 }), noop({ delayMs: 60_000 })]);
  const [late] = await queue.enqueueMany([noop({ maxAttempts: 1 })]);
  const claimed = await queue.claim('w', { limit: 3 });
  assert.equal(claimed.length, 3);
  await queue.requestCancel(gone!.job.id);
  await db.pool.query('SELECT jobq.log_rotate()');
  const kept = await queue.enqueue(noop());
  await queue.sweep(60_000);
  const gens = async () => (await db.pool.query<{ gen: number; archived: boolean }>('SELECT gen, archived FROM jobq.log_gen ORDER BY gen')).rows;
  assert.deepEqual(await gens(), [{ gen: 1, archived: false }, { gen: 2, archived: false }], 'not while its jobs run');
  await queue.complete('w', claimed.filter((c) => c.id === ok!.job.id));
  await queue.markFailedOrRetry(bad!.job.id, new Error('bad'), { workerId: 'w', claimSeq: claimed.find((c) => c.id === bad!.job.id)!.claimSeq });
  now = new Date(now.getTime() + 2 * 86_400_000); // `late` fails two days after the others
  await queue.markFailedOrRetry(late!.job.id, new Error('late'), { workerId: 'w', claimSeq: claimed.find((c) => c.id === late!.job.id)!.claimSeq });
  await queue.sweep(60_000);
  assert.deepEqual(await gens(), [{ gen: 1, archived: true }, { gen: 2, archived: false }]);
  assert.equal((await queue.get(ok!.job.id))?.status, 'succeeded', 'an archived job is still read');
  const before = await Promise.all([ok, bad, gone, late].map((r) => queue.get(r!.job.id)));

  const day = 86_400_000;
  assert.equal(await queue.prune({ succeeded: null, failed_permanent: null, cancelled: null }), 0, 'nothing goes while every status is kept for ever');
  now = new Date(now.getTime() + 60_000); // the generation was archived a minute ago
  assert.equal(await queue.prune({ succeeded: 3_600_000, failed_permanent: day, cancelled: null }), 0, 'kept for the shortest retention');
  assert.equal(await queue.prune({ succeeded: 0, failed_permanent: day, cancelled: null }), 4);
  assert.deepEqual(await gens(), [{ gen: 2, archived: false }]);
  assert.equal(await queue.get(ok!.job.id), null, 'past its retention: dropped with its generation');
  assert.equal(await queue.get(bad!.job.id), null, 'failed two days ago, kept for one: dropped');
  for (const [i, why] of [[2, 'cancelled, kept for ever'], [3, 'failed a minute ago, kept for a day']] as const) {
    const row = await queue.get(before[i]!.id);
    assert.deepEqual(row, { ...before[i]!, claimSeq: row?.claimSeq ?? null }, `${why}: a row now, as it was`);
  }
  assert.equal((await db.pool.query('SELECT count(*)::int AS n FROM jobq.jobs')).rows[0].n, 2);
  assert.equal((await queue.get(kept.job.id))?.status, 'queued');
  now = new Date(now.getTime() + 2 * day);
  assert.equal(await queue.prune({ succeeded: 0, failed_permanent: day, cancelled: null }), 1, 'the row store prunes it at its own time');
  assert.equal(await queue.get(late!.job.id), null);
  assert.equal((await queue.get(gone!.job.id))?.status, 'cancelled');
});

test('retention: a generation with a job still running stays, and holds back no later one', async () => {
  const { queue, db } = await freshQueue(LOG);
  await queue.enqueueMany([noop({ queue: 'slow' })]);
  const [long] = await queue.claim('w', { limit: 1, queues: ['slow'] });
  await db.pool.query('SELECT jobq.log_rotate()');
  const [later] = await queue.enqueueMany([noop()]);
  await queue.complete('w', await queue.claim('w', { limit: 1 }));
  await db.pool.query('SELECT jobq.log_rotate()');
  await queue.sweep(60_000);
  const gens = async () => (await db.pool.query<{ gen: number; archived: boolean }>('SELECT gen, archived FROM jobq.log_gen ORDER BY gen')).rows;
  assert.deepEqual(await gens(), [{ gen: 1, archived: false }, { gen: 2, archived: true }, { gen: 3, archived: false }]);
  assert.equal(await queue.prune({ succeeded: 0, failed_permanent: 0, cancelled: 0 }), 1);
  assert.equal(await queue.get(later!.job.id), null);
  assert.equal((await queue.get(long!.id))?.status, 'running');
  await queue.complete('w', [long!]);
  await queue.sweep(60_000);
  assert.deepEqual(await gens(), [{ gen: 1, archived: true }, { gen: 3, archived: false }], 'archived once its job ended');
});

test('reads by id look at the generations since an hour before the job was made (its UUIDv7 time), whatever the history kept', async () => {
  const { queue, db } = await freshQueue(LOG);
  for (let i = 0; i < 3; i++) await db.pool.query('SELECT jobq.log_rotate()');
  const hoursAgo = [5, 3, 2, 0.01];
  for (const [i, h] of hoursAgo.entries()) await db.pool.query(`UPDATE jobq.log_gen SET created_at = now() - $1 * interval '1 hour' WHERE gen = $2`, [h, i + 1]);
  const v7At = (msAgo: number) => {
    const hex = (Date.now() - msAgo).toString(16).padStart(12, '0');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000001`;
  };
  const floor = async (id: string) => (await db.pool.query<{ g: number }>('SELECT jobq.log_gen_floor($1) AS g', [id])).rows[0]!.g;
  const hour = 3_600_000;
  assert.equal(await floor(v7At(0)), 3, 'made now: the generations since an hour ago (the one current then on)');
  assert.equal(await floor(v7At(4 * hour)), 1, 'made four hours ago: from the one current an hour before');
  assert.equal(await floor(v7At(10 * hour)), 0, 'older than every generation: all of them');
  assert.equal(await floor('00000000-0000-4000-8000-000000000001'), 0, 'not a UUIDv7: all of them');
  // A job of the newest generation, retried into a later one, reads with its whole history.
  const { job } = await queue.enqueue(noop({ maxAttempts: 2 }));
  const [c] = await queue.claim('w', { limit: 1 });
  await db.pool.query('SELECT jobq.log_rotate()');
  await queue.markFailedOrRetry(c!.id, new Error('first'), { workerId: 'w', claimSeq: c!.claimSeq, previousDelayMs: null });
  const read = await queue.get(job.id);
  assert.deepEqual([read?.status, read?.attempts, read?.errors.map((e) => e.error.split('\n')[0])], ['retrying', 1, ['Error: first']]);
});

test('stats count the log\'s jobs by status, kind and queue beside the rows, and the age of the oldest runnable', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue } = await freshQueue({ ...LOG, clock: () => now });
  await queue.enqueue(noop({ priority: 1 })); // a row
  const [a, b, c, d] = await queue.enqueueMany([noop(), noop(), noop({ queue: 'q2' }), noop({ queue: 'q2' })]);
  await queue.enqueue(noop({ delayMs: 60_000 }));
  await queue.enqueue({ kind: 'send_email', payload: { to: 'a@example.com', subject: 's', body: 'b' } });
  const row = await queue.claim('w', { limit: 1, queues: ['default'] });
  assert.ok(row[0]!.claimSeq > 0);
  const claimed = await queue.claim('w', { limit: 10, queues: ['q2'] });
  assert.equal(claimed.length, 2);
  await queue.complete('w', [claimed.find((j) => j.id === c!.job.id)!]);
  await queue.markFailedOrRetry(d!.job.id, new Error('x'), { workerId: 'w', claimSeq: claimed.find((j) => j.id === d!.job.id)!.claimSeq, permanent: true });
  await queue.requestCancel(b!.job.id);
  await queue.enqueue(noop({ queue: 'q3' }));
  assert.equal((await queue.claim('w', { limit: 5, queues: ['q3'] }))[0]!.claimSeq < 0, true);
  now = new Date(now.getTime() + 5_000);
  const s = await queue.stats();
  assert.deepEqual(
    Object.fromEntries(Object.entries(s.byStatus).filter(([, n]) => n > 0)),
    { queued: 3, running: 2, succeeded: 1, failed_permanent: 1, cancelled: 1 },
  );
  assert.equal(s.byQueue.q2!.succeeded, 1);
  assert.equal(s.byQueue.q3!.running, 1);
  assert.equal(s.byKind.send_email!.queued, 1);
  assert.equal(s.oldestRunnableAgeSecondsByQueue.default, 5);
  assert.equal(a!.job.status, 'queued');
});

test('a queue\'s depth, running jobs and oldest wait count its log jobs beside its rows, read per lane and per batch', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue } = await freshQueue({ ...LOG, clock: () => now });
  await queue.enqueue(noop({ queue: 'mixed', priority: 1 }));
  await queue.enqueueMany(Array.from({ length: 12 }, () => noop({ queue: 'mixed' })));
  await queue.enqueue(noop({ queue: 'later', delayMs: 60_000 }));
  await queue.enqueueMany(Array.from({ length: 3 }, () => noop({ queue: 'logonly' })));
  const claimed = await queue.claim('w', { limit: 6, queues: ['mixed'] }); // the row, then 5 of the log
  assert.equal(claimed.filter((j) => j.claimSeq < 0).length, 5);
  await queue.complete('w', claimed.filter((j) => j.claimSeq < 0).slice(0, 2));
  const logClaim = await queue.claim('w', { limit: 1, queues: ['logonly'] });
  await queue.release('w', logClaim); // back to waiting, a new entry
  now = new Date(now.getTime() + 2_000);
  const mixed = await queue.getQueue('mixed');
  assert.deepEqual([mixed.depth, mixed.running, mixed.oldestWaitingAgeSeconds], [7, 4, 2]);
  const page = await queue.listQueues({ limit: 2 });
  assert.deepEqual(page.queues.map((q) => [q.name, q.depth, q.running]), [['later', 0, 0], ['logonly', 3, 0]]);
  assert.equal(page.nextAfter, 'logonly');
  assert.deepEqual((await queue.listQueues({ after: 'logonly' })).queues.map((q) => q.name), ['mixed']);
  assert.deepEqual((await queue.getQueue('nothing')).depth, 0);
});

test('the lease keeper\'s fallback (its worker\'s thread blocked) renews the worker\'s log batches too', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue, db } = await freshQueue({ ...LOG, clock: () => now });
  await queue.enqueueMany([noop(), noop()]);
  const mine = await queue.claim('w', { limit: 1 });
  const theirs = await queue.claim('other', { limit: 1 });
  assert.equal(mine.length + theirs.length, 2);
  now = new Date(now.getTime() + 60_000);
  const renewed = await renewAllOfWorker(db.pool, { workerId: 'w', now });
  assert.equal(renewed, 1);
  assert.equal(await queue.recoverStale(30_000), 1, 'only the other worker\'s lapsed');
  assert.equal((await queue.get(mine[0]!.id))?.status, 'running');
  assert.equal((await queue.get(theirs[0]!.id))?.status, 'retrying');
});

test('flows: a batch\'s parents stay rows, so their children settle (log jobs as parents: log-parents.test.ts)', async () => {
  const s = await setup(testKinds(), LOG);
  const [parent, child] = await s.queue.enqueueMany([noop(), { ...noop(), dependsOn: ['#0'] }]);
  assert.equal((await s.db.pool.query('SELECT count(*)::int AS n FROM jobq.jobs WHERE id = $1', [parent!.job.id])).rows[0].n, 1, 'the parent is a row');
  assert.equal(child!.job.status, 'waiting');
  await s.worker({ pollIntervalMs: 50 });
  await waitForStatus(s.queue, child!.job.id, 'succeeded');
});

test('a page derived in one call (jobq.log_jobs) agrees with the per-job derivation (jobq.log_job), job by job, in every state', async () => {
  // Retries wait an hour here: no claim below takes the retrying job back.
  const { queue, db } = await freshQueue({ ...LOG, backoff: { baseMs: 3_600_000, capMs: 3_600_000 } });
  let queues = 0;
  const claimOne = async (worker = 'w') => {
    const { job } = await queue.enqueue(noop({ queue: `q${++queues}` })); // a queue each: no claim takes another's job back
    const [claimed] = await queue.claim(worker, { limit: 10, queues: [job.queue] });
    assert.equal(claimed!.id, job.id);
    return claimed!;
  };
  const archived = await claimOne();
  await queue.complete('w', [{ ...archived, result: { old: true } }]);
  await db.pool.query('SELECT jobq.log_rotate()');
  await queue.sweep(60_000);
  assert.equal((await db.pool.query('SELECT count(*)::int AS n FROM jobq.log_gen WHERE archived')).rows[0].n, 1);
  const done = await claimOne();
  await queue.complete('w', [{ ...done, result: { ok: 1 } }]);
  const retrying = await claimOne();
  await queue.markFailedOrRetry(retrying.id, new Error('once'), { workerId: 'w', claimSeq: retrying.claimSeq });
  const failed = await claimOne();
  await queue.markFailedOrRetry(failed.id, new Error('for good'), { workerId: 'w', claimSeq: failed.claimSeq, permanent: true });
  const retried = await claimOne();
  await queue.markFailedOrRetry(retried.id, new Error('for good'), { workerId: 'w', claimSeq: retried.claimSeq, permanent: true });
  const running = await claimOne();
  await queue.progress(running.id, 0.25, { workerId: 'w', claimSeq: running.claimSeq });
  const asked = await claimOne();
  await queue.requestCancel(asked.id);
  const released = await claimOne();
  await queue.release('w', [released]);
  const lost = await claimOne('dead');
  await db.pool.query(`UPDATE jobq.log_batch SET locked_at = now() - interval '1 hour' WHERE worker = 'dead'`);
  assert.equal(await queue.recoverStale(60_000), 1, 'only the dead claim lapsed');
  const { job: cancelled } = await queue.enqueue(noop());
  await queue.requestCancel(cancelled.id);
  await queue.retry(retried.id);
  await queue.enqueue(noop());
  await queue.enqueue(noop({ delayMs: 60_000 }));
  const ids = (await db.pool.query<{ id: string }>('SELECT DISTINCT id FROM jobq.log_all UNION SELECT id FROM jobq.log_scheduled ORDER BY id')).rows.map((r) => r.id);
  const page = (await db.pool.query('SELECT * FROM jobq.log_jobs($1::uuid[])', [ids])).rows;
  assert.deepEqual(page.map((j) => j.id), ids, 'one row per id, in the order asked');
  for (const [n, id] of ids.entries()) {
    assert.deepEqual(page[n], (await db.pool.query('SELECT * FROM jobq.log_job($1)', [id])).rows[0], id);
  }
  const of = (id: string) => page.find((j) => j.id === id)!;
  assert.deepEqual([...new Set(page.map((j) => j.status))].sort(), ['cancelled', 'failed_permanent', 'queued', 'retrying', 'running', 'succeeded']);
  assert.deepEqual([of(archived.id).status, of(archived.id).result], ['succeeded', { old: true }], 'an archived job');
  assert.deepEqual([of(lost.id).status, of(lost.id).attempts], ['retrying', 1], 'the lost attempt counts');
  assert.deepEqual([of(released.id).status, of(released.id).attempts], ['queued', 0], 'a release gives the attempt back');
  assert.deepEqual([of(retried.id).status, of(retried.id).attempts, of(retried.id).errors.length], ['queued', 0, 1], 'an operator\'s retry keeps the history');
  assert.deepEqual([of(asked.id).status, of(asked.id).cancel_requested], ['running', true]);
  assert.equal(of(running.id).progress.value, 0.25);
  assert.deepEqual((await db.pool.query('SELECT * FROM jobq.log_jobs($1::uuid[])', [['00000000-0000-7000-8000-000000000000']])).rows, [], 'no row for an unknown id');
});

test('a claim for other kinds gives a log job back unspent, for a worker that has its kind a second later', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue } = await freshQueue({ ...LOG, clock: () => now });
  const { job } = await queue.enqueue(noop());
  assert.deepEqual(await queue.claim('w1', { limit: 10, kinds: ['send_email'] }), []);
  const back = (await queue.get(job.id))!;
  assert.deepEqual([back.status, back.attempts], ['queued', 0]);
  assert.deepEqual(await queue.claim('w2', { limit: 10, kinds: ['noop'] }), [], 'not before its second');
  now = new Date(now.getTime() + 1_000);
  const [claimed] = await queue.claim('w2', { limit: 10, kinds: ['noop'] });
  assert.deepEqual([claimed?.id, claimed?.attempts], [job.id, 1]);
});

test('a claim that passes a lane another claim holds comes back short saying more may be there; an empty one does not', async () => {
  const { queue, db } = await freshQueue(LOG);
  await queue.enqueueMany(Array.from({ length: 40 }, () => noop()));
  const { rows: [busy] } = await db.pool.query<{ lane: number; n: number }>('SELECT lane, count(*)::int AS n FROM jobq.log GROUP BY lane ORDER BY lane LIMIT 1');
  const holder = await db.pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT FROM jobq.log_cursor WHERE lane = $1 FOR UPDATE', [busy!.lane]);
    const first = await queue.claim('w', { limit: 100 });
    assert.equal(first.length, 40 - busy!.n, 'every lane but the held one');
    assert.equal(first.more, true);
    await holder.query('COMMIT');
  } finally {
    holder.release();
  }
  const rest = await queue.claim('w', { limit: 100 });
  assert.equal(rest.length, busy!.n);
  const none = await queue.claim('w', { limit: 100 });
  assert.deepEqual([none.length, none.more], [0, undefined]);
});

test('a policy set on a queue moves its waiting log jobs to rows, as they were; running ones finish in the log; the sweep moves strays', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue, db } = await freshQueue({ ...LOG, clock: () => now, backoff: { baseMs: 60_000, capMs: 60_000 } });
  const [failing, running, waiting] = await queue.enqueueMany([noop({ queue: 'p' }), noop({ queue: 'p' }), noop({ queue: 'p' })]);
  const later = await queue.enqueue(noop({ queue: 'p', delayMs: 60_000 }));
  const claimed = await queue.claim('w', { limit: 3, queues: ['p'] });
  const f = claimed.find((j) => j.id === failing!.job.id)!;
  await queue.markFailedOrRetry(f.id, new Error('first'), { workerId: 'w', claimSeq: f.claimSeq });
  await queue.release('w', claimed.filter((j) => j.id === waiting!.job.id));
  const before = await Promise.all([failing, running, waiting, later].map((r) => queue.get(r!.job.id)));
  assert.deepEqual(before.map((j) => j!.status), ['retrying', 'running', 'queued', 'queued']);

  await queue.setQueue('p', { concurrency: 1 });
  const rows = (await db.pool.query<{ id: string }>('SELECT id FROM jobq.jobs ORDER BY id')).rows.map((r) => r.id);
  assert.deepEqual(rows, [failing!.job.id, waiting!.job.id, later.job.id].sort(), 'the waiting ones, not the running one');
  const after = await Promise.all([failing, running, waiting, later].map((r) => queue.get(r!.job.id)));
  for (const k of ['status', 'attempts', 'runAt', 'lastError'] as const) assert.deepEqual(after.map((j) => j![k]), before.map((j) => j![k]), k);
  assert.deepEqual((await queue.list({ queue: 'p', limit: 10 })).jobs.map((j) => j.id), [failing, running, waiting, later].map((r) => r!.job.id).sort().reverse(), 'each once');
  assert.equal((await queue.stats()).byQueue.p!.queued + (await queue.stats()).byQueue.p!.retrying, 3);
  const next = await queue.enqueue(noop({ queue: 'p' }));
  assert.equal((await db.pool.query('SELECT count(*)::int AS n FROM jobq.jobs WHERE id = $1', [next.job.id])).rows[0].n, 1, 'new jobs of the queue are rows');
  await queue.complete('w', claimed.filter((j) => j.id === running!.job.id));
  assert.equal((await queue.get(running!.job.id))?.status, 'succeeded', 'the running one finished in the log');

  // An enqueue that routed to the log as the policy came: the sweep moves it.
  const stray = await queue.enqueue(noop({ queue: 'q' }));
  await db.pool.query(`INSERT INTO jobq.queues (name, concurrency) VALUES ('q', 2)`);
  await queue.sweep(60_000);
  assert.equal((await db.pool.query('SELECT count(*)::int AS n FROM jobq.jobs WHERE id = $1', [stray.job.id])).rows[0].n, 1);
  assert.equal((await queue.get(stray.job.id))?.status, 'queued');

  // Log jobs running when their queue got a policy append again (a retry, a release): the sweep moves those too.
  const [r1, r2] = await queue.enqueueMany([noop({ queue: 'r' }), noop({ queue: 'r' })]);
  const held = await queue.claim('w', { limit: 2, queues: ['r'] });
  assert.equal(held.length, 2);
  await queue.setQueue('r', { concurrency: 1 });
  const h1 = held.find((j) => j.id === r1!.job.id)!;
  await queue.markFailedOrRetry(h1.id, new Error('again'), { workerId: 'w', claimSeq: h1.claimSeq });
  await queue.release('w', held.filter((j) => j.id === r2!.job.id));
  await queue.sweep(60_000);
  const moved = new Map((await db.pool.query<{ id: string; status: string; attempts: number }>('SELECT id, status, attempts FROM jobq.jobs WHERE id = ANY($1)', [[r1!.job.id, r2!.job.id]])).rows.map((r) => [r.id, [r.status, r.attempts]]));
  assert.deepEqual(moved.get(r1!.job.id), ['retrying', 1], 'the retry is a row');
  assert.deepEqual(moved.get(r2!.job.id), ['queued', 0], 'the released job is a row');
  now = new Date(now.getTime() + 1);
});

test('the dashboard\'s jobs finished per minute count the log\'s: succeeded by batch positions, failed and cancelled by their fail rows', async () => {
  let now = new Date('2030-01-01T00:10:30Z');
  const { queue } = await freshQueue({ ...LOG, clock: () => now });
  await queue.enqueue(noop({ queue: 'q', priority: 1 })); // a row
  await queue.enqueueMany([noop({ queue: 'q' }), noop({ queue: 'q' }), noop({ queue: 'q' })]);
  const claimed = await queue.claim('w', { limit: 10 });
  const [row, ...logged] = claimed;
  assert.ok(row!.claimSeq > 0 && logged.every((j) => j.claimSeq < 0));
  await queue.complete('w', [row!, logged[0]!, logged[1]!]);
  now = new Date('2030-01-01T00:11:30Z');
  await queue.markFailedOrRetry(logged[2]!.id, new Error('x'), { workerId: 'w', claimSeq: logged[2]!.claimSeq, permanent: true });
  const { queue: cancelled } = { queue: await queue.enqueue(noop({ queue: 'q' })) };
  await queue.requestCancel(cancelled.job.id);
  const t = await queue.insights.throughput(3);
  assert.deepEqual(t.queues.q, { succeeded: [0, 3, 0], failed: [0, 0, 1], cancelled: [0, 0, 1] });
});

test('the dashboard\'s workers count the log jobs each runs, per batch', async () => {
  const { queue } = await freshQueue(LOG);
  assert.equal(await queue.registerWorker('w', 'instance', 30_000), null);
  await queue.enqueue(noop({ priority: 1 })); // a row
  await queue.enqueueMany([noop(), noop(), noop()]);
  const claimed = await queue.claim('w', { limit: 10 });
  const running = async () => (await queue.insights.workers()).find((w) => w.id === 'w')!.running;
  assert.equal(await running(), 4);
  await queue.complete('w', claimed.filter((j) => j.claimSeq < 0).slice(0, 2));
  assert.equal(await running(), 2);
  await queue.complete('w', claimed);
  assert.equal(await running(), 0);
});
