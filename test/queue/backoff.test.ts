/** The decorrelated-jitter policy, with a seeded random source. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_BACKOFF, nextDelay, seededRandom, validatePolicy } from '../../src/queue/backoff.ts';

test('every delay lies between base and min(cap, 3 × previous)', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const random = seededRandom(seed);
    let prev: number | null = null;
    for (let attempt = 1; attempt <= 10; attempt++) {
      const d = nextDelay(prev, DEFAULT_BACKOFF, random);
      const high = Math.min(DEFAULT_BACKOFF.capMs, Math.max(DEFAULT_BACKOFF.baseMs, (prev ?? DEFAULT_BACKOFF.baseMs) * 3));
      assert.ok(d >= DEFAULT_BACKOFF.baseMs && d <= high, `seed ${seed} attempt ${attempt}: ${d} not in [1000, ${high}]`);
      prev = d;
    }
  }
});

test('delays grow over 10 attempts on average; at the top of the range threefold up to the cap', () => {
  const runs = 500;
  const mean = Array<number>(10).fill(0);
  for (let seed = 1; seed <= runs; seed++) {
    const random = seededRandom(seed);
    let prev: number | null = null;
    for (let i = 0; i < 10; i++) {
      prev = nextDelay(prev, DEFAULT_BACKOFF, random);
      mean[i]! += prev / runs;
    }
  }
  // Each step draws uniformly from [base, 3 × previous]: about 1.5 × the previous delay on average.
  for (let i = 1; i < 10; i++) assert.ok(mean[i]! > mean[i - 1]! * 1.3, `mean delay should grow: ${mean.map(Math.round)}`);
  assert.ok(mean[0]! > 1000 && mean[0]! < 3000, `first delay averages between base and 3 × base: ${mean[0]}`);
  assert.ok(mean[9]! > 30_000, `by attempt 10 the mean delay is tens of seconds: ${mean[9]}`);
  // With a random source pinned at its top, the growth is exactly threefold until the cap.
  const top = () => 0.999999999;
  let d: number | null = null;
  const seq: number[] = [];
  for (let i = 0; i < 10; i++) seq.push((d = nextDelay(d, DEFAULT_BACKOFF, top)));
  assert.deepEqual(seq, [3000, 9000, 27000, 81000, 243000, 729000, 2187000, 3600000, 3600000, 3600000]);
});

test('the same seed gives the same sequence; base and cap are configurable', () => {
  const a = seededRandom(42);
  const b = seededRandom(42);
  const policy = { baseMs: 50, capMs: 400 };
  const seqA = sequence(policy, a, 10);
  const seqB = sequence(policy, b, 10);
  assert.deepEqual(seqA, seqB);
  for (const d of seqA) assert.ok(d >= 50 && d <= 400);
  assert.ok(seqA.includes(400) || Math.max(...seqA) > 300, 'a small cap is reached');
  assert.equal(nextDelay(0, policy, () => 0), 50, 'the lowest draw is the base');
});

test('invalid policies are refused', () => {
  assert.throws(() => validatePolicy({ baseMs: 0, capMs: 10 }), RangeError);
  assert.throws(() => validatePolicy({ baseMs: 100, capMs: 10 }), RangeError);
  assert.throws(() => validatePolicy({ baseMs: NaN, capMs: 10 }), RangeError);
});

function sequence(policy: { baseMs: number; capMs: number }, random: () => number, n: number): number[] {
  const out: number[] = [];
  let prev: number | null = null;
  for (let i = 0; i < n; i++) out.push((prev = nextDelay(prev, policy, random)));
  return out;
}
