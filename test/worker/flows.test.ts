/**
 * Flows on real processes (docs/flows.md): `jobq worker` children (test/helpers/flows-worker.ts) whose
 * `step` handlers write when each run starts and ends. What ran when is read from those lines; the
 * database is asked only for the end states.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StepLine } from '../helpers/flows-worker.ts';
import { eventually } from '../helpers/fixtures.ts';
import { flowsFixture, step, steps } from '../helpers/flows.ts';

const of = (lines: StepLine[], n: number, ev: 'start' | 'end') => lines.filter((l) => l.n === n && l.ev === ev);

test('a fan-out of 100 children into one summary: the summary runs exactly once, after all 100 succeeded, and reads their results', { timeout: 120_000 }, async (t) => {
  const { queue, worker } = await flowsFixture(t);
  const children = Array.from({ length: 100 }, (_, i) => step({ n: i + 1, ms: 20 + (i % 7) * 15 }, { dependsOn: ['#0'] }));
  const summary = step({ n: 1000, ms: 1, parents: true }, { dependsOn: children.map((_c, i) => `#${i + 1}`) });
  const jobs = (await queue.enqueueMany([step({ n: 0, ms: 50 }), ...children, summary])).map((r) => r.job);
  const procs = [worker(), worker(), worker()];
  await eventually(() => (of(steps(procs), 1000, 'end').length > 0 ? true : undefined), 90_000, 'the summary to run', 50);
  await eventually(async () => ((await queue.get(jobs[101]!.id))?.status === 'succeeded' ? true : undefined), 10_000, 'the summary to succeed');

  const lines = steps(procs);
  const rootEnd = of(lines, 0, 'end')[0]!.t;
  for (let n = 1; n <= 100; n++) {
    assert.equal(of(lines, n, 'start').length, 1, `child ${n} ran once`);
    assert.ok(of(lines, n, 'start')[0]!.t >= rootEnd, `child ${n} started after the root ended`);
  }
  const runs = of(lines, 1000, 'start');
  assert.equal(runs.length, 1, 'the summary ran exactly once');
  const lastChildEnd = Math.max(...lines.filter((l) => l.ev === 'end' && l.n >= 1 && l.n <= 100).map((l) => l.t));
  assert.ok(runs[0]!.t >= lastChildEnd, `the summary started ${(runs[0]!.t - lastChildEnd).toFixed(1)} ms after the last child ended`);
  assert.deepEqual(runs[0]!.parents, jobs.slice(1, 101).map((j, i) => ({ id: j.id, kind: 'step', status: 'succeeded', result: { n: i + 1 } })), 'ctx.parents(): the 100 in order, succeeded, with their results');
  assert.equal((await queue.get(jobs[101]!.id))!.attempts, 1);
  t.diagnostic(`children ran on ${new Set(lines.filter((l) => l.n >= 1 && l.n <= 100).map((l) => l.worker)).size} workers`);
});

test('a failing parent cancels its child and grandchild, which never run; a child saying "run" runs after it, and sees it failed', { timeout: 60_000 }, async (t) => {
  const { queue, worker } = await flowsFixture(t);
  const jobs = (await queue.enqueueMany([
    step({ n: 0, ms: 30, fail: true }, { maxAttempts: 1 }),
    step({ n: 1, ms: 1 }, { dependsOn: ['#0'] }),
    step({ n: 2, ms: 1 }, { dependsOn: ['#1'] }),
    step({ n: 3, ms: 1, parents: true }, { dependsOn: ['#0'], onParentFailure: 'run' }),
    step({ n: 4, ms: 1 }, { dependsOn: ['#2'], onParentFailure: 'run' }),
  ])).map((r) => r.job);
  const procs = [worker()];
  await eventually(() => (of(steps(procs), 3, 'end').length > 0 && of(steps(procs), 4, 'end').length > 0 ? true : undefined), 30_000, 'the "run" children to run', 50);
  const lines = steps(procs);
  assert.deepEqual([1, 2].map((n) => lines.filter((l) => l.n === n)), [[], []], 'the cancelled child and grandchild never ran');
  const statuses = await Promise.all(jobs.map(async (j) => (await queue.get(j.id))!.status));
  assert.deepEqual(statuses.slice(0, 3), ['failed_permanent', 'cancelled', 'cancelled']);
  const run = of(lines, 3, 'start')[0]!;
  assert.ok(run.t >= of(lines, 0, 'end')[0]!.t, 'the "run" child started after its parent failed');
  assert.deepEqual(run.parents, [{ id: jobs[0]!.id, kind: 'step', status: 'failed_permanent', result: null }]);
  assert.equal(of(lines, 4, 'start').length, 1, 'the "run" grandchild of the cancelled child ran once');
});
