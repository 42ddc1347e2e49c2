/**
 * Claiming under queue policies and between groups (jobq.claim_limited, docs/flow-control.md), on the
 * database's answers alone: a fixed clock (the clock seam) makes rate windows exact.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Queue } from '../../src/queue/queue.ts';
import type { ClaimedJob, NewJob } from '../../src/queue/types.ts';
import { freshQueue, noopJob, succeed } from '../helpers/fixtures.ts';

const T0 = Date.parse('2030-01-01T00:00:00Z');

/** A queue whose database time is `clock.now` (ms), which the test moves. */
async function clocked(): Promise<{ queue: Queue; clock: { now: number } }> {
  const clock = { now: T0 };
  const { queue } = await freshQueue({ clock: () => new Date(clock.now) });
  return { queue, clock };
}

const many = (n: number, job: Partial<NewJob> = {}) => Array.from({ length: n }, () => noopJob(job));
const groupsOf = (jobs: ClaimedJob[]) => jobs.map((j) => j.group);

test('concurrency: a queue gives at most its limit minus what runs on any worker, and a finished job frees its slot', async () => {
  const { queue } = await clocked();
  await queue.setQueue('c', { concurrency: 3 });
  await queue.enqueueMany(many(10, { queue: 'c' }));
  const first = await queue.claimLimited('w1', { queues: ['c'], limit: 10 });
  assert.equal(first.jobs.length, 3);
  assert.ok(first.jobs.every((j) => j.startedAt !== null), 'every job claimed here has started: no buffer');
  assert.deepEqual(first.throttles, [{ queue: 'c', state: 'concurrency', held: 7, waitMs: null }]);
  const second = await queue.claimLimited('w2', { queues: ['c'], limit: 10 });
  assert.deepEqual([second.jobs.length, second.throttles[0]?.state], [0, 'concurrency'], 'another worker gets nothing: the slots are taken fleet-wide');
  await succeed(queue, 'w1', first.jobs[0]!);
  const third = await queue.claimLimited('w2', { queues: ['c'], limit: 10 });
  assert.equal(third.jobs.length, 1);
  // A job of the queue that the ordinary claim took (a worker that had not seen the policy yet) counts too.
  await queue.setQueue('c', { concurrency: 4 });
  const plain = await queue.claim('w3', { limit: 1, queues: ['c'] });
  assert.equal(plain.length, 1);
  assert.equal((await queue.claimLimited('w2', { queues: ['c'], limit: 10 })).jobs.length, 0, '2 + 1 claimed here and 1 by the ordinary claim: 4');
});

test('rate: at most `limit` starts in any window of `period`, sliding, retries counted; the answer says when the window has room', async () => {
  const { queue, clock } = await clocked();
  await queue.setQueue('r', { rate: { limit: 5, periodMs: 1_000 } });
  await queue.enqueueMany(many(12, { queue: 'r', maxAttempts: 5 }));
  const a = await queue.claimLimited('w', { queues: ['r'], limit: 2 });
  assert.equal(a.jobs.length, 2);
  assert.deepEqual(a.throttles, [], 'it gave all it was offered');
  clock.now = T0 + 500;
  const b = await queue.claimLimited('w', { queues: ['r'], limit: 10 });
  assert.equal(b.jobs.length, 3);
  assert.deepEqual(b.throttles, [{ queue: 'r', state: 'rate', held: 7, waitMs: 500 }], 'room again when the starts at T0 leave the window');
  clock.now = T0 + 999;
  const c = await queue.claimLimited('w', { queues: ['r'], limit: 10 });
  assert.deepEqual([c.jobs.length, c.throttles[0]?.waitMs], [0, 1]);
  // A fixed window would allow 5 more at T0 + 1000 on top of the 3 of T0 + 500: the sliding one allows
  // the 2 that left it.
  clock.now = T0 + 1_000;
  const d = await queue.claimLimited('w', { queues: ['r'], limit: 10 });
  assert.equal(d.jobs.length, 2);
  assert.equal(d.throttles[0]?.waitMs, 500);
  // A failed attempt retried counts as a start when it starts again.
  await queue.markFailedOrRetry(d.jobs[0]!.id, 'boom', { workerId: 'w', claimSeq: d.jobs[0]!.claimSeq });
  clock.now = T0 + 1_500;
  const e = await queue.claimLimited('w', { queues: ['r'], limit: 10 });
  assert.equal(e.jobs.length, 3, 'the 3 of T0 + 500 left the window');
  clock.now = T0 + 3_600_000; // the retry's backoff has passed
  const f = await queue.claimLimited('w', { queues: ['r'], limit: 10 });
  assert.equal(f.jobs.length, 3, 'the last two, and the retry');
  assert.ok(f.jobs.some((j) => j.id === d.jobs[0]!.id && j.attempts === 2), 'the retried job started again, within the limit');
});

