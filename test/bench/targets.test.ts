/** The bench's verdict on issue #6's targets (bench/lib/targets.ts), from a run's figures: no database. */
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { type Figure, printReport, type Results } from '../../bench/lib/report.ts';
import { checkTargets, formatVerdicts } from '../../bench/lib/targets.ts';

const fig = (median: number, more: Partial<Figure> = {}): Figure => ({ unit: 'jobs/s', values: [median], median, ...more });

function run(figures: Results['figures']): Results {
  const sys = (id: string, family: string) => ({ id, label: id, family, backend: 'postgres', variant: id.split('-').at(-1)!, settings: '', version: '1' });
  return {
    startedAt: '', finishedAt: '', mode: 'full', options: {} as Results['options'], machine: {} as Results['machine'],
    postgres: { version: '15', embedded: false, settings: {} }, redis: null, versions: {},
    systems: [sys('jobq', 'jobq'), sys('graphile-best', 'graphile'), sys('graphile-default', 'graphile'), sys('pgboss-best', 'pgboss'), sys('pgboss-default', 'pgboss'), sys('bullmq-pg-best', 'bullmq-pg')],
    figures, notes: [],
  };
}

/** What printReport prints for `r`, with the run options and machine a report needs. */
function printed(t: TestContext, r: Results): string {
  const lines: string[] = [];
  t.mock.method(console, 'log', (line: string) => lines.push(line));
  r.options = { reps: 1, jobs: 2_000, finished: 10_000, samples: 30, intervalMs: 20, singles: 1_000, httpSeconds: 2 } as Results['options'];
  r.machine = { cores: 2, cpu: 'x', ramGiB: 1, os: 'x', node: 'v22', loadAtStart: 0 };
  printReport(r);
  return lines.join('\n');
}

const verdict = (r: Results, label: string) => {
  const v = checkTargets(r).find((x) => x.target.label === label);
  assert.ok(v, `no target "${label}"`);
  return v;
};

test('a peer is compared at the best of its variants; a bound reached exactly is met', () => {
  const r = run({
    jobq: { 'process.c10': fig(12_000) },
    'graphile-best': { 'process.c10': fig(10_000) },
    'graphile-default': { 'process.c10': fig(9_000) },
  });
  const v = verdict(r, 'processing, concurrency 10: ≥ 1.2× graphile-worker');
  assert.equal(v.against?.id, 'graphile-best');
  assert.equal(v.value, 1.2);
  assert.equal(v.met, true);
  r.figures['graphile-default']!['process.c10'] = fig(10_001);
  const worse = verdict(r, 'processing, concurrency 10: ≥ 1.2× graphile-worker');
  assert.equal(worse.against?.id, 'graphile-default');
  assert.equal(worse.met, false);
});

test('stand-in and failed figures do not count; what was not measured is neither met nor missed', () => {
  const r = run({
    jobq: { 'process.c10': fig(12_000), 'enqueue.single': fig(5_000) },
    // pg-boss's default figure is a 50-job stand-in (noted), its tuned one failed: nothing to compare with.
    'pgboss-default': { 'process.c10': fig(50, { note: '50 jobs per run' }) },
    'pgboss-best': { 'process.c10': fig(0, { error: 'boom', median: null }) },
  });
  assert.equal(verdict(r, 'processing, concurrency 10: ≥ 3× pg-boss').met, null);
  assert.equal(verdict(r, 'processing, concurrency 50: ≥ 3× pg-boss').value, null);
  assert.equal(verdict(r, 'HTTP: ≥ 4,000 single enqueues/s (50 connections)').met, null);
  assert.match(formatVerdicts(checkTargets(r)).join('\n'), /processing, concurrency 10: ≥ 3× pg-boss: not measured in this run/);
});

test('"ahead of" is strict, latency bounds are maxima, jobq-relative targets use its own empty-table figure', () => {
  const r = run({
    jobq: {
      'enqueue.single': fig(2_000), 'latency.p50': fig(1.5, { unit: 'ms' }), 'latency.p99': fig(6, { unit: 'ms' }),
      'process.c10': fig(20_000), 'process.finished': fig(17_000), 'process.xmin': fig(10_000), 'http.batch': fig(45_000),
    },
    'bullmq-pg-best': { 'enqueue.single': fig(2_000) },
  });
  assert.equal(verdict(r, 'enqueue, 1 per call from 10 callers: ahead of BullMQ on PostgreSQL').met, false);
  assert.equal(verdict(r, 'pickup latency p50 ≤ 1.5 ms').met, true);
  assert.equal(verdict(r, 'pickup latency p99 ≤ 5 ms').met, false);
  assert.equal(verdict(r, '1,000,000 finished rows: ≥ 90% of the empty table').value, 0.85);
  assert.equal(verdict(r, 'a transaction held open: no collapse (≥ 50%)').met, true);
  const text = formatVerdicts(checkTargets(r)).join('\n');
  assert.match(text, /MISSED {2}pickup latency p99 ≤ 5 ms: 6\.00 ms; 20% over/);
  assert.match(text, /MISSED {2}HTTP: ≥ 50,000 jobs\/s through \/v1\/jobs\/batch: 45,000\/s; 10% short/);
  assert.match(text, /met {5}pickup latency p50 ≤ 1\.5 ms: 1\.50 ms/);
  assert.match(text, /docs\/performance\.md/);
});

test('the printed report ends its figures with the verdicts, and says when a quick run is too short to judge', (t) => {
  const r = run({ jobq: { 'http.single': fig(6_000), 'http.batch': fig(40_000) } });
  r.mode = 'quick';
  const text = printed(t, r);
  assert.match(text, /Targets of issues #6 and #19 \(event streams\), with jobq's defaults \(1 of 2 measured met/);
  assert.match(text, /met {5}HTTP: ≥ 4,000 single enqueues\/s \(50 connections\): 6,000\/s/);
  assert.match(text, /a quick run: too short for these ratios to mean much/);
  assert.ok(text.indexOf('Targets of issue') < text.indexOf('Settings:'));
});

test("the p50 latency verdict carries this machine's floor (PostgreSQL alone) when the run measured it", (t) => {
  const r = run({ jobq: { 'latency.p50': fig(2.1, { unit: 'ms' }) } });
  assert.equal(verdict(r, 'pickup latency p50 ≤ 1.5 ms').floor, undefined);
  assert.doesNotMatch(formatVerdicts(checkTargets(r)).join('\n'), /floor/);
  r.figures.postgres = { 'floor.insert': fig(1.03, { unit: 'ms' }), 'floor.roundtrip': fig(0.54, { unit: 'ms' }), 'floor.pickup': fig(1.57, { unit: 'ms' }) };
  const v = verdict(r, 'pickup latency p50 ≤ 1.5 ms');
  assert.equal(v.met, false);
  assert.equal(v.floor, 1.57);
  assert.match(formatVerdicts(checkTargets(r)).join('\n'), /MISSED {2}pickup latency p50 ≤ 1\.5 ms: 2\.10 ms; 40% over \(this machine's floor: PostgreSQL alone, durable INSERT \+ round trip: 1\.57 ms\)/);
  // The report prints the floor's parts as a table of its own.
  assert.match(printed(t, r), /PostgreSQL alone, ms[^\n]*\n[^\n]*durable 1-row INSERT[^\n]*\n[^\n]*\npostgres +1\.03 +0\.54 +1\.57/);
});
