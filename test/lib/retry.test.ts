/** Retry until a deadline (src/lib/retry.ts) on a fake clock: no real time passes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retry, type RetryOptions } from '../../src/lib/retry.ts';

class Unavailable extends Error {}

/** A clock that moves only when the retry sleeps; records each wait. */
function fakeTime(): Pick<RetryOptions, 'now' | 'sleep'> & { waits: number[] } {
  let t = 1_000_000;
  const waits: number[] = [];
  return {
    waits,
    now: () => t,
    sleep: async (ms) => {
      waits.push(ms);
      t += ms;
    },
  };
}

/** A call that throws `errors` in turn, then returns 'done'; counts its calls. */
function flaky(errors: Error[]) {
  const calls = { n: 0 };
  const fn = async () => {
    const err = errors[calls.n++];
    if (err) throw err;
    return 'done';
  };
  return { fn, calls };
}

const retryable = (err: unknown) => err instanceof Unavailable;

test('retries a retryable error with doubling waits, capped, and returns what the call finally returns', async () => {
  const time = fakeTime();
  const { fn, calls } = flaky(Array.from({ length: 5 }, () => new Unavailable()));
  const retries: number[] = [];
  const result = await retry(fn, {
    retryable, withinMs: 60_000, firstDelayMs: 100, maxDelayMs: 500, ...time,
    onRetry: (err, ms) => {
      assert.ok(err instanceof Unavailable);
      retries.push(ms);
    },
  });
  assert.equal(result, 'done');
  assert.equal(calls.n, 6);
  assert.deepEqual(time.waits, [100, 200, 400, 500, 500]);
  assert.deepEqual(retries, time.waits);
});

test('an error the predicate refuses is thrown at once, without a retry', async () => {
  const time = fakeTime();
  const fatal = new Error('syntax error');
  const { fn, calls } = flaky([new Unavailable(), fatal]);
  await assert.rejects(retry(fn, { retryable, withinMs: 60_000, firstDelayMs: 100, maxDelayMs: 1_000, ...time }), (err) => err === fatal);
  assert.equal(calls.n, 2);
  assert.deepEqual(time.waits, [100]);
});

test('no retry starts whose wait would end past the deadline: the last error is thrown', async () => {
  const time = fakeTime();
  const errors = Array.from({ length: 20 }, (_, i) => new Unavailable(`outage ${i}`));
  const { fn, calls } = flaky(errors);
  // Waits 100 + 200 + 400 = 700 fit in 1000 ms; the next (800) would end at 1500.
  await assert.rejects(retry(fn, { retryable, withinMs: 1_000, firstDelayMs: 100, maxDelayMs: 5_000, ...time }), (err) => err === errors[3]);
  assert.equal(calls.n, 4);
  assert.deepEqual(time.waits, [100, 200, 400]);
});

test('the deadline counts from the first call, including the time the calls themselves take', async () => {
  const time = fakeTime();
  let calls = 0;
  const slow = async () => {
    calls++;
    await time.sleep!(450); // each call takes 450 ms of the clock before it fails
    if (calls > 10) return 'done'; // a retry that ignored the deadline ends (and fails the test) here
    throw new Unavailable();
  };
  await assert.rejects(retry(slow, { retryable, withinMs: 1_000, firstDelayMs: 100, maxDelayMs: 100, ...time }), Unavailable);
  // 450 (call) + 100 (wait) + 450 (call) = 1000: another 100 ms wait would end past the deadline.
  assert.equal(calls, 2);
});

test('minRetries retries even past the deadline, then the deadline holds again', async () => {
  const time = fakeTime();
  const { fn, calls } = flaky(Array.from({ length: 10 }, () => new Unavailable()));
  await assert.rejects(retry(fn, { retryable, withinMs: 0, firstDelayMs: 100, maxDelayMs: 2_000, minRetries: 1, ...time }), Unavailable);
  assert.equal(calls.n, 2);
  assert.deepEqual(time.waits, [100]);
  const none = flaky([new Unavailable()]);
  await assert.rejects(retry(none.fn, { retryable, withinMs: 0, firstDelayMs: 100, maxDelayMs: 2_000, ...time }), Unavailable);
  assert.equal(none.calls.n, 1, 'without minRetries, a deadline of 0 allows no retry');
});
