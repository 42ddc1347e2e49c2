/** The bench's verdict on the issues' targets (#6, #19, #22: bench/lib/targets.ts), from a run's figures: no database. */
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
    systems: [sys('jobq', 'jobq'), sys('graphile-best', 'graphile'), sys('graphile-default', 'graphile'), sys('pgboss-best', 'pgboss'), sys('pgboss-default', 'pgboss'), sys('bullmq-pg-best', 'bullmq-pg'), sys('jobq-logstore', 'jobq-logstore')],
    figures, notes: [],
  };
}

/** What printReport prints for `r`, with the run options and machine a report needs. */
function printed(t: TestContext, r: Results): string {
  const lines: string[] = [];
  t.mock.method(console, 'log', (line: string) => lines.push(line));
  const given: Partial<Results['options']> = r.options;
  r.options = { reps: 1, jobs: 2_000, finished: 10_000, samples: 30, intervalMs: 20, singles: 1_000, httpSeconds: 2, ...given } as Results['options'];
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
  assert.match(text, /Targets of issues #6, #19, #22, with jobq's defaults \(1 of 2 measured met/);
  assert.match(text, /\n issue #6:\n[^]*\n issue #19 \(event streams\):\n[^]*\n issue #22 \(storage: docs\/design\/storage\.md\):\n/);
  assert.match(text, /met {5}HTTP: ≥ 4,000 single enqueues\/s \(50 connections\): 6,000\/s/);
  assert.match(text, /a quick run: too short for these ratios to mean much/);
  assert.ok(text.indexOf('Targets of issue') < text.indexOf('Settings:'));
});

test("the p50 latency verdict carries this machine's floor (PostgreSQL alone) when the run measured it", (t) => {
  const r = run({ jobq: { 'latency.p50': fig(2.1, { unit: 'ms' }) } });
  assert.equal(verdict(r, 'pickup latency p50 ≤ 1.5 ms').floor, undefined);
  assert.doesNotMatch(formatVerdicts(checkTargets(r)).join('\n'), /this machine's floor/);
  r.figures.postgres = { 'floor.insert': fig(1.03, { unit: 'ms' }), 'floor.roundtrip': fig(0.54, { unit: 'ms' }), 'floor.pickup': fig(1.57, { unit: 'ms' }) };
  const v = verdict(r, 'pickup latency p50 ≤ 1.5 ms');
  assert.equal(v.met, false);
  assert.equal(v.floor, 1.57);
  assert.match(formatVerdicts(checkTargets(r)).join('\n'), /MISSED {2}pickup latency p50 ≤ 1\.5 ms: 2\.10 ms; 40% over \(this machine's floor: PostgreSQL alone, durable INSERT \+ round trip: 1\.57 ms\)/);
  // The report prints the floor's parts as a table of its own.
  assert.match(printed(t, r), /PostgreSQL alone, ms[^\n]*\n[^\n]*durable 1-row INSERT[^\n]*\n[^\n]*\npostgres +1\.03 +0\.54 +1\.57/);
});

test('issue #22: processing at 10, 50 and with two processes ≥ 1.3× graphile-worker, right after a bulk enqueue ≥ 2×', () => {
  const r = run({
    jobq: { 'process.c10': fig(13_000), 'process.c50': fig(12_999), 'process.2proc': fig(20_000), 'process.fresh': fig(19_000) },
    'graphile-best': { 'process.c10': fig(10_000), 'process.c50': fig(10_000), 'process.2proc': fig(15_000), 'process.fresh': fig(9_000) },
    'graphile-default': { 'process.c10': fig(8_000), 'process.c50': fig(8_000), 'process.2proc': fig(16_000), 'process.fresh': fig(9_500) },
  });
  assert.equal(verdict(r, 'processing, concurrency 10: ≥ 1.3× graphile-worker').met, true);
  assert.equal(verdict(r, 'processing, concurrency 50: ≥ 1.3× graphile-worker').met, false);
  // The family's best figure, whichever preset gave it.
  const two = verdict(r, 'processing, two worker processes: ≥ 1.3× graphile-worker');
  assert.deepEqual([two.against?.id, two.value, two.met], ['graphile-default', 1.25, false]);
  const fresh = verdict(r, 'processing right after a bulk enqueue (no statistics of the new rows): ≥ 2× graphile-worker');
  assert.deepEqual([fresh.against?.id, fresh.value, fresh.met], ['graphile-default', 2, true]);
  // Issue #6's 1.2× at concurrency 10 and 50 stays beside it.
  assert.equal(verdict(r, 'processing, concurrency 50: ≥ 1.2× graphile-worker').met, true);
  const text = formatVerdicts(checkTargets(r)).join('\n');
  assert.match(text, /issue #22[^]*MISSED {2}processing, two worker processes: ≥ 1\.3× graphile-worker: 1\.25× \(vs graphile-default 16,000\); 4% short/);
});

test('issue #22, held xmin: full speed at its end against before the hold; zero dead tuples is a measured figure, and met', () => {
  const r = run({ jobq: { 'held.before': fig(20_000), 'held.drain': fig(18_000), 'held.deadPerJob': fig(0, { unit: 'per job' }) } });
  r.options = { holdS: 600 } as Results['options'];
  const speed = verdict(r, 'xmin held 10 minutes under half load: full speed at its end ≥ 90% of before');
  assert.deepEqual([speed.against?.id, speed.value, speed.met, speed.sized], ['jobq', 0.9, true, undefined]);
  const bounded = verdict(r, 'xmin held 10 minutes under half load: hot tables bounded (≤ 0.05 dead tuples per job run)');
  assert.deepEqual([bounded.value, bounded.met], [0, true]);
  r.figures.jobq!['held.deadPerJob'] = fig(1.9, { unit: 'per job' });
  r.figures.jobq!['held.drain'] = fig(3_000);
  r.options = { holdS: 15 } as Results['options'];
  const text = formatVerdicts(checkTargets(r)).join('\n');
  assert.match(text, /MISSED {2}xmin held 10 minutes under half load: full speed at its end ≥ 90% of before: 0\.15× \(vs jobq 20,000\); 83% short \[this run held it 15 s\]/);
  assert.match(text, /MISSED {2}xmin held 10 minutes under half load: hot tables bounded \(≤ 0\.05 dead tuples per job run\): 1\.900 dead tuples per job; 3700% over \[this run held it 15 s\]/);
});

test('issue #22, history: 10,000,000 finished jobs ≥ 95% of the empty table, their first day removed in under a second', () => {
  const r = run({ jobq: { 'process.c10': fig(20_000), 'process.finished': fig(19_000), 'retention.day': fig(1_000, { unit: 'ms' }) } });
  r.options = { finished: 10_000_000 } as Results['options'];
  const kept = verdict(r, '10,000,000 finished jobs kept: ≥ 95% of the empty table');
  assert.deepEqual([kept.value, kept.met, kept.sized], [0.95, true, undefined]);
  // "Under a second": a second is not.
  assert.equal(verdict(r, 'retention of a day of that history < 1 s').met, false);
  r.figures.jobq!['retention.day'] = fig(999, { unit: 'ms' });
  assert.equal(verdict(r, 'retention of a day of that history < 1 s').met, true);
  // Issue #6's 1,000,000 rows, measured here with ten times as many, says so.
  assert.equal(verdict(r, '1,000,000 finished rows: ≥ 90% of the empty table').sized, 'this run kept 10,000,000');
  r.options = { finished: 10_000 } as Results['options'];
  r.figures.jobq!['retention.day'] = fig(64_321, { unit: 'ms' });
  const text = formatVerdicts(checkTargets(r)).join('\n');
  assert.match(text, /met {5}10,000,000 finished jobs kept: ≥ 95% of the empty table: 0\.95× \(vs jobq 20,000\) \[this run kept 10,000\]/);
  assert.match(text, /MISSED {2}retention of a day of that history < 1 s: 64,321 ms; 6332% over \[this run kept 10,000\]/);
  // A retention that removed another count than the day held is a stand-in: not judged.
  r.figures.jobq!['retention.day'] = fig(10, { unit: 'ms', note: 'removed 5 finished jobs where the day held 1,481' });
  assert.equal(verdict(r, 'retention of a day of that history < 1 s').met, null);
});

test("issue #22, pickup latency: p50 within 0.3 ms of this machine's floor (a difference, to the microsecond), p99 ≤ 5 ms", () => {
  const r = run({ jobq: { 'latency.p50': fig(1.87, { unit: 'ms' }), 'latency.p99': fig(4.2, { unit: 'ms' }) } });
  const label = 'pickup latency p50 within 0.3 ms of the floor';
  assert.equal(verdict(r, label).value, null); // no floor measured: nothing to judge
  r.figures.postgres = { 'floor.pickup': fig(1.57, { unit: 'ms' }) };
  assert.deepEqual([verdict(r, label).value, verdict(r, label).met], [0.3, true]);
  r.figures.jobq!['latency.p50'] = fig(2.62, { unit: 'ms' });
  const text = formatVerdicts(checkTargets(r)).join('\n');
  assert.match(text, /MISSED {2}pickup latency p50 within 0\.3 ms of the floor: \+1\.05 ms \(p50 2\.62 ms, this machine's floor: PostgreSQL alone, durable INSERT \+ round trip: 1\.57 ms\); 0\.75 ms over/);
  assert.match(text, /issue #22[^]*met {5}pickup latency p99 ≤ 5 ms: 4\.20 ms/);
});

test("issue #22's verdicts on the log store's own figures, printed after jobq's while it is opt-in", (t) => {
  const r = run({
    jobq: { 'process.c10': fig(12_000) },
    'jobq-logstore': { 'process.c10': fig(14_000), 'held.before': fig(20_000), 'held.drain': fig(19_000) },
    'graphile-best': { 'process.c10': fig(10_000) },
  });
  const mine = (label: string) => checkTargets(r, 'jobq-logstore').find((v) => v.target.label === label)!;
  assert.equal(mine('processing, concurrency 10: ≥ 1.3× graphile-worker').met, true);
  assert.equal(verdict(r, 'processing, concurrency 10: ≥ 1.3× graphile-worker').met, false);
  // jobq-relative targets read the subject's own figures.
  assert.deepEqual(mine('xmin held 10 minutes under half load: full speed at its end ≥ 90% of before').against, { id: 'jobq-logstore', median: 20_000 });
  const text = printed(t, r);
  assert.match(text, /Targets of issues #22, with jobq-logstore in jobq's place \(2 of 2 measured met[^\n]*\n issue #22[^\n]*\n {2}met {5}processing, concurrency 10: ≥ 1\.3× graphile-worker: 1\.40×/);
  assert.ok(text.indexOf("with jobq's defaults") < text.indexOf('with jobq-logstore'));
});

test("the report prints the held xmin's figures, and the hot tables over the hold beside graphile-worker's", (t) => {
  const samples = (dead: number) => Array.from({ length: 31 }, (_, i) => ({ s: i * 20, bytes: i * 1_048_576, dead: i * dead, waiting: 0 }));
  const r = run({
    jobq: { 'held.before': fig(20_000), 'held.drain': fig(19_000), 'held.dead': fig(300, { unit: 'tuples', samples: samples(10) }), 'held.deadPerJob': fig(0.001, { unit: 'per job' }) },
    'graphile-best': { 'held.before': fig(15_000), 'held.drain': fig(3_000), 'held.dead': fig(9e6, { unit: 'tuples', samples: samples(300_000) }) },
  });
  r.options = { holdS: 600 } as Results['options'];
  const text = printed(t, r);
  assert.match(text, /A transaction holding the xmin for 600 s under a load of half the full speed before it/);
  assert.match(text, /\njobq 1 +20,000 +19,000 +— +— +— +300 +0\.001 +— *\ngraphile-best 1 +15,000 +1\.33× +3,000 +6\.33×/);
  // About ten rows, the last sample's included: seconds, then each system's dead tuples / MB grown / jobs waiting.
  const series = text.slice(text.indexOf('The hot tables during the hold'), text.indexOf('Targets of issues')).trim().split('\n');
  assert.equal(series[0], 'The hot tables during the hold: dead tuples / MB grown / jobs waiting');
  assert.match(series[1]!, /^ +s +jobq +graphile-best$/);
  assert.deepEqual(series.slice(3).map((l) => l.trim().split(/ {2,}/)), [0, 60, 120, 180, 240, 300, 360, 420, 480, 540, 600].map((s) => [
    String(s), `${(s / 2).toLocaleString('en-US')} / ${(s / 20).toFixed(1)} / 0`, `${(s * 15_000).toLocaleString('en-US')} / ${(s / 20).toFixed(1)} / 0`,
  ]));
});
