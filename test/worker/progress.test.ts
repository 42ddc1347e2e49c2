/**
 * Progress (issue #19, item 2): a handler's `ctx.progress` is checked at once, rate-limited per job (the
 * first at once, then at most every 250 ms, the latest always stored before the outcome), guarded by
 * the claim, shown by GET /v1/jobs/{id}, published as `progress` events, and cleared by a retry.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { isJobqError } from '../../src/errors.ts';
import { PROGRESS_MESSAGE_MAX } from '../../src/queue/events/types.ts';
import * as Events from '../../src/queue/statements/events.ts';
import type { Queue } from '../../src/queue/queue.ts';
import type { ClaimedJob } from '../../src/queue/types.ts';
import { JobContext } from '../../src/worker/context.ts';
import { JobAbort } from '../../src/worker/execute.ts';
import type { Heartbeat } from '../../src/worker/heartbeat.ts';
import { Launcher } from '../../src/worker/launch.ts';
import { PROGRESS_INTERVAL_MS } from '../../src/worker/progress.ts';
import {
  body, briefEvent, buildTestApp, ISO_UTC, claimOne, countStatements, enqueuedFirst, freshQueue, kindsWithProbe, listenEvents, noopJob as noop, setup, silent, waitForStatus,
} from '../helpers/fixtures.ts';

/** The context a worker gives the handler of `job`, writing progress as the worker does (its Launcher). */
function contextOf(queue: Queue, job: ClaimedJob, workerId = 'w'): JobContext {
  const launcher = new Launcher({ queue, workerId, logger: silent, timeoutGraceMs: 1_000, events: new EventEmitter(), heartbeat: {} as Heartbeat });
  return new JobContext(job, new JobAbort(), silent, { renew: async () => {} }, launcher, (id) => queue.parents(id));
}

const stored = async (queue: Queue, id: string) => (await queue.get(id))!.progress;

/** The progress writes counted so far, to whichever store holds the job (the row's statement, or the log's). */
const progressWrites = (writes: Map<string, number>) => (writes.get('jobq_set_progress') ?? 0) + (writes.get('jobq_log_set_progress') ?? 0);

test('the first report is written at once, later ones at most every 250 ms; the latest wins, and a waiting one is flushed before the outcome', async (t) => {
  const { queue, db } = await freshQueue();
  await queue.enqueue(noop());
  const job = (await claimOne(queue, 'w'))!;
  const writes = countStatements(db.pool);
  const ctx = contextOf(queue, job);
  const T = 1_900_000_000_000;
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T });
  assert.equal(PROGRESS_INTERVAL_MS, 250);

  await ctx.progress(0.1);
  assert.deepEqual(await stored(queue, job.id), { value: 0.1, at: new Date(T).toISOString() });
  const superseded = [ctx.progress(0.2), ctx.progress({ current: 3, total: 10 }, 'three')];
  const last = ctx.progress(0.4, 'four');
  await Promise.all(superseded); // resolved: superseded by the later report
  assert.equal(progressWrites(writes), 1, 'nothing more written yet');
  t.mock.timers.tick(249);
  assert.equal(progressWrites(writes), 1, 'not before 250 ms');
  t.mock.timers.tick(1);
  assert.equal(progressWrites(writes), 2, 'the trailing write, at 250 ms');
  await last;
  assert.deepEqual(await stored(queue, job.id), { value: 0.4, message: 'four', at: new Date(T + 250).toISOString() });

  // A report made within the interval waits for its turn, unless the handler settles first.
  t.mock.timers.tick(10);
  const waiting = ctx.progress({ current: 9, total: 10 }, 'nine');
  assert.equal(progressWrites(writes), 2);
  const flushed = ctx.flushProgress();
  assert.ok(flushed, 'something was waiting');
  await flushed;
  await waiting;
  assert.equal(progressWrites(writes), 3);
  assert.deepEqual(await stored(queue, job.id), { value: 0.9, current: 9, total: 10, message: 'nine', at: new Date(T + 260).toISOString() });
  assert.equal(ctx.flushProgress(), undefined, 'nothing waits any more');
  t.mock.timers.tick(1_000);
  assert.equal(progressWrites(writes), 3, 'no write left behind');
});

