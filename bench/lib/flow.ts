/**
 * Flow control's processing runs (issue #17, item 5), for systems whose driver has `flow` (jobq): the
 * same N no-op jobs and one worker process at concurrency 10 as `c10`, through a queue policy or
 * groups, so each figure reads beside `c10`'s:
 * - `limited`: the queue's concurrency limit is 10, the worker's own concurrency: every claim counts
 *   the running jobs under the queue's lock and nothing is buffered, which is what exactness costs;
 * - `rated`: a rate limit far above what the machine does (1,000,000 a second), so the figure is the
 *   cost of the sliding window's bookkeeping, not the limit;
 * - `groups`: the jobs spread over 1,000 groups (job i in group i mod 1,000), no policy: the round
 *   robin between groups.
 */
import type { BenchPolicy, Driver } from '../systems/types.ts';
import { BATCH } from './runs.ts';

export interface FlowRun {
  key: 'limited' | 'rated' | 'groups';
  policy: BenchPolicy | null;
  groups: number;
}

export const FLOW_RUNS: FlowRun[] = [
  { key: 'limited', policy: { concurrency: 10 }, groups: 0 },
  { key: 'rated', policy: { rate: { limit: 1_000_000, periodMs: 1_000 } }, groups: 0 },
  { key: 'groups', policy: null, groups: 1_000 },
];

/** Enqueues `jobs` no-op jobs for a flow run, with its policy in place. */
export async function prefillFlow(driver: Driver, run: FlowRun, jobs: number): Promise<void> {
  const flow = driver.flow!;
  await flow.setPolicy(run.policy);
  for (let done = 0; done < jobs; done += BATCH) {
    const payloads = Array.from({ length: Math.min(BATCH, jobs - done) }, () => ({}));
    if (run.groups > 0) await flow.enqueueGroupedBatch(payloads, (i) => `g${(done + i) % run.groups}`);
    else await driver.enqueueBatch(payloads);
  }
}
