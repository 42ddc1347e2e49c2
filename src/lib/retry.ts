/**
 * Retry until a deadline: calls `fn` again while what it throws is `retryable` (the database is
 * unreachable, say), waiting twice as long each time up to `maxDelayMs`, as long as the wait ends
 * within `withinMs` of the first call. Any other error, or one past the deadline, is thrown as is.
 *
 * The options object can be made once and reused for every call: nothing is allocated per call
 * beyond the promise (the worker writes every outcome through this).
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryOptions {
  /** Whether an error is worth another try; any other is thrown at once. */
  retryable: (err: unknown) => boolean;
  /** How long, from the first call, retries may go on: no retry starts whose wait would end past it. */
  withinMs: number;
  /** The first wait; each next one doubles, up to maxDelayMs. */
  firstDelayMs: number;
  maxDelayMs: number;
  /** Retries taken whatever the deadline (default 0). */
  minRetries?: number;
  /** Called before each wait, e.g. to log it. */
  onRetry?: (err: unknown, delayMs: number) => void;
  /** Injected in tests: the clock (default Date.now) and the wait (default a timer). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export async function retry<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  const now = o.now ?? Date.now;
  const deadline = now() + o.withinMs;
  const minRetries = o.minRetries ?? 0;
  for (let retries = 0, delay = o.firstDelayMs; ; retries++, delay = Math.min(delay * 2, o.maxDelayMs)) {
    try {
      return await fn();
    } catch (err) {
      if (!o.retryable(err) || (retries >= minRetries && now() + delay > deadline)) throw err;
      o.onRetry?.(err, delay);
      await (o.sleep ?? sleep)(delay);
    }
  }
}
