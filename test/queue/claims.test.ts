/**
 * Worker transitions are tied to the claim they belong to (issue #14, item 4): after a stall longer
 * than the lease, an earlier claim of the same worker id can no longer finish the attempt that
 * replaced it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isJobqError } from '../../src/errors.ts';
import { freshQueue } from '../helpers/fixtures.ts';

const notHeld = (err: unknown) => isJobqError(err, 'invalid_transition');

test('claim as w, lease expires, recovered, claimed again as w: the first claim changes nothing, the second completes', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  const { queue } = await freshQueue({ clock: () => now });
  const { job } = await queue.enqueue({ kind: 'noop', payload: {}, maxAttempts: 5 });
  const [first] = await queue.claim('w', { limit: 1 });
  now = new Date(now.getTime() + 60_000); // w stalls past its lease
  assert.equal(await queue.recoverStale(30_000), 1);
  const [second] = await queue.claim('w', { limit: 1 });
  assert.equal(second?.id, job.id);
  assert.notEqual(second!.claimSeq, first!.claimSeq);
  const lockedAt = (await queue.get(job.id))!.lockedAt!.getTime();
  now = new Date(now.getTime() + 1_000);

  // Every transition of the first claim is refused and leaves the second attempt running, untouched.
  const opts = { workerId: 'w', claimSeq: first!.claimSeq };
  await assert.rejects(queue.markFailedOrRetry(job.id, new Error('attempt 1 failed late'), opts), notHeld);
  await assert.rejects(queue.finalizeCancelled(job.id, opts), notHeld);
  assert.deepEqual(await queue.complete('w', [{ id: job.id, claimSeq: first!.claimSeq, result: 'attempt 1' }]), []);
  assert.deepEqual(await queue.renew('w', [first!]), { cancelRequested: [], lost: [first!.claimSeq] });
  assert.deepEqual(await queue.release('w', [first!]), []);
  const during = (await queue.get(job.id))!;
  assert.equal(during.status, 'running');
  assert.equal(during.claimSeq, second!.claimSeq);
  assert.equal(during.attempts, 2);
  assert.equal(during.lockedAt!.getTime(), lockedAt, 'the first claim did not renew the second one');
  assert.equal(during.result, null);

  // The second claim renews and completes.
  assert.deepEqual(await queue.renew('w', [second!]), { cancelRequested: [], lost: [] });
  assert.deepEqual(await queue.complete('w', [{ id: job.id, claimSeq: second!.claimSeq, result: { attempt: 2 } }]), [second!.claimSeq]);
  const done = (await queue.get(job.id))!;
  assert.equal(done.status, 'succeeded');
  assert.deepEqual(done.result, { attempt: 2 });
});

test('a guarded failure, cancellation and release apply to the claim that holds the job', async () => {
  const { queue } = await freshQueue();
  const [a, b, c] = await queue.enqueueMany([1, 2, 3].map(() => ({ kind: 'noop', payload: {}, maxAttempts: 5 })));
  const claims = await queue.claim('w', { limit: 3 });
  const seq = (id: string) => claims.find((j) => j.id === id)!.claimSeq!;
  const failed = await queue.markFailedOrRetry(a!.job.id, 'boom', { workerId: 'w', claimSeq: seq(a!.job.id) });
  assert.equal(failed.status, 'retrying');
  await queue.requestCancel(b!.job.id);
  assert.equal((await queue.finalizeCancelled(b!.job.id, { workerId: 'w', claimSeq: seq(b!.job.id) })).status, 'cancelled');
  const released = await queue.release('w', [{ id: c!.job.id, claimSeq: seq(c!.job.id) }]);
  assert.deepEqual(released.map((j) => j.status), ['queued']);
});

test('complete completes each claim with its own result, and a batch holding two claims of one job writes the one held', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  // One job's lease renewed and the other's not: the row store's leases are per job (the log's per claim batch).
  const { queue } = await freshQueue({ clock: () => now, logStore: false });
  const [x, y] = await queue.enqueueMany([{ kind: 'noop', payload: {} }, { kind: 'noop', payload: {} }]);
  const firstClaim = await queue.claim('w', { limit: 2 });
  const x1 = firstClaim.find((j) => j.id === x!.job.id)!;
  const y1 = firstClaim.find((j) => j.id === y!.job.id)!;
  now = new Date(now.getTime() + 60_000);
  await queue.renew('w', [y1]); // y is kept, x lapses
  now = new Date(now.getTime() + 1_000);
  assert.equal(await queue.recoverStale(30_000), 1);
  const [x2] = await queue.claim('w', { limit: 1 });
  const written = await queue.complete('w', [
    { id: x!.job.id, claimSeq: x1.claimSeq, result: 'stale' },
    { id: y!.job.id, claimSeq: y1.claimSeq }, // no result: stored as SQL NULL
    { id: x!.job.id, claimSeq: x2!.claimSeq, result: [null, 'fresh'] },
  ]);
  assert.deepEqual(written.sort(), [y1.claimSeq, x2!.claimSeq].sort());
  assert.deepEqual((await queue.get(x!.job.id))?.result, [null, 'fresh']);
  const yAfter = (await queue.get(y!.job.id))!;
  assert.equal(yAfter.status, 'succeeded');
  assert.equal(yAfter.result, null);
});
