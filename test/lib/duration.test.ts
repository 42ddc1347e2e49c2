/** The one duration parser: units as `ms` reads them, plain milliseconds, and clear refusals. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDuration } from '../../src/lib/duration.ts';

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
