/**
 * Decorrelated jitter ("Exponential Backoff and Jitter", AWS Architecture Blog, 2015):
 *   next = min(cap, random_between(base, previous * 3))
 * Delays grow roughly threefold per attempt on average while spreading retries of many jobs apart.
 * Pure: the random source is injected.
 */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 3_600_000 };

/** A source of uniform numbers in [0, 1), like Math.random. */
export type RandomSource = () => number;

export function nextDelay(previousMs: number | null | undefined, policy: BackoffPolicy = DEFAULT_BACKOFF, random: RandomSource = Math.random): number {
  const { baseMs, capMs } = policy;
  const prev = previousMs && previousMs > 0 ? previousMs : baseMs;
  const high = Math.max(baseMs, prev * 3);
  const delay = baseMs + random() * (high - baseMs);
  return Math.round(Math.min(capMs, delay));
}

/** A seeded generator (mulberry32) for reproducible tests and simulations. */
export function seededRandom(seed: number): RandomSource {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function validatePolicy(policy: BackoffPolicy): BackoffPolicy {
  if (!(Number.isFinite(policy.baseMs) && policy.baseMs > 0)) throw new RangeError('backoff base must be a positive number of ms');
  if (!(Number.isFinite(policy.capMs) && policy.capMs >= policy.baseMs)) throw new RangeError('backoff cap must be at least the base');
  return policy;
}
