/** Bounded load: a fixed number of tasks over a few concurrent lanes, and a fixed-rate ticker with an end. */

/** Runs fn(0..n-1) on `lanes` concurrent lanes; stops early (no new tasks) once `deadline` (Date.now()) passes. */
export async function runConcurrent(n: number, lanes: number, fn: (i: number) => Promise<void>, deadline = Infinity): Promise<number> {
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, n) }, async () => {
      while (next < n && Date.now() < deadline) {
        const i = next++;
        await fn(i);
        done++;
      }
    }),
  );
  return done;
}

/**
 * Calls `tick(k)` every `periodMs` for `durationMs` (k counts ticks), without waiting for the previous
 * tick's work (a fixed rate, not a closed loop), and never more than `maxInFlight` ticks at once (beyond
 * that a tick is skipped and counted). Resolves when every started tick has settled.
 */
export async function fixedRate(
  periodMs: number,
  durationMs: number,
  tick: (k: number) => Promise<void>,
  maxInFlight = 1000,
): Promise<{ ticks: number; skipped: number }> {
  const started = Date.now();
  const inFlight = new Set<Promise<void>>();
  let ticks = 0;
  let skipped = 0;
  for (let k = 0; ; k++) {
    const at = started + k * periodMs;
    if (at - started >= durationMs) break;
    const wait = at - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (inFlight.size >= maxInFlight) {
      skipped++;
      continue;
    }
    ticks++;
    const p: Promise<void> = tick(k)
      .catch(() => {})
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  return { ticks, skipped };
}