test('paused: nothing starts, enqueues are accepted, the jobs held are reported; resumed, they start', async () => {
  const { queue } = await clocked();
  await queue.enqueueMany(many(4, { queue: 'p' }));
  await queue.pauseQueue('p');
  const { job } = await queue.enqueue(noopJob({ queue: 'p' }));
  assert.equal(job.status, 'queued');
  assert.deepEqual(await queue.claimLimited('w', { queues: ['p'], limit: 3 }), { jobs: [], throttles: [{ queue: 'p', state: 'paused', held: 3, waitMs: null }] });
  assert.deepEqual(await queue.claim('w', { limit: 10, exclude: ['p'] }), [], 'the ordinary claim leaves the queue out when told to');
  // Resumed, the queue has no policy left: its jobs are the ordinary claim's again.
  await queue.resumeQueue('p');
  assert.deepEqual(await queue.claimLimited('w', { queues: ['p'], limit: 10 }), { jobs: [], throttles: [{ queue: 'p', state: 'empty', held: 0, waitMs: null }] });
  assert.equal((await queue.claim('w', { limit: 10, exclude: [] })).length, 5);
});

test('groups: a group with many waiting jobs does not delay one with few; turns go on from claim to claim', async () => {
  const { queue } = await clocked();
  await queue.enqueueMany(many(50, { queue: 'g', group: 'big' }));
  await queue.enqueueMany(many(3, { queue: 'g', group: 'small' }));
  await queue.enqueueMany(many(2, { queue: 'g', group: 'mid' }));
  const first = await queue.claimLimited('w', { queues: ['g'], limit: 6 });
  assert.deepEqual(groupsOf(first.jobs), ['big', 'mid', 'small', 'big', 'mid', 'small']);
  // One at a time, the round goes on where the last claim stopped.
  const next: (string | null)[] = [];
  for (let i = 0; i < 4; i++) next.push(...groupsOf((await queue.claimLimited('w', { queues: ['g'], limit: 1 })).jobs));
  assert.deepEqual(next, ['big', 'small', 'big', 'big']);
  assert.deepEqual(await queue.claim('w', { limit: 100 }), [], 'jobs that carry a group are never taken by the ordinary claim');
});

test('group_concurrency: at most N running per group; a group at its limit is skipped, the others go on', async () => {
  const { queue } = await clocked();
  await queue.setQueue('gc', { groupConcurrency: 2 });
  await queue.enqueueMany([...many(10, { queue: 'gc', group: 'a' }), ...many(10, { queue: 'gc', group: 'b' }), ...many(1, { queue: 'gc', group: 'c' })]);
  const first = await queue.claimLimited('w', { queues: ['gc'], limit: 10 });
  assert.deepEqual(groupsOf(first.jobs).sort(), ['a', 'a', 'b', 'b', 'c']);
  assert.deepEqual(first.throttles, [{ queue: 'gc', state: 'group', held: 5, waitMs: null }]);
  await succeed(queue, 'w', first.jobs.find((j) => j.group === 'b')!);
  const second = await queue.claimLimited('w', { queues: ['gc'], limit: 10 });
  assert.deepEqual(groupsOf(second.jobs), ['b']);
});

test('a queue with a policy gives its jobs without a group a turn of their own between the groups', async () => {
  const { queue } = await clocked();
  await queue.setQueue('m', { concurrency: 100 });
  await queue.enqueueMany([...many(20, { queue: 'm', group: 'x' }), ...many(2, { queue: 'm' })]);
  const { jobs } = await queue.claimLimited('w', { queues: ['m'], limit: 4 });
  assert.deepEqual(groupsOf(jobs), [null, 'x', null, 'x']);
  // Without a policy, jobs without a group are the ordinary claim's.
  await queue.enqueueMany([...many(3, { queue: 'n', group: 'x' }), ...many(2, { queue: 'n' })]);
  assert.deepEqual(groupsOf((await queue.claimLimited('w', { queues: ['n'], limit: 10 })).jobs), ['x', 'x', 'x']);
  assert.deepEqual(groupsOf(await queue.claim('w', { limit: 10, queues: ['n'] })), [null, null]);
});

test('several queues share the room in the order given, each under its own policy; an empty one says so', async () => {
  const { queue } = await clocked();
  await queue.setQueue('a', { concurrency: 2 });
  await queue.setQueue('b', { concurrency: 10 });
  await queue.setQueue('e', { concurrency: 10 });
  await queue.enqueueMany([...many(5, { queue: 'a' }), ...many(5, { queue: 'b' })]);
  const { jobs, throttles } = await queue.claimLimited('w', { queues: ['e', 'a', 'b'], limit: 6 });
  assert.deepEqual(jobs.map((j) => j.queue), ['a', 'a', 'b', 'b', 'b', 'b']);
  assert.deepEqual(throttles, [
    { queue: 'e', state: 'empty', held: 0, waitMs: null },
    { queue: 'a', state: 'concurrency', held: 3, waitMs: null },
  ]);
  assert.deepEqual(jobs.map((j) => j.claimSeq - jobs[0]!.claimSeq), [0, 1, 2, 3, 4, 5], 'one claim, numbered in order');
});

test('kinds: a worker is given only the kinds it has handlers for', async () => {
  const { queue } = await clocked();
  await queue.setQueue('k', { concurrency: 5 });
  await queue.enqueueMany([noopJob({ queue: 'k' }), { kind: 'summarize_text', payload: { text: 'A. B.' }, queue: 'k' }, noopJob({ queue: 'k', group: 'g' })]);
  const { jobs } = await queue.claimLimited('w', { queues: ['k'], limit: 5, kinds: ['summarize_text'] });
  assert.deepEqual(jobs.map((j) => j.kind), ['summarize_text']);
});
