/**
 * The original design's queue integration tests (../shared/seed/queue_integration_test.rs), ported
 * one for one. Each test names the seed test it ports; each gets a fresh database, as there.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { v7 as uuidv7 } from 'uuid';
import { isJobqError } from '../../src/errors.ts';
import type { NewJob } from '../../src/queue/types.ts';
import { freshQueue } from '../helpers/fixtures.ts';

const emailPayload = () => ({ to: 'a@b.c', subject: 'hi', body: 'hello' });
const email = (extra: Partial<NewJob> = {}): NewJob => ({ kind: 'send_email', payload: emailPayload(), ...extra });

// -------- enqueue --------

// seed: enqueue_creates_queued_row
test('enqueue creates a queued row with the defaults', async () => {
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

// seed: enqueue_validates_payload
test('enqueue validates the payload against its kind', async () => {
  const { queue } = await freshQueue();
  await assert.rejects(queue.enqueue({ kind: 'send_email', payload: { to: 'a@b.c' } }), (err) => isJobqError(err, 'payload_invalid'));
});

// seed: enqueue_idempotent_on_same_key
test('enqueue with the same idempotency key returns the same job, not new', async () => {
  const { queue } = await freshQueue();
  const key = 'user-42-welcome-email';
  const first = await queue.enqueue(email({ idempotencyKey: key }));
  assert.equal(first.isNew, true);
  const second = await queue.enqueue(email({ idempotencyKey: key }));
  assert.equal(second.isNew, false);
  assert.equal(second.job.id, first.job.id);
});

// -------- fetch_next --------

// seed: fetch_next_claims_queued_job
test('fetchNext claims a queued job', async () => {
  const { queue } = await freshQueue();
  const enqueued = await queue.enqueue(email());
  const claimed = await queue.fetchNext('worker-A');
  assert.ok(claimed, 'a job is available');
  assert.equal(claimed.id, enqueued.job.id);
  assert.equal(claimed.status, 'running');
  assert.equal(claimed.attempts, 1);
  assert.equal(claimed.lockedBy, 'worker-A');
  assert.ok(claimed.lockedAt instanceof Date);
});

// seed: fetch_next_returns_none_when_empty
test('fetchNext returns nothing when the queue is empty', async () => {
  const { queue } = await freshQueue();
  assert.equal(await queue.fetchNext('worker-A'), null);
});

// seed: fetch_next_skips_future_run_at
test('fetchNext skips a job whose run_at is in the future', async () => {
  const { queue } = await freshQueue();
  await queue.enqueue(email({ runAt: new Date(Date.now() + 3_600_000) }));
  assert.equal(await queue.fetchNext('worker-A'), null);
});

// seed: two_concurrent_workers_each_get_a_distinct_job
test('two concurrent claimers each get a distinct job (SKIP LOCKED)', async () => {
  const { queue } = await freshQueue();
  await queue.enqueue(email());
  await queue.enqueue(email());
  const [a, b] = await Promise.all([queue.fetchNext('w1'), queue.fetchNext('w2')]);
  assert.ok(a && b);
  assert.notEqual(a.id, b.id, 'two workers must claim distinct jobs under SKIP LOCKED');
});

// -------- mark_succeeded --------

// seed: mark_succeeded_transitions_running_to_succeeded
test('markSucceeded moves running to succeeded and clears the lock', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(email());
  await queue.fetchNext('w');
  await queue.markSucceeded(job.id);
  const after = await queue.get(job.id);
  assert.equal(after?.status, 'succeeded');
  assert.equal(after?.lockedBy, null);
  assert.equal(after?.lockedAt, null);
});

// seed: mark_succeeded_errors_when_not_running
test('markSucceeded of a job that is not running fails with invalid_transition', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(email());
  await assert.rejects(queue.markSucceeded(job.id), (err) => isJobqError(err, 'invalid_transition'));
});

// -------- retry / permanent failure --------

// seed: mark_failed_returns_to_retrying_with_future_run_at
test('markFailedOrRetry returns the job to retrying with run_at in the future', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(email({ maxAttempts: 3 }));
  const before = Date.now();
  await queue.fetchNext('w');
  const updated = await queue.markFailedOrRetry(job.id, 'boom');
  assert.equal(updated.status, 'retrying');
  assert.equal(updated.attempts, 1);
  assert.equal(updated.lastError, 'boom');
  assert.ok(updated.runAt.getTime() > before, 'run_at should be in the future');
});

// seed: mark_failed_lands_in_failed_permanent_at_max_attempts
test('markFailedOrRetry lands in failed_permanent at max_attempts', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(email({ maxAttempts: 1 }));
  await queue.fetchNext('w');
  const updated = await queue.markFailedOrRetry(job.id, 'fatal');
  assert.equal(updated.status, 'failed_permanent');
  assert.equal(updated.lastError, 'fatal');
});

// -------- cancellation --------

// seed: request_cancel_on_queued_cancels_immediately
test('requestCancel of a queued job cancels it at once', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(email());
  const out = await queue.requestCancel(job.id);
  assert.equal(out.outcome, 'cancelled');
  assert.equal((await queue.get(job.id))?.status, 'cancelled');
});

// seed: request_cancel_on_running_sets_pending_flag
test('requestCancel of a running job flags it; the worker finalises it', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(email());
  await queue.fetchNext('w');
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
test('requestCancel of a finished job is a no-op that reports its status', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(email());
  await queue.fetchNext('w');
  await queue.markSucceeded(job.id);
  const out = await queue.requestCancel(job.id);
  assert.equal(out.outcome, 'already_terminal');
  assert.equal(out.outcome === 'already_terminal' && out.status, 'succeeded');
  assert.equal((await queue.get(job.id))?.status, 'succeeded');
});

// seed: request_cancel_on_missing_id_returns_not_found
test('requestCancel of an unknown id fails with not_found', async () => {
  const { queue } = await freshQueue();
  await assert.rejects(queue.requestCancel(uuidv7()), (err) => isJobqError(err, 'not_found'));
});

// -------- recovery sweep --------

// seed: recover_stale_resets_old_running_rows
test('recoverStale puts a running job with a stale lock back to retrying', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue } = await freshQueue({ clock: () => now });
  const { job } = await queue.enqueue(email());
  await queue.fetchNext('doomed-worker');
  now = new Date(now.getTime() + 3_600_000); // the lock is now an hour old
  assert.equal(await queue.recoverStale(60_000), 1);
  const after = await queue.get(job.id);
  assert.equal(after?.status, 'retrying');
  assert.equal(after?.lockedBy, null);
});

// -------- list / get --------

// seed: list_filters_by_status_and_kind
test('list filters by status and by kind', async () => {
  const { queue } = await freshQueue();
  const a = await queue.enqueue(email());
  await queue.enqueue({ kind: 'summarize_text', payload: { text: 'lorem ipsum' } });
  await queue.fetchNext('w');
  await queue.markSucceeded(a.job.id);
  const succeeded = await queue.list({ status: 'succeeded' });
  assert.equal(succeeded.jobs.length, 1);
  assert.equal(succeeded.jobs[0]?.id, a.job.id);
  const summarize = await queue.list({ kind: 'summarize_text' });
  assert.equal(summarize.jobs.length, 1);
});

// seed: get_returns_none_for_unknown_id
test('get of an unknown id returns nothing, not an error', async () => {
  const { queue } = await freshQueue();
  assert.equal(await queue.get(uuidv7()), null);
});

// -------- jitter sanity at the integration layer --------

// seed: retry_run_at_advances_by_at_least_base_backoff
test('a retry pushes run_at forward by at least the base backoff', async () => {
  const { queue } = await freshQueue();
  const { job } = await queue.enqueue(email({ maxAttempts: 3 }));
  const before = Date.now();
  await queue.fetchNext('w');
  const updated = await queue.markFailedOrRetry(job.id, 'err');
  const delta = updated.runAt.getTime() - before;
  assert.ok(delta >= 900, `expected at least ~1s backoff, got ${delta} ms`);
});
