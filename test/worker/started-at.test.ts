/**
 * started_at is when an attempt really started, also for jobs a worker claimed ahead of a free slot
 * (its buffer): the claim records no start for those (functions.sql), so the worker says when it started
 * each one with its outcome, succeeded or failed. The dashboard's wait and run times rest on it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PermanentError } from '../../src/kinds/registry.ts';
import { deferred, eventually, kindsWithProbe, setup } from '../helpers/fixtures.ts';

test('with one slot and a backlog, each job started after the one before it ended, and its started_at says so', async () => {
  const runs = new Map<number, { start: number; end: number }>();
  const gate = deferred<void>();
  const s = await setup(
    kindsWithProbe(async ({ n }) => {
      const start = Date.now();
      await gate.promise;
      await new Promise((resolve) => setTimeout(resolve, 5));
      runs.set(n!, { start, end: Date.now() });
      if (n === 3) throw new PermanentError('the third one fails');
      return n;
    }),
  );
  const jobs: { id: string }[] = [];
  for (let n = 1; n <= 6; n++) jobs.push((await s.queue.enqueue({ kind: 'probe', payload: { n }, maxAttempts: 1 })).job);
  await s.worker({ concurrency: 1 });
  // The first job runs (held by the gate); the worker claims more into its buffer meanwhile.
  await eventually(async () => ((await s.queue.stats()).byStatus.running >= 2 ? true : undefined), 10_000, 'a job claimed into the buffer');
  const [buffered] = (await s.queue.list({ status: 'running' })).jobs.filter((j) => j.startedAt === null);
  assert.ok(buffered, 'a running job without started_at: claimed ahead of a free slot');
  gate.resolve();
  const done = await eventually(async () => {
    const all = await Promise.all(jobs.map((j) => s.queue.get(j.id)));
    return all.every((j) => j?.finishedAt) ? all.map((j) => j!) : undefined;
  }, 10_000, 'all six finished');
  assert.deepEqual(done.map((j) => j.status), ['succeeded', 'succeeded', 'failed_permanent', 'succeeded', 'succeeded', 'succeeded']);
  // In the order they ran: the log store keeps FIFO within a lane only (docs/design/storage.md, "Lanes").
  const ran = [1, 2, 3, 4, 5, 6].sort((a, b) => runs.get(a)!.start - runs.get(b)!.start);
  for (let i = 1; i < ran.length; i++) {
    const [p, n] = [ran[i - 1]!, ran[i]!];
    const job = done[n - 1]!;
    assert.ok(job.startedAt, `job ${n} has started_at`);
    const started = job.startedAt.getTime();
    // Causal: the one slot was free only once job p's handler (the one before) had ended, and job n's handler ran after its start.
    assert.ok(started >= runs.get(p)!.end, `job ${n} started at ${started}, before job ${p} ended at ${runs.get(p)!.end}`);
    assert.ok(started <= runs.get(n)!.start, `job ${n} started at ${started}, after its handler began at ${runs.get(n)!.start}`);
    assert.ok(started <= job.finishedAt!.getTime());
  }
});

test("a caller's start that is no instant (NaN, negative, past 9999) is dropped: the outcome is still written", async () => {
  const s = await setup();
  const made = await s.queue.enqueueMany([{ kind: 'noop', payload: {} }, { kind: 'noop', payload: {} }, { kind: 'noop', payload: {} }]);
  const claimed = await s.queue.claim('w', { limit: 3, started: 0 });
  assert.equal(claimed.length, 3);
  const [a, b, c] = claimed;
  const done = await s.queue.complete('w', [{ ...a!, launchedAtMs: Number.NaN }, { ...b!, launchedAtMs: -1 }]);
  assert.equal(done.length, 2);
  const failed = await s.queue.markFailedOrRetry(c!.id, new Error('x'), { workerId: 'w', claimSeq: c!.claimSeq, permanent: true, launchedAtMs: 1e20 });
  assert.equal(failed.status, 'failed_permanent');
  for (const { job } of made) assert.equal((await s.queue.get(job.id))?.startedAt, null, 'no start was recorded for these');
});
