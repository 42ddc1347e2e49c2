/** The group-commit helper on its own (no database): batching, per-item outcomes, failing fast in an outage. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Coalescer } from '../../src/lib/coalescer.ts';

/** A coalescer whose runs the test finishes by hand. */
function steered(failWaitingOn?: (err: unknown) => boolean) {
  const runs: { items: number[]; ok: () => void; fail: (e: Error) => void }[] = [];
  const c = new Coalescer<number, number>(
    (items) => new Promise((resolve, reject) => runs.push({ items, ok: () => resolve(items.map((i) => (i === 13 ? new Error('unlucky') : i * 2))), fail: reject })),
    1,
    1000,
    failWaitingOn,
  );
  return { c, runs };
}

const tick = () => new Promise((r) => setImmediate(r));

test('a lone item runs at once; items added meanwhile share the next run, each with its own outcome', async () => {
  const { c, runs } = steered();
  const a = c.add(1);
  await tick();
  const rest = [c.add(2), c.add(13), c.add(4)];
  assert.deepEqual(runs.map((r) => r.items), [[1]]);
  runs[0]!.ok();
  assert.equal(await a, 2);
  await tick();
  assert.deepEqual(runs.map((r) => r.items), [[1], [2, 13, 4]]);
  runs[1]!.ok();
  const settled = await Promise.allSettled(rest);
  assert.deepEqual(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message)), [4, 'unlucky', 8]);
});

test('items waiting behind a run that fails as unavailable fail with it, without a run of their own', async () => {
  const down = new Error('down');
  const { c, runs } = steered((err) => err === down);
  const first = c.add(1);
  await tick();
  const waiting = [c.add(2), c.add(3)];
  runs[0]!.fail(down);
  for (const p of [first, ...waiting]) await assert.rejects(p, (e) => e === down);
  assert.equal(runs.length, 1, 'nothing sent into the outage');
  const later = c.add(5); // the next caller tries again
  await tick();
  runs[1]!.ok();
  assert.equal(await later, 10);
});

test('after any other failure the waiting items still get their run', async () => {
  const { c, runs } = steered((err) => (err as Error).message === 'down');
  const first = c.add(1);
  await tick();
  const second = c.add(2);
  runs[0]!.fail(new Error('bad statement'));
  await assert.rejects(first, /bad statement/);
  await tick();
  assert.deepEqual(runs.map((r) => r.items), [[1], [2]]);
  runs[1]!.ok();
  assert.equal(await second, 4);
});
