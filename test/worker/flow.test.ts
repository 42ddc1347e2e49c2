/**
 * A worker under flow control (src/worker/flow.ts), in process: policies that bind while it runs, the
 * wake-ups that keep a limited queue busy without a poll tick (a freed slot, a rate window's room),
 * buffered jobs given back when their queue gets a policy, groups in turns, and a mixed worker that
 * starves neither kind of queue. The poll interval is a minute unless a test is about the poll.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type pg from 'pg';
import type { ProbeHandler } from '../helpers/worker.ts';
import { deferred, EVERY_JOB, eventually, kindsWithProbe, setup } from '../helpers/fixtures.ts';

/** A probe handler that records starts (by queue and group) and how many run at once, each holding for `ms`. */
function recorder(ms: number | (() => Promise<void>)) {
  const starts: { at: number; queue: string; n: number | undefined }[] = [];
  const ends: number[] = [];
  let running = 0;
  let maxRunning = 0;
  const handler: ProbeHandler = async (p, ctx) => {
    starts.push({ at: performance.now(), queue: ctx.job.queue, n: p.n });
    maxRunning = Math.max(maxRunning, ++running);
    try {
      await (typeof ms === 'number' ? new Promise((r) => setTimeout(r, ms)) : ms());
    } finally {
      running--;
      ends.push(performance.now());
    }
  };
  /** How many ran at once on average between the first start and the last (time-weighted). */
  const mean = () => {
    const from = starts[0]!.at;
    const to = starts.at(-1)!.at;
    const events = [...starts.map((x) => [x.at, 1]), ...ends.map((t) => [t, -1])].sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
    let area = 0;
    let now = 0;
    let last = from;
    for (const [t, d] of events) {
      if (t! > from && last < to) area += now * (Math.min(t!, to) - Math.max(last, from));
      last = Math.max(last, t!);
      now += d!;
    }
    return area / (to - from);
  };
  return { handler, starts, max: () => maxRunning, mean };
}

/** Every job's status and attempts, in whichever store holds it: its row, else the log's derived job. */
async function stored(pool: pg.Pool): Promise<{ status: string; attempts: number }[]> {
  return (await pool.query(`SELECT status, attempts FROM ${EVERY_JOB} j`)).rows;
}

const probes = (n: number, extra: { queue?: string; group?: string } = {}) => Array.from({ length: n }, (_, i) => ({ kind: 'probe', payload: { n: i }, ...extra }));

test('a concurrency limit: never more than N at once, and a finished job is replaced once its outcome is written (no poll tick)', async () => {
  const r = recorder(300);
  const s = await setup(kindsWithProbe(r.handler));
  await s.queue.setQueue('c', { concurrency: 3 });
  await s.queue.enqueueMany(probes(24, { queue: 'c' }));
  await s.worker({ concurrency: 20, pollIntervalMs: 60_000 });
  await eventually(() => (r.starts.length === 24 ? true : undefined), 20_000, 'every job to start');
  assert.equal(r.max(), 3);
  // A slot left empty until another job of the worker finished would bring this to about 2 of 3.
  assert.ok(r.mean() >= 0.8 * 3, `on average ${r.mean().toFixed(2)} of 3 ran`);
});

test('a policy set while the worker runs binds on its notification, and buffered jobs of that queue go back unstarted', async () => {
  const gate = deferred();
  const r = recorder(() => gate.promise);
  const s = await setup(kindsWithProbe(r.handler));
  await s.queue.enqueueMany(probes(300, { queue: 'q' }));
  const w = await s.worker({ concurrency: 4, pollIntervalMs: 60_000 });
  await eventually(() => (r.starts.length === 4 && w.buffered > 0 ? true : undefined), 10_000, 'slots full and a buffer');
  await s.queue.setQueue('q', { concurrency: 5 });
  await eventually(() => (w.buffered === 0 ? true : undefined), 10_000, 'the buffer given back');
  const running = async () => (await stored(s.db.pool)).filter((j) => j.status === 'running').length;
  await eventually(async () => ((await running()) === 4 ? true : undefined), 10_000, 'only the started jobs to run');
  const queued = (await stored(s.db.pool)).filter((j) => j.status === 'queued' && j.attempts === 0);
  assert.equal(queued.length, 296, 'the buffered ones are queued again with their attempt given back');
  gate.resolve();
  await eventually(() => (r.starts.length === 300 ? true : undefined), 20_000, 'every job to start');
  assert.ok(r.max() <= 5, `at most 5 at once, saw ${r.max()}`);
});