test('bad input throws at once, to the handler, and writes nothing', async () => {
  const { queue, db } = await freshQueue();
  await queue.enqueue(noop());
  const job = (await claimOne(queue, 'w'))!;
  const writes = countStatements(db.pool);
  const ctx = contextOf(queue, job);
  const invalid = (path: string, message: RegExp) => (err: unknown) => isJobqError(err, 'validation_failed') && err.details?.[0]?.path === path && message.test(err.message);
  const cases: [unknown, unknown, (err: unknown) => boolean][] = [
    [1.5, undefined, invalid('/value', /from 0 to 1, got 1\.5/)],
    [-0.1, undefined, invalid('/value', /from 0 to 1/)],
    [Number.NaN, undefined, invalid('/value', /got NaN/)],
    [Number.POSITIVE_INFINITY, undefined, invalid('/value', /got Infinity/)],
    [{ current: 5, total: 0 }, undefined, invalid('/total', /above 0, got 0/)],
    [{ current: 11, total: 10 }, undefined, invalid('/current', /from 0 to total \(10\), got 11/)],
    [{ current: -1, total: 10 }, undefined, invalid('/current', /got -1/)],
    [0.5, 'x'.repeat(PROGRESS_MESSAGE_MAX + 1), invalid('/message', /at most 500 characters, got 501/)],
    ['0.5', undefined, (err) => err instanceof TypeError && /got string/.test(err.message)],
    [null, undefined, (err) => err instanceof TypeError && /got null/.test(err.message)],
    [{ current: 1 }, undefined, (err) => err instanceof TypeError && /total: undefined/.test(err.message)],
    [0.5, 42, (err) => err instanceof TypeError && /message must be a string, got number/.test(err.message)],
  ];
  for (const [value, message, check] of cases) {
    assert.throws(() => void ctx.progress(value as never, message as never), check, `${JSON.stringify(value)}, ${JSON.stringify(message)}`);
  }
  assert.equal(progressWrites(writes), 0);
  // The longest message is fine; NUL and lone surrogates (which jsonb refuses) become U+FFFD.
  await ctx.progress(1, 'y'.repeat(PROGRESS_MESSAGE_MAX));
  assert.equal((await stored(queue, job.id))!.message!.length, PROGRESS_MESSAGE_MAX);
  await ctx.flushProgress();
  assert.equal(await queue.progress(job.id, 0.5, { message: 'a\0b\uD800c' }), true);
  assert.equal((await stored(queue, job.id))!.message, 'a\uFFFDb\uFFFDc');
  await assert.rejects(queue.progress(job.id, 2), (err) => isJobqError(err, 'validation_failed'));
});

test('a report from a worker that lost the job changes nothing', async () => {
  let clock = new Date('2031-01-01T00:00:00Z');
  const { queue, db } = await freshQueue({ clock: () => clock });
  const { job } = await queue.enqueue(noop({ maxAttempts: 3 }));
  const first = (await claimOne(queue, 'w1'))!;
  assert.equal(await queue.progress(job.id, 0.3, { workerId: 'w1', claimSeq: first.claimSeq }), true);
  // Lost: recovered and claimed again, by a worker of the same id.
  clock = new Date(clock.getTime() + 60_000);
  assert.equal(await queue.recoverStale(30_000), 1);
  const second = (await claimOne(queue, 'w1'))!;
  const writes = countStatements(db.pool);
  const lost = contextOf(queue, first, 'w1');
  await lost.progress(0.9, 'from the lost attempt');
  assert.equal(progressWrites(writes), 1, 'tried');
  assert.equal(await queue.progress(job.id, 0.9, { workerId: 'other', claimSeq: second.claimSeq }), false, 'another worker');
  assert.equal(await queue.progress(job.id, 0.9, { workerId: 'w1', claimSeq: first.claimSeq }), false, 'an earlier claim');
  assert.equal((await stored(queue, job.id))!.value, 0.3);
  // The current claim's report is stored; once finished, none is.
  assert.equal(await queue.progress(job.id, 0.6, { workerId: 'w1', claimSeq: second.claimSeq }), true);
  await queue.complete('w1', [{ id: job.id, claimSeq: second.claimSeq }]);
  assert.equal(await queue.progress(job.id, 1, { workerId: 'w1', claimSeq: second.claimSeq }), false);
  assert.equal(await queue.progress('not-a-uuid', 1), false);
  assert.equal((await stored(queue, job.id))!.value, 0.6);
});

