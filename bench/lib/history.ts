/**
 * The `finished` scenario (issues #6 and #22): processing with a large history kept, and the
 * retention of a day of it. `--finished` finished jobs (10,000,000 in a full run) are stored the way
 * each system keeps them (Driver.addFinished: jobq through its own API in whichever store its Queue
 * uses, spread over its default retention, bench/systems/jobq-history.ts; the peers by SQL or Lua);
 * then N pre-enqueued jobs run through 1 worker process × 10 after VACUUM (ANALYZE), as `c10`, once
 * per repetition (`process.finished`, read against `c10`'s empty tables); last, where the driver has
 * one, the system's own retention removes the history's first day, timed (`retention.day`).
 */
import type { Options } from './options.ts';
import type { Figure } from './report.ts';
import { prefill, processRun, type System } from './runs.ts';
import type { Add } from './streams.ts';

export async function historyScenario(sys: System, o: Options, jobs: number, figures: Record<string, Figure>, add: Add, log: (m: string) => void): Promise<void> {
  const { driver, def } = sys;
  await driver.reset();
  log(`${def.id} adding ${o.finished.toLocaleString('en-US')} finished jobs`);
  const t0 = performance.now();
  let told = 0;
  const note = await driver.addFinished(o.finished, (made) => {
    // About every tenth of the history (10,000,000 through jobq's API take a while).
    if (made - told >= o.finished / 10 || made === o.finished) {
      told = made;
      log(`${def.id} history: ${made.toLocaleString('en-US')} of ${o.finished.toLocaleString('en-US')} finished jobs in ${Math.round((performance.now() - t0) / 1000)} s`);
    }
  });
  if (note) {
    // Nothing to add: the run would be the 1 × 10 run again. Say so and show that figure.
    figures['process.finished'] = { ...(figures['process.c10'] ?? { unit: 'jobs/s', values: [], median: null }), note };
    return;
  }
  const made = (performance.now() - t0) / 1000;
  log(`${def.id} history of ${o.finished.toLocaleString('en-US')} finished jobs made in ${made.toFixed(0)} s`);
  for (let rep = 1; rep <= o.reps; rep++) {
    await prefill(driver, jobs);
    const r = await processRun(sys, { concurrency: 10, processes: 1, jobs, timeoutMs: o.timeoutMs });
    add('process.finished', r.jobsPerSec, { extraRuns: r.extraRuns, historySeconds: rep === 1 ? made : 0 });
    log(`${def.id} process.finished rep ${rep}/${o.reps}: ${Math.round(r.jobsPerSec).toLocaleString('en-US')} jobs/s`);
  }
  if (!driver.retention) return;
  // Once: it removes the day it times.
  try {
    const r = await driver.retention();
    add('retention.day', r.ms, { removed: r.removed, expected: r.expected, calls: r.calls });
    if (r.removed !== r.expected) figures['retention.day']!.note = `removed ${r.removed.toLocaleString('en-US')} finished jobs where the day held ${r.expected.toLocaleString('en-US')}`;
    log(`${def.id} retention of a day (${r.removed.toLocaleString('en-US')} jobs): ${Math.round(r.ms).toLocaleString('en-US')} ms in ${r.calls} call(s)`);
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0]!;
    figures['retention.day'] = { unit: 'ms', values: [], median: null, error: msg };
    log(`${def.id} retention.day: FAILED ${msg}`);
  }
}