test('a rate limit: the worker wakes when the window has room, not at a poll tick', async () => {
  const r = recorder(1);
  const s = await setup(kindsWithProbe(r.handler));
  await s.queue.setQueue('r', { rate: { limit: 5, periodMs: 400 } });
  await s.queue.enqueueMany(probes(15, { queue: 'r' }));
  await s.worker({ concurrency: 50, pollIntervalMs: 60_000 });
  await eventually(() => (r.starts.length === 15 ? true : undefined), 20_000, 'every job to start');
  const at = r.starts.map((x) => x.at).sort((a, b) => a - b);
  // Five at a time: the sixth waits for the first to leave the window (400 ms), and so on.
  for (let i = 5; i < at.length; i++) assert.ok(at[i]! - at[i - 5]! >= 395, `start ${i} came ${at[i]! - at[i - 5]!} ms after start ${i - 5}`);
});

test('groups take turns: a small group runs alongside a large one from the start', async () => {
  const r = recorder(2);
  const s = await setup(kindsWithProbe(r.handler));
  await s.queue.enqueueMany(probes(500, { queue: 'g', group: 'large' }));
  await s.queue.enqueueMany(probes(10, { queue: 'g', group: 'small' }).map((j) => ({ ...j, payload: { n: 1000 } })));
  await s.worker({ concurrency: 4, pollIntervalMs: 60_000 });
  await eventually(() => (r.starts.filter((x) => x.n === 1000).length === 10 ? true : undefined), 20_000, 'the small group to run');
  const before = r.starts.findIndex((x, i) => x.n === 1000 && r.starts.slice(i + 1).every((y) => y.n !== 1000));
  assert.ok(before < 30, `the small group's 10 jobs ran within the first ${before + 1} starts, not after the large group's 500`);
});

test('a mixed worker: a queue without policy with a backlog does not starve a limited queue, nor the other way round', async () => {
  const r = recorder(5);
  const s = await setup(kindsWithProbe(r.handler));
  await s.queue.setQueue('limited', { concurrency: 2 });
  await s.queue.enqueueMany([...probes(400, { queue: 'plain' }), ...probes(20, { queue: 'limited' })]);
  await s.worker({ concurrency: 8, pollIntervalMs: 60_000 });
  await eventually(() => (r.starts.filter((x) => x.queue === 'limited').length === 20 ? true : undefined), 20_000, 'the limited queue to be worked');
  const lastLimited = r.starts.map((x) => x.queue).lastIndexOf('limited');
  const plainBefore = r.starts.slice(0, lastLimited).filter((x) => x.queue === 'plain').length;
  assert.ok(plainBefore > 20, `the plain queue ran meanwhile (${plainBefore} jobs)`);
  assert.ok(plainBefore < 400, 'the limited queue was not left until the plain backlog was done');
});

test('a policy written without its notification binds at the next poll tick', async () => {
  const r = recorder(20);
  const s = await setup(kindsWithProbe(r.handler));
  await s.queue.enqueueMany(probes(2, { queue: 'p' }));
  await s.worker({ concurrency: 4, pollIntervalMs: 200 });
  await eventually(() => (r.starts.length === 2 ? true : undefined), 10_000, 'the first jobs to run');
  await s.db.pool.query(`INSERT INTO jobq.queues (name, paused) VALUES ('p', true)`); // no NOTIFY
  await eventually(async () => ((await s.queue.flowQueues()).length === 1 ? true : undefined));
  await new Promise((r) => setTimeout(r, 400)); // two poll ticks: the worker has read the view again
  await s.queue.enqueueMany(probes(3, { queue: 'p' }));
  await new Promise((r) => setTimeout(r, 600)); // three more ticks: nothing may start
  assert.equal(r.starts.length, 2, 'paused: nothing new started');
  await s.queue.resumeQueue('p');
  await eventually(() => (r.starts.length === 5 ? true : undefined), 10_000, 'the jobs to start once resumed');
});