test('GET /v1/jobs/{id} shows the progress, a progress event carries it, and an operator\'s retry clears it', async () => {
  const { queue, db } = await freshQueue();
  const { app } = await buildTestApp({ queue });
  const listener = await listenEvents(db.url);
  await Events.registerListener(db.pool, { id: 'test', ttlMs: 60_000 });
  const { job } = await queue.enqueue(noop({ group: 'acme' }));
  const get = async () => body(await app.inject({ method: 'GET', url: `/v1/jobs/${job.id}` }));
  assert.equal((await get()).progress, null);
  const { jobs: [claimed] } = await queue.claimLimited('w', { queues: ['default'], limit: 1 });
  assert.equal(await queue.progress(job.id, { current: 2, total: 8 }, { workerId: 'w', claimSeq: claimed!.claimSeq, message: 'two of eight' }), true);
  const shown = (await get()).progress;
  assert.deepEqual({ ...shown, at: undefined }, { value: 0.25, current: 2, total: 8, message: 'two of eight', at: undefined });
  assert.match(shown.at, ISO_UTC);
  const listed = body(await app.inject({ method: 'GET', url: '/v1/jobs' })).jobs[0];
  assert.deepEqual(listed.progress, shown);

  await queue.publisher.flush();
  await listener.sentinel(db.pool);
  const event = listener.events.find((e) => e.type === 'progress')!;
  assert.deepEqual({ ...event, eventId: undefined }, {
    type: 'progress', id: job.id, queue: 'default', kind: 'noop', group: 'acme', status: 'running', attempt: 1, at: shown.at,
    progress: { value: 0.25, current: 2, total: 8, message: 'two of eight' }, eventId: undefined,
  });

  await queue.markFailedOrRetry(job.id, new Error('no'), { workerId: 'w', claimSeq: claimed!.claimSeq, permanent: true });
  assert.deepEqual((await get()).progress, shown, 'kept on the failed job');
  await app.inject({ method: 'POST', url: `/v1/jobs/${job.id}/retry` });
  assert.equal((await get()).progress, null);
});

test('a real worker: the handler\'s reports are stored and published, the last one before the job succeeds', async () => {
  const s = await setup(
    kindsWithProbe(async (p, ctx) => {
      for (let i = 1; i <= 20; i++) void ctx.progress({ current: i, total: 20 }, `step ${i}`);
      if (p.n === 2) {
        await ctx.progress(1, 'done'); // awaited: resolves once stored
        return (await s.queue.get(ctx.job.id))!.progress?.message;
      }
      return 'ok';
    }),
  );
  const listener = await listenEvents(s.db.url);
  await Events.registerListener(s.db.pool, { id: 'test', ttlMs: 60_000 });
  await s.worker();
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: { n: 1 } });
  const done = await waitForStatus(s.queue, job.id, 'succeeded');
  assert.deepEqual({ ...done.progress, at: undefined }, { value: 1, current: 20, total: 20, message: 'step 20', at: undefined });
  const { job: awaited } = await s.queue.enqueue({ kind: 'probe', payload: { n: 2 } });
  assert.equal((await waitForStatus(s.queue, awaited.id, 'succeeded')).result, 'done');

  await s.finished(job.id);
  await s.finished(awaited.id);
  await s.queue.publisher.flush();
  await listener.sentinel(s.db.pool);
  const of = (id: string) => listener.events.filter((e) => e.id === id).map((e) => `${briefEvent(e)}${e.progress ? ` ${e.progress.message}` : ''}`);
  const k = job.id.slice(-4);
  // The enqueue publishes after its commit, and the worker may start the job, report and finish first (enqueuedFirst).
  assert.deepEqual(enqueuedFirst(of(job.id)), [
    `enqueued ${k} queued #0`, `started ${k} running #1`,
    `progress ${k} running #1 step 1`, `progress ${k} running #1 step 20`,
    `succeeded ${k} succeeded #1`,
  ]);
  const a = awaited.id.slice(-4);
  assert.deepEqual(enqueuedFirst(of(awaited.id)), [
    `enqueued ${a} queued #0`, `started ${a} running #1`,
    `progress ${a} running #1 step 1`, `progress ${a} running #1 done`,
    `succeeded ${a} succeeded #1`,
  ]);
});
