/**
 * Claiming, transitions and their guards, leases, release, recovery and retry; at the end, the original
 * design's queue tests that nothing else here asserts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { v7 as uuidv7 } from 'uuid';
import { seededRandom } from '../../src/queue/backoff.ts';
import { isJobqError, type JobqError } from '../../src/errors.ts';
import { Queue } from '../../src/queue/queue.ts';
import type { Job } from '../../src/queue/types.ts';
import { claimOne, emailJob as email, freshQueue, noopJob as noop, succeed, testKinds } from '../helpers/fixtures.ts';

const rejectsWith = (kind: string) => (err: unknown) => isJobqError(err) && err.kind === kind;

test('claim takes up to limit jobs, highest priority first, then oldest run_at', async () => {
  const t0 = new Date('2030-01-01T00:00:00Z');
  // The row store's claim order (the log keeps enqueue order within a lane, not run_at order across lanes: log-store.test.ts).
  const { queue } = await freshQueue({ clock: () => new Date(t0.getTime() + 10_000), logStore: false });
  const low = await queue.enqueue(noop({ runAt: new Date(t0.getTime() + 1) }));
  const oldLow = await queue.enqueue(noop({ runAt: t0 }));
  const high = await queue.enqueue(noop({ priority: 5, runAt: new Date(t0.getTime() + 2) }));
  const claimed = await queue.claim('w', { limit: 2 });
  assert.deepEqual(claimed.map((j) => j.id), [high.job.id, oldLow.job.id]);
  assert.deepEqual((await queue.claim('w', { limit: 10 })).map((j) => j.id), [low.job.id]);
  assert.deepEqual(await queue.claim('w', { limit: 10 }), []);
});

test('claim honours the queues filter', async () => {
  const { queue } = await freshQueue();
  const a = await queue.enqueue(noop({ queue: 'a' }));
  const b = await queue.enqueue(noop({ queue: 'b' }));
  assert.deepEqual((await queue.claim('w', { limit: 10, queues: ['b'] })).map((j) => j.id), [b.job.id]);
  assert.deepEqual((await queue.claim('w', { limit: 10, queues: ['b', 'c'] })).map((j) => j.id), []);
  assert.deepEqual((await queue.claim('w', { limit: 10 })).map((j) => j.id), [a.job.id]);
});

test('8 claimers racing over 2,000 jobs claim every job exactly once', async () => {
  const { queue, db } = await freshQueue();
  for (let i = 0; i < 2; i++) await queue.enqueueMany(Array.from({ length: 1000 }, () => noop()));
  const claimers = Array.from({ length: 8 }, (_, i) => {
    const q = new Queue({ pool: db.pool, kinds: testKinds() });
    return (opts: { limit: number }) => q.claim(`w${i}`, opts);
  });
  const seen = new Map<string, string>();
  await Promise.all(
    claimers.map(async (claim, i) => {
      for (;;) {
        const jobs = await claim({ limit: 7 });
        if (jobs.length === 0) return;
        for (const j of jobs) {
          assert.equal(seen.has(j.id), false, `job ${j.id} claimed twice`);
          seen.set(j.id, `w${i}`);
        }
      }
    }),
  );
  assert.equal(seen.size, 2000);
  assert.equal(new Set(seen.values()).size > 1, true, 'the work was spread over several claimers');
  // Every job as the queue reads it, from whichever store holds it: all pages of the listing.
  const held: Job[] = [];
  for (let cursor: string | undefined; ; ) {
    const page = await queue.list({ limit: 500, cursor });
    held.push(...page.jobs);
    if (page.nextCursor === null) break;
    cursor = page.nextCursor;
  }
  assert.equal(held.filter((j) => j.status === 'running' && j.attempts === 1).length, 2000);
  for (const j of held) assert.equal(j.lockedBy, seen.get(j.id), `job ${j.id} is held by the worker that claimed it`);
});

test('complete stores the result; a worker guard protects a job held by another worker', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(noop());
  const claim = (await claimOne(queue, 'w1'))!;
  assert.deepEqual(await queue.complete('w2', [{ ...claim, result: { ok: 1 } }]), [], "another worker's completion is refused");
  assert.equal((await queue.get(job.id))?.status, 'running');
  const done = await succeed(queue, 'w1', claim, { ok: 1 });
  assert.equal(done.status, 'succeeded');
  assert.deepEqual(done.result, { ok: 1 });
  assert.ok(done.finishedAt instanceof Date);
  assert.deepEqual(await queue.complete('w1', [{ ...claim, result: 'again' }]), [], 'a second completion is refused');
  assert.deepEqual((await queue.get(job.id))?.result, { ok: 1 });
  assert.deepEqual(await queue.complete('w1', [{ id: uuidv7(), claimSeq: claim.claimSeq }]), [], 'an unknown job');
  assert.deepEqual(await queue.complete('w1', [{ id: 'not-a-uuid', claimSeq: claim.claimSeq }]), [], 'not a job id');
  // A bare string result is stored as a JSON string, not mangled.
  await queue.enqueue(noop());
  assert.equal((await succeed(queue, 'w1', (await claimOne(queue, 'w1'))!, 'plain text')).result, 'plain text');
});

test('every transition that does not apply fails with invalid_transition and changes nothing', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(noop());
  const before = await queue.get(job.id);
  await assert.rejects(queue.markFailedOrRetry(job.id, 'x'), rejectsWith('invalid_transition'));
  await assert.rejects(queue.finalizeCancelled(job.id), rejectsWith('invalid_transition'));
  await assert.rejects(queue.retry(job.id), rejectsWith('invalid_transition'));
  assert.deepEqual(await queue.get(job.id), before);
  await assert.rejects(queue.markFailedOrRetry(uuidv7(), 'x'), rejectsWith('not_found'));
  await assert.rejects(queue.retry(uuidv7()), rejectsWith('not_found'));
  await assert.rejects(queue.finalizeCancelled(uuidv7()), rejectsWith('not_found'));
});

test('failures back off with decorrelated jitter, keep a bounded error history, then fail permanently', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue } = await freshQueue({ clock: () => now, random: seededRandom(7) });
  const { job } = await queue.enqueue(noop({ maxAttempts: 12 }));
  let previous = 0;
  for (let attempt = 1; attempt <= 12; attempt++) {
    now = new Date(now.getTime() + 3_600_000 * 2); // past any backoff
    const claimed = await claimOne(queue, 'w');
    assert.equal(claimed?.attempts, attempt);
    const failed = await queue.markFailedOrRetry(job.id, new Error(`boom ${attempt}`));
    assert.match(failed.lastError!, new RegExp(`^Error: boom ${attempt}\\n\\s+at `), 'message and stack');
    assert.ok(failed.errors.length <= 10);
    assert.equal(failed.errors.at(-1)?.attempt, attempt);
    if (attempt < 12) {
      assert.equal(failed.status, 'retrying');
      const delay = failed.runAt.getTime() - now.getTime();
      assert.equal(delay, failed.backoffMs);
      assert.ok(delay >= 1000 && delay <= (previous || 1000) * 3 && delay <= 3_600_000, `attempt ${attempt}: ${delay}`);
      previous = delay;
    } else {
      assert.equal(failed.status, 'failed_permanent');
      assert.ok(failed.finishedAt);
      assert.deepEqual(failed.errors.map((e) => e.attempt), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    }
  }
});

test('a permanent failure skips the remaining attempts; a failure after a cancel request cancels', async () => {
  const { queue } = await freshQueue();
  const a = await queue.enqueue(noop({ maxAttempts: 5 }));
  await claimOne(queue, 'w');
  assert.equal((await queue.markFailedOrRetry(a.job.id, 'bad input', { permanent: true })).status, 'failed_permanent');

  const b = await queue.enqueue(noop({ maxAttempts: 5 }));
  await claimOne(queue, 'w');
  await queue.requestCancel(b.job.id);
  const failed = await queue.markFailedOrRetry(b.job.id, new Error('aborted'));
  assert.equal(failed.status, 'cancelled', 'a cancelled job is never retried');
});

test('renew renews the lease, reports cancel requests and jobs the worker lost', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue } = await freshQueue({ clock: () => now });
  const enqueued = await queue.enqueueMany([noop(), noop(), noop()]);
  // The log store's lanes claim in any order: each claim is named by the job it took.
  const [ca, cb] = await queue.claim('w1', { limit: 2 });
  const cc = (await claimOne(queue, 'w2'))!;
  assert.deepEqual([ca!.id, cb!.id, cc.id].sort(), enqueued.map((r) => r.job.id).sort());
  await queue.requestCancel(cb!.id);
  now = new Date(now.getTime() + 20_000);
  const junk = { id: 'junk', claimSeq: cc.claimSeq + 1_000 };
  const hb = await queue.renew('w1', [ca!, cb!, cc, junk]);
  assert.deepEqual(hb.cancelRequested, [cb!.claimSeq]);
  assert.deepEqual(hb.lost.sort(), [cc.claimSeq, junk.claimSeq].sort());
  assert.equal((await queue.get(ca!.id))?.lockedAt?.getTime(), now.getTime());
  assert.notEqual((await queue.get(cc.id))?.lockedAt?.getTime(), now.getTime(), "another worker's lease is not touched");
  // The renewed lease is not stale 25 s later; the unrenewed one is.
  now = new Date(now.getTime() + 25_000);
  assert.equal(await queue.recoverStale(30_000), 1);
  assert.equal((await queue.get(cc.id))?.status, 'retrying');
  assert.equal((await queue.get(ca!.id))?.status, 'running');
});

test('recoverStale: no attempts left means failed_permanent saying the worker was lost', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue } = await freshQueue({ clock: () => now });
  const { job } = await queue.enqueue(noop({ maxAttempts: 1 }));
  const events: number[] = [];
  queue.events.on('recovered', (e) => events.push(e.jobs.length));
  await claimOne(queue, 'gone-worker');
  assert.equal(await queue.recoverStale(30_000), 0, 'a fresh lease is left alone');
  now = new Date(now.getTime() + 31_000);
  assert.equal(await queue.recoverStale(30_000), 1);
  const after = await queue.get(job.id);
  assert.equal(after?.status, 'failed_permanent');
  assert.match(after!.lastError!, /gone-worker lost the job/);
  assert.deepEqual(events, [1]);
});

test('release gives jobs back without spending the attempt, only for the worker holding them', async () => {
  const { queue } = await freshQueue();
  const enqueued = await queue.enqueueMany([noop(), noop()]);
  const ca = (await claimOne(queue, 'w1'))!;
  const cb = (await claimOne(queue, 'w2'))!;
  assert.deepEqual([ca.id, cb.id].sort(), enqueued.map((r) => r.job.id).sort());
  const released = await queue.release('w1', [ca, cb]);
  assert.deepEqual(released.map((j) => j.id), [ca.id]);
  const after = await queue.get(ca.id);
  assert.equal(after?.status, 'queued');
  assert.equal(after?.attempts, 0);
  assert.equal(after?.lockedBy, null);
  assert.equal((await queue.get(cb.id))?.status, 'running');
  assert.equal((await claimOne(queue, 'w3'))?.id, ca.id, 'a released job is claimable again');
});

test('retry brings a failed_permanent or cancelled job back to queued with attempts reset', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(noop({ maxAttempts: 1 }));
  await claimOne(queue, 'w');
  await queue.markFailedOrRetry(job.id, 'x');
  const again = await queue.retry(job.id);
  assert.equal(again.status, 'queued');
  assert.equal(again.attempts, 0);
  assert.equal(again.finishedAt, null);
  await assert.rejects(queue.retry(job.id), rejectsWith('invalid_transition'));
  const cancelled = await queue.enqueue(noop());
  await queue.requestCancel(cancelled.job.id);
  assert.equal((await queue.retry(cancelled.job.id)).status, 'queued');
});

test('requestCancel of a retrying job cancels it at once', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(noop());
  await claimOne(queue, 'w');
  await queue.markFailedOrRetry(job.id, 'x');
  const out = await queue.requestCancel(job.id);
  assert.equal(out.outcome, 'cancelled');
  assert.equal(out.job.status, 'cancelled');
  assert.equal((await claimOne(queue, 'w')), null);
});

test('errors leave the queue module as JobqError, never as driver errors', async () => {
  const { queue, db } = await freshQueue();
  await db.pool.end();
  await assert.rejects(queue.get(uuidv7()), (err: JobqError) => {
    assert.equal(err.name, 'JobqError');
    assert.equal(err.kind, 'database_unavailable');
    return true;
  });
});

test('complete completes only the jobs this worker holds, each with its own result', async () => {
  const { queue } = await freshQueue();
  const made = await queue.enqueueMany([noop(), noop(), noop()]);
  const [ca, cb] = await queue.claim('w1', { limit: 2 });
  const cc = (await claimOne(queue, 'w2'))!;
  // Whichever jobs each claim took (the log store keeps enqueue order within a lane only): all three, once.
  assert.deepEqual([ca!.id, cb!.id, cc.id].sort(), made.map((r) => r.job.id).sort());
  const done = await queue.complete('w1', [
    { ...ca!, result: { n: 1 } },
    { id: cb!.id, claimSeq: cb!.claimSeq },
    { id: cc.id, claimSeq: cc.claimSeq, result: 'not mine' },
  ]);
  assert.deepEqual(done.sort(), [ca!.claimSeq, cb!.claimSeq].sort());
  assert.deepEqual((await queue.get(ca!.id))?.result, { n: 1 });
  const bAfter = await queue.get(cb!.id);
  assert.equal(bAfter?.status, 'succeeded');
  assert.equal(bAfter?.result, null);
  assert.equal((await queue.get(cc.id))?.status, 'running', "another worker's job is untouched");
  assert.deepEqual(await queue.complete('w1', [{ id: ca!.id, claimSeq: ca!.claimSeq }]), [], 'a second completion changes nothing');
});

test('a claim from a cursor takes only later jobs of the same priority, in order', async () => {
  const t0 = new Date('2030-01-01T00:00:00Z');
  // The cursor (`after`) is the row store's claim's: the log's claims take no part in it (claiming.ts).
  const { queue } = await freshQueue({ clock: () => new Date(t0.getTime() + 60_000), logStore: false });
  const at = (ms: number) => new Date(t0.getTime() + ms);
  const [p0a, p0b, p0c, p5] = await queue.enqueueMany([
    noop({ runAt: at(1) }),
    noop({ runAt: at(2) }),
    noop({ runAt: at(3) }),
    noop({ runAt: at(0), priority: 5 }),
  ]);
  const first = await queue.claim('w', { limit: 1, after: p0a!.job });
  assert.deepEqual(first.map((j) => j.id), [p0b!.job.id], 'after p0a at priority 0: p0b, not the priority-5 job');
  assert.deepEqual((await queue.claim('w', { limit: 5, after: first[0]! })).map((j) => j.id), [p0c!.job.id]);
  assert.deepEqual((await queue.claim('w', { limit: 5, after: p0c!.job })).map((j) => j.id), [], 'nothing after the last');
  assert.deepEqual((await queue.claim('w', { limit: 5 })).map((j) => j.id), [p5!.job.id, p0a!.job.id], 'from the front: everything left');
});

test('a job its lost worker never started goes back to queued with its attempt given back', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  // The row store's start watermark over its claim numbers (the log's buffered jobs: log-store.test.ts).
  const { queue } = await freshQueue({ clock: () => now, logStore: false });
  const [a, b, c] = await queue.enqueueMany([noop({ maxAttempts: 1 }), noop({ maxAttempts: 1 }), noop({ maxAttempts: 1 })]);
  const claimed = await queue.claim('gone', { limit: 3, started: 1 }); // one in a slot, two buffered
  assert.deepEqual(claimed.map((j) => j.startedAt !== null), [true, false, false]);
  assert.ok(claimed[0]!.claimSeq < claimed[1]!.claimSeq && claimed[1]!.claimSeq < claimed[2]!.claimSeq, 'numbered in claim order');
  await queue.markStartedThrough('gone', claimed[1]!.claimSeq); // the second one started later
  await queue.markStartedThrough('gone', claimed[0]!.claimSeq); // a late, older write does not undo it
  // Another worker's watermark says nothing about these.
  const [d] = await queue.enqueueMany([noop({ maxAttempts: 1 })]);
  const [other] = await queue.claim('other', { limit: 1, started: 0 });
  await queue.markStartedThrough('other', other!.claimSeq);
  now = new Date(now.getTime() + 60_000);
  assert.equal(await queue.recoverStale(30_000), 4);
  const [ra, rb, rc, rd] = await Promise.all([a, b, c, d].map((r) => queue.get(r!.job.id)));
  assert.equal(ra?.status, 'failed_permanent', 'started, out of attempts');
  assert.equal(rb?.status, 'failed_permanent', 'started from the buffer: the attempt counts');
  assert.equal(rd?.status, 'failed_permanent', 'started by the other worker');
  assert.equal(rc?.status, 'queued', 'never started: not an attempt');
  assert.equal(rc?.attempts, 0);
  assert.deepEqual(rc?.errors, []);
  assert.equal(rc?.startedAt, null);
  assert.equal((await claimOne(queue, 'next'))?.id, c!.job.id, 'and it is claimable at once');
});

test("claim returns the stored job's fields a worker runs it with, in claim order", async () => {
  const t0 = new Date('2030-01-01T00:00:00.123Z');
  // The row store's claim: its order across queues and its positive claim numbers (the log's: log-store.test.ts).
  const { queue } = await freshQueue({ clock: () => new Date(t0.getTime() + 1_000), logStore: false });
  const made = await queue.enqueueMany([
    noop({ runAt: t0, timeoutMs: 1_500, maxAttempts: 7, queue: 'q1', payload: { sleep_ms: 5 } }),
    noop({ runAt: new Date(t0.getTime() + 1), priority: 3 }),
    noop({ runAt: t0 }),
  ]);
  const lean = await queue.claim('w', { limit: 2, started: 1 });
  const rest = await queue.claim('w', { limit: 2 });
  assert.deepEqual(lean.map((j) => j.id), [made[1]!.job.id, made[0]!.job.id], 'priority first, then run_at');
  assert.deepEqual(rest.map((j) => j.id), [made[2]!.job.id]);
  for (const j of lean) {
    const full = (await queue.get(j.id))!;
    assert.deepEqual(j, {
      id: full.id, queue: full.queue, kind: full.kind, payload: full.payload, priority: full.priority, attempts: full.attempts,
      maxAttempts: full.maxAttempts, runAt: full.runAt, timeoutMs: full.timeoutMs, backoffMs: full.backoffMs, startedAt: full.startedAt,
      group: full.group, claimSeq: j.claimSeq, launchedAtMs: undefined,
      traceContext: null, // no OpenTelemetry SDK in this process: test/tracing/ claims stored ones
    });
    assert.ok(Number.isSafeInteger(j.claimSeq) && j.claimSeq > 0);
  }
  assert.equal(lean[0]!.startedAt?.getTime(), t0.getTime() + 1_000, 'the first starts now');
  assert.equal(lean[1]!.startedAt, null, 'the second waits in the buffer');
  assert.equal(lean[1]!.timeoutMs, 1_500);
});

test("the sweeper forgets a worker's start watermark an hour after its last write, unless it still holds running jobs", async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { db, queue } = await freshQueue({ clock: () => now });
  await queue.enqueueMany([noop()]);
  const [held] = await queue.claim('busy', { limit: 1, started: 0 });
  await queue.markStartedThrough('busy', held!.claimSeq);
  await queue.markStartedThrough('idle', held!.claimSeq);
  now = new Date(now.getTime() + 59 * 60_000);
  await queue.renew('busy', [held!]);
  await queue.sweep(30_000);
  const workers = async () => (await db.pool.query(`SELECT id FROM jobq.workers ORDER BY id`)).rows.map((r) => r.id);
  assert.deepEqual(await workers(), ['busy', 'idle'], 'not an hour yet');
  now = new Date(now.getTime() + 2 * 60_000);
  await queue.renew('busy', [held!]);
  assert.deepEqual(await queue.sweep(30_000), { recovered: 0, pruned: 0 });
  assert.deepEqual(await workers(), ['busy'], 'idle is forgotten; busy still holds a running job');
});

// The original design's queue tests (../shared/seed/queue_integration_test.rs) that no test above
// already asserts, each naming the seed test it ports. The others are covered: enqueue_validates_payload
// by enqueue.test.ts ('payload_invalid details name the offending fields'), enqueue_idempotent_on_same_key
// by enqueue.test.ts ('payload key order does not make a conflict', 'the same key from 20 connections'),
// fetch_next_returns_none_when_empty by 'claim takes up to limit jobs', two_concurrent_workers_each_get_a_distinct_job
// by '8 claimers racing over 2,000 jobs', mark_failed_returns_to_retrying_with_future_run_at,
// mark_failed_lands_in_failed_permanent_at_max_attempts and retry_run_at_advances_by_at_least_base_backoff
// by 'failures back off with decorrelated jitter', list_filters_by_status_and_kind by query.test.ts
// ('list filters combine').

// seed: enqueue_creates_queued_row
test("a new job is queued, unattempted, with its kind's default max_attempts, no error and no cancel request", async () => {
  const { queue } = await freshQueue();
  const out = await queue.enqueue(email());
  assert.equal(out.isNew, true);
  assert.equal(out.job.status, 'queued');
  assert.equal(out.job.attempts, 0);
  assert.equal(out.job.maxAttempts, 3);
  assert.equal(out.job.kind, 'send_email');
  assert.equal(out.job.lastError, null);
  assert.equal(out.job.cancelRequested, false);
});

// seed: fetch_next_claims_queued_job
test('a claimed job is running, on its first attempt, locked by the claiming worker since the claim', async () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const { queue } = await freshQueue({ clock: () => now });
  const enqueued = await queue.enqueue(email());
  const [claimed] = await queue.claim('worker-A', { limit: 1 });
  assert.equal(claimed?.id, enqueued.job.id);
  const job = await queue.get(enqueued.job.id);
  assert.equal(job?.status, 'running');
  assert.equal(job?.attempts, 1);
  assert.equal(job?.lockedBy, 'worker-A');
  assert.equal(job?.lockedAt?.getTime(), now.getTime());
});

// seed: fetch_next_skips_future_run_at
test('a job whose run_at is in the future is not claimed until then', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue } = await freshQueue({ clock: () => now });
  const { job } = await queue.enqueue(email({ runAt: new Date(now.getTime() + 3_600_000) }));
  assert.deepEqual(await queue.claim('worker-A', { limit: 10 }), []);
  now = new Date(now.getTime() + 3_600_000);
  assert.deepEqual((await queue.claim('worker-A', { limit: 10 })).map((j) => j.id), [job.id]);
});

// seed: mark_succeeded_transitions_running_to_succeeded
test('a job completed by its worker is succeeded and no longer locked', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(email());
  await succeed(queue, 'w', (await claimOne(queue, 'w'))!);
  const after = await queue.get(job.id);
  assert.equal(after?.status, 'succeeded');
  assert.equal(after?.lockedBy, null);
  assert.equal(after?.lockedAt, null);
});

// seed: mark_succeeded_errors_when_not_running
test('completing a job no worker claimed changes nothing', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(email());
  assert.deepEqual(await queue.complete('w', [{ id: job.id, claimSeq: 1 }]), []);
  assert.equal((await queue.get(job.id))?.status, 'queued');
});

// seed: request_cancel_on_queued_cancels_immediately
test('requestCancel of a queued job cancels it at once', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(email());
  const out = await queue.requestCancel(job.id);
  assert.equal(out.outcome, 'cancelled');
  assert.equal((await queue.get(job.id))?.status, 'cancelled');
});

// seed: request_cancel_on_running_sets_pending_flag
test('requestCancel of a running job only flags it; the worker finalises it cancelled', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(email());
  await queue.claim('w', { limit: 1 });
  const out = await queue.requestCancel(job.id);
  assert.equal(out.outcome, 'cancel_requested');
  let after = await queue.get(job.id);
  assert.equal(after?.cancelRequested, true);
  assert.equal(after?.status, 'running');
  await queue.finalizeCancelled(job.id);
  after = await queue.get(job.id);
  assert.equal(after?.status, 'cancelled');
});

// seed: request_cancel_on_terminal_is_noop
test('requestCancel of a finished job changes nothing and reports its status', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(email());
  await succeed(queue, 'w', (await claimOne(queue, 'w'))!);
  const out = await queue.requestCancel(job.id);
  assert.equal(out.outcome, 'already_terminal');
  assert.equal(out.outcome === 'already_terminal' && out.status, 'succeeded');
  assert.equal((await queue.get(job.id))?.status, 'succeeded');
});

// seed: request_cancel_on_missing_id_returns_not_found
test('requestCancel of an unknown id fails with not_found', async () => {
  const { queue } = await freshQueue();
  await assert.rejects(queue.requestCancel(uuidv7()), rejectsWith('not_found'));
});

// seed: recover_stale_resets_old_running_rows
test('recoverStale puts a running job whose lease is older than the limit back to retrying, unlocked', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue } = await freshQueue({ clock: () => now });
  const { job } = await queue.enqueue(email());
  await queue.claim('doomed-worker', { limit: 1 });
  now = new Date(now.getTime() + 3_600_000); // the lease is now an hour old
  assert.equal(await queue.recoverStale(60_000), 1);
  const after = await queue.get(job.id);
  assert.equal(after?.status, 'retrying');
  assert.equal(after?.lockedBy, null);
});

// seed: get_returns_none_for_unknown_id
test('get of an unknown id returns null, not an error', async () => {
  const { queue } = await freshQueue();
  assert.equal(await queue.get(uuidv7()), null);
});
