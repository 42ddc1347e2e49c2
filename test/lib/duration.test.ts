/** The one duration parser: units as `ms` reads them, plain milliseconds, and clear refusals. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDuration, roughDuration } from '../../src/lib/duration.ts';

test('reads 250ms, 30s, 5m, 2h, 7d, 1w, fractions and words, and plain numbers as milliseconds', () => {
  const cases: [string, number][] = [
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['7d', 604_800_000],
    ['1w', 604_800_000],
    ['1.5h', 5_400_000],
    ['2 days', 172_800_000],
    ['30S', 30_000],
    [' 10s ', 10_000],
    ['1500', 1_500],
    ['0', 0],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test('refuses what is not a whole, non-negative number of milliseconds, quoting it', () => {
  for (const bad of ['', ' ', 'soon', '5x', '-1s', '-5', '1.5ms', '0.5', '1e3', 'Infinity', 'NaN', '9999999999999999d', '1h30m']) {
    assert.throws(() => parseDuration(bad), (err: Error) => err.message.startsWith(`"${bad}" is not a duration: use 250ms, 30s`), bad);
  }
});

test('formats exactly in the largest unit that divides, which parseDuration reads back; or roughly, for a glance', () => {
  const cases: [number, string][] = [
    [0, '0ms'],
    [250, '250ms'],
    [1_000, '1s'],
    [1_500, '1500ms'],
    [90_000, '90s'],
    [300_000, '5m'],
    [3_600_000, '1h'],
    [5_400_000, '90m'],
    [86_400_000, '1d'],
    [2_147_483_647, '2147483647ms'],
  ];
  for (const [millis, text] of cases) {
    assert.equal(formatDuration(millis), text, String(millis));
    assert.equal(parseDuration(text), millis, text);
  }
  assert.deepEqual([12_500, 7_201_000, 400, 0].map(roughDuration), ['13s', '2h', '400ms', '0ms']);
});
