/**
 * What a worker writes for a job whose handler did not succeed (successes go through the Completer):
 * released on shutdown, cancelled, retried or failed for good. Every write names the claim, so it
 * never applies to a later attempt of the job.
 */
import { PermanentError } from '../kinds/registry.ts';
import type { Queue } from '../queue/index.ts';
import type { ClaimedJob } from '../queue/types.ts';
import { JobCancelledError, JobTimeoutError, LeaseLostError, type Settled, WorkerShutdownError } from './execute.ts';

export type FinishOutcome = 'succeeded' | 'retried' | 'failed_permanent' | 'cancelled' | 'timed_out' | 'released' | 'lost';

export interface OutcomeWriter {
  queue: Queue;
  workerId: string;
  /** Wraps each write (the worker retries while the database is unavailable). */
  persist: <T>(write: () => Promise<T>) => Promise<T>;
}

/**
 * Writes what the handler did; returns the outcome for logs and metrics. Throws `invalid_transition`
 * when the claim is no longer this worker's (recovered, cancelled meanwhile), and what `persist` throws.
 */
export async function recordFailure(w: OutcomeWriter, job: ClaimedJob, s: Settled & { ok: false }): Promise<FinishOutcome> {
  const { queue: q, workerId, persist } = w;
  const opts = { workerId, claimSeq: job.claimSeq, previousDelayMs: job.backoffMs };
  if (s.reason instanceof WorkerShutdownError) {
    await persist(() => q.release(workerId, [job]));
    return 'released';
  }
  if (s.reason instanceof LeaseLostError) return 'lost';
  if (s.reason instanceof JobCancelledError) {
    await persist(() => q.finalizeCancelled(job.id, opts));
    return 'cancelled';
  }
  if (s.reason instanceof JobTimeoutError) {
    // A cancel requested meanwhile wins (the job ends cancelled): one attempt, one outcome.
    const after = await persist(() => q.markFailedOrRetry(job.id, s.reason, opts));
    return after.status === 'cancelled' ? 'cancelled' : 'timed_out';
  }
  const permanent = s.error instanceof PermanentError;
  const after = await persist(() => q.markFailedOrRetry(job.id, s.error, { ...opts, permanent }));
  return after.status === 'retrying' ? 'retried' : after.status === 'cancelled' ? 'cancelled' : 'failed_permanent';
}
