/**
 * A worker's side of job events: its LISTEN connection turns the publisher on as soon as a listener
 * registers (not at the next re-check), and jobs that waited in its buffer publish `started` when they
 * start, always before their outcome.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as Events from '../../src/queue/statements/events.ts';
import type { ClaimedJob } from '../../src/queue/types.ts';
import { briefEvent, countStatements, enqueuedFirst, eventually, kindsWithProbe, listenEvents, setup, testKinds } from '../helpers/fixtures.ts';

test('a listener registering turns a running worker\'s publisher on through its notification, before any re-check', async () => {
  // No re-check within the test: only the LISTENERS_CHANNEL notification can turn the gate on.
  const s = await setup(testKinds(), { publish: { recheckMs: 3_600_000 } });
  const counts = countStatements(s.db.pool);
  const listener = await listenEvents(s.db.url);
  await s.worker();
  const before = await s.queue.enqueue({ kind: 'noop', payload: {} });
  await s.finished(before.job.id);
  await s.queue.publisher.flush();
  assert.equal(s.queue.publisher.live, false);
  assert.equal(counts.get('jobq_listeners_live'), 1);

  await Events.registerListener(s.db.pool, { id: 'watcher', ttlMs: 60_000 });
  await eventually(() => (s.queue.publisher.live ? true : undefined), 10_000, 'the publisher to turn on');
  const { job } = await s.queue.enqueue({ kind: 'noop', payload: {} });
  await s.finished(job.id);
  await s.queue.publisher.flush();
  await listener.sentinel(s.db.pool);
  const k = job.id.slice(-4);
  // The enqueue publishes after its commit, and the worker may start, and even finish, the job first (enqueuedFirst).
  assert.deepEqual(enqueuedFirst(listener.events.map(briefEvent)), [`enqueued ${k} queued #0`, `started ${k} running #1`, `succeeded ${k} succeeded #1`]);
  assert.equal(counts.get('jobq_listeners_live'), 1, 'no look-up: the notification did it');
});

test('jobs that waited in the worker\'s buffer publish started when they start, before their outcome; each job its events once', async () => {
  const s = await setup(kindsWithProbe(() => new Promise((r) => setTimeout(r, 5))));
  const listener = await listenEvents(s.db.url);
  await Events.registerListener(s.db.pool, { id: 'watcher', ttlMs: 60_000 });
  const jobs = (await s.queue.enqueueMany(Array.from({ length: 40 }, () => ({ kind: 'probe', payload: {} })))).map((r) => r.job);
  const starts: ClaimedJob[] = [];
  const worker = await s.worker({ concurrency: 2 });
  worker.events.on('job:start', ({ job }) => starts.push(job));
  for (const j of jobs) await s.finished(j.id);
  assert.ok(starts.some((j) => j.startedAt === null), 'some jobs waited in the buffer');
  await s.queue.publisher.flush();
  await listener.sentinel(s.db.pool);
  for (const j of jobs) {
    const k = j.id.slice(-4);
    assert.deepEqual(listener.events.filter((e) => e.id === j.id).map(briefEvent), [`enqueued ${k} queued #0`, `started ${k} running #1`, `succeeded ${k} succeeded #1`]);
  }
  assert.equal(listener.events.length, jobs.length * 3);
});
