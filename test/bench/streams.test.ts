/** The bench's streams scenario without a database: its flags, its streams' filters, and its verdicts (issue #19). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseOptions } from '../../bench/lib/options.ts';
import type { Figure, Results } from '../../bench/lib/report.ts';
import { streamQueries } from '../../bench/lib/streams.ts';
import { checkTargets } from '../../bench/lib/targets.ts';

test('--streams, --stream-rate and --stream-seconds: defaults, quick defaults, given values, bad values refused', () => {
  const full = parseOptions([], '/out');
  assert.deepEqual([full.streams, full.streamRate, full.streamSeconds], [1_000, 1_000, 20]);
  const quick = parseOptions(['--quick'], '/out');
  assert.deepEqual([quick.streams, quick.streamRate, quick.streamSeconds], [100, 200, 3]);
  const given = parseOptions(['--streams', '250', '--stream-rate', '500', '--stream-seconds', '5', '--scenarios', 'streams'], '/out');
  assert.deepEqual([given.streams, given.streamRate, given.streamSeconds, given.scenarios], [250, 500, 5, ['streams']]);
  assert.throws(() => parseOptions(['--streams', '0'], '/out'), /--streams must be an integer >= 1, got "0"/);
  assert.throws(() => parseOptions(['--stream-rate', '5'], '/out'), /--stream-rate must be an integer >= 10/);
  assert.throws(() => parseOptions(['--stream-seconds', '1.5'], '/out'), /--stream-seconds must be an integer/);
  assert.throws(() => parseOptions(['--streams'], '/out'), /argument missing/);
});

test('the streams: 1% (at least one) by queue, the rest by one id each', () => {
  const ids = Array.from({ length: 1_000 }, (_, i) => `id${i}`);
  const q = streamQueries(1_000, ids, 'default');
  assert.equal(q.length, 1_000);
  assert.equal(q.filter((x) => x === 'queue=default').length, 10);
  assert.deepEqual(q.slice(10, 12), ['id=id0', 'id=id1']);
  assert.deepEqual(streamQueries(3, ids, 'a b'), ['queue=a%20b', 'id=id0', 'id=id1']);
});

test('the verdicts: processing with streams open against none open (≥ 95%), paced p50 against none open (≤ 105%)', () => {
  const fig = (median: number): Figure => ({ unit: 'x', values: [median], median });
  const results = (figures: Record<string, Figure>) =>
    ({ systems: [{ id: 'jobq', family: 'jobq' }], figures: { jobq: figures } }) as unknown as Results;
  const verdicts = (figures: Record<string, Figure>) =>
    checkTargets(results(figures)).filter((v) => v.target.metric.startsWith('streams.')).map((v) => [v.value === null ? null : Number(v.value.toFixed(3)), v.met]);
  assert.deepEqual(verdicts({ 'streams.full.0': fig(10_000), 'streams.full.n': fig(9_500), 'streams.paced.0.p50': fig(2), 'streams.paced.n.p50': fig(2.1) }), [[0.95, true], [1.05, true]]);
  assert.deepEqual(verdicts({ 'streams.full.0': fig(10_000), 'streams.full.n': fig(9_400), 'streams.paced.0.p50': fig(2), 'streams.paced.n.p50': fig(2.2) }), [[0.94, false], [1.1, false]]);
  assert.deepEqual(verdicts({}), [[null, null], [null, null]]);
});
