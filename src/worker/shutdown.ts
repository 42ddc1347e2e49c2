/**
 * What a stopping worker does with its slots, once its claim loop has ended: gives the buffered jobs
 * back unrun, lets running jobs finish within the shutdown grace period, then aborts them, releases
 * those whose handler ignores its signal (so nothing stays running), and waits until every outcome is
 * written.
 */
import type { Logger } from 'pino';
import { settleWithin } from '../lib/settle.ts';
import type { ClaimedJob } from '../queue/types.ts';
import { WorkerShutdownError } from './execute.ts';
import type { Running } from './heartbeat.ts';
import type { Outcomes } from './outcome.ts';

export interface DrainOptions {
  buffer: ClaimedJob[];
  active: Map<number, Running>;
  outcomes: Outcomes;
  logger: Logger;
  shutdownGraceMs: number;
  timeoutGraceMs: number;
}

export async function drainSlots(o: DrainOptions): Promise<void> {
  const { active, logger: log } = o;
  const buffered = o.buffer.splice(0);
  if (buffered.length > 0) await o.outcomes.release(buffered);
  if (active.size > 0) {
    log.info({ running: active.size, grace_ms: o.shutdownGraceMs }, 'waiting for running jobs to finish');
    await settleWithin(allSettled(active), o.shutdownGraceMs);
  }
  if (active.size > 0) {
    for (const a of active.values()) a.abort.abort(new WorkerShutdownError());
    await settleWithin(allSettled(active), Math.min(o.timeoutGraceMs, 2_000));
  }
  const leftovers = [...active.values()].map((a) => a.job);
  if (leftovers.length > 0) {
    // Handlers that ignore their signal: give their jobs back anyway so nothing stays running.
    await o.outcomes.release(leftovers);
    log.warn({ released: leftovers.length }, 'released jobs whose handlers did not stop in time');
  }
  await o.outcomes.drain();
}

function allSettled(active: Map<number, Running>): Promise<unknown> {
  return Promise.all([...active.values()].map((a) => a.settled));
}
