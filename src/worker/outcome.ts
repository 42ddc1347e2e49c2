/**
 * Writing what became of each claim, and telling the worker's listeners (`job:finish`). Successes go
 * in batches through the Completer; a failure, cancellation or release is written on its own. Every
 * write names the claim, so it never applies to a later attempt of the job, and is retried while the
 * database is unavailable (persist).
 */
import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { isJobqError } from '../errors.ts';
import { PermanentError } from '../kinds/registry.ts';
import { retry, type RetryOptions } from '../lib/retry.ts';
import type { Queue } from '../queue/index.ts';
import type { ClaimedJob } from '../queue/types.ts';
import { Completer } from './completer.ts';
import type { FinishOutcome, WorkerEvents } from './events.ts';
import { JobCancelledError, JobTimeoutError, LeaseLostError, type Settled, WorkerShutdownError } from './execute.ts';
import { errText, logFields } from './log.ts';
import { finishRun } from './run-trace.ts';

export interface OutcomeWriter {
  queue: Queue;
  workerId: string;
  /** Wraps each write (retried while the database is unavailable). */
  persist: <T>(write: () => Promise<T>) => Promise<T>;
}

/**
 * Writes what the handler did; returns the outcome for logs and metrics. Throws `invalid_transition`
 * when the claim is no longer this worker's (recovered, cancelled meanwhile), and what `persist` throws.
 */
export async function recordFailure(w: OutcomeWriter, job: ClaimedJob, s: Settled & { ok: false }): Promise<FinishOutcome> {
  const { queue: q, workerId } = w;
  const opts = { workerId, claimSeq: job.claimSeq, previousDelayMs: job.backoffMs, launchedAtMs: job.launchedAtMs };
  if (s.reason instanceof WorkerShutdownError) {
    await w.persist(() => q.release(workerId, [job]));
    return 'released';
  }
  if (s.reason instanceof LeaseLostError) return 'lost';
  if (s.reason instanceof JobCancelledError) {
    await w.persist(() => q.finalizeCancelled(job.id, opts));
    return 'cancelled';
  }
  if (s.reason instanceof JobTimeoutError) {
    // A cancel requested meanwhile wins (the job ends cancelled): one attempt, one outcome.
    const after = await w.persist(() => q.markFailedOrRetry(job.id, s.reason, opts));
    return after.status === 'cancelled' ? 'cancelled' : 'timed_out';
  }
  const permanent = s.error instanceof PermanentError;
  const after = await w.persist(() => q.markFailedOrRetry(job.id, s.error, { ...opts, permanent }));
  return after.status === 'retrying' ? 'retried' : after.status === 'cancelled' ? 'cancelled' : 'failed_permanent';
}

export interface OutcomesOptions {
  queue: Queue;
  workerId: string;
  logger: Logger;
  /** How long a write is retried while the database is unavailable. */
  leaseMs: number;
  events: EventEmitter<WorkerEvents>;
  /** Called once each outcome is written (or given up), after the listeners. */
  onFinished: (job: ClaimedJob) => void;
}

/** The outcomes of one worker's claims, from the handler settling to the write and `job:finish`. */
export class Outcomes implements OutcomeWriter {
  readonly queue: Queue;
  readonly workerId: string;
  readonly #o: OutcomesOptions;
  readonly #completer: Completer;
  /** Failed, cancelled or released claims whose outcome is being written. */
  readonly #finishing = new Map<number, { job: ClaimedJob; write: Promise<void> }>();
  /** Made once: every write goes through persist. */
  readonly #retry: RetryOptions;

  constructor(options: OutcomesOptions) {
    this.#o = options;
    this.queue = options.queue;
    this.workerId = options.workerId;
    // At least one retry whatever the deadline: a write in flight while a handler blocked the event
    // loop times out client-side when the loop runs again, and a retry (guarded by the claim) is what
    // tells whether it was written.
    this.#retry = {
      retryable: (err) => isJobqError(err, 'database_unavailable'),
      withinMs: options.leaseMs,
      firstDelayMs: 100,
      maxDelayMs: 2_000,
      minRetries: 1,
      onRetry: (_err, ms) => options.logger.warn({ retry_ms: ms }, 'database unavailable; retrying the write'),
    };
    this.#completer = new Completer(options.queue, options.workerId, (write) => this.persist(write));
  }

  /** Retries a write while the database is unavailable, for up to one lease period, and at least once. */
  persist<T>(write: () => Promise<T>): Promise<T> {
    return retry(write, this.#retry);
  }

  /** Outcomes waiting to be written. */
  get unwritten(): number {
    return this.#finishing.size + this.#completer.size;
  }

  /** Adds the claims whose outcome is not written yet to `into`: the database still has them running. */
  collect(into: ClaimedJob[]): void {
    for (const job of this.#completer.pending) into.push(job);
    for (const f of this.#finishing.values()) into.push(f.job);
  }

  /**
   * The handler succeeded. The common case, kept free of promises: the completer calls back once the
   * batch is written. When the handler's last progress report is being written (`progressWrite`), the
   * outcome waits for it (the report's write is guarded by the claim the outcome ends).
   */
  succeeded(job: ClaimedJob, value: unknown, started: number, ran: number, progressWrite?: Promise<void>): void {
    if (progressWrite) return this.#afterProgress(job, progressWrite, () => this.succeeded(job, value, started, ran));
    this.#completer.complete(job, value, (err, held) => {
      const outcome = err !== undefined ? this.#unwritten(job, err) : held ? 'succeeded' : this.#lost(job);
      this.#finished(job, outcome, started, ran);
    });
  }

  /** The handler failed, was aborted, or was abandoned; after its last progress report, as `succeeded`. */
  failed(job: ClaimedJob, s: Settled & { ok: false }, started: number, ran: number, progressWrite?: Promise<void>): void {
    if (progressWrite) return this.#afterProgress(job, progressWrite, () => this.failed(job, s, started, ran));
    const write = recordFailure(this, job, s)
      .catch((err: unknown) => (isJobqError(err, 'invalid_transition') ? this.#lost(job) : this.#unwritten(job, err)))
      .then((outcome) => this.#finished(job, outcome, started, ran))
      .finally(() => this.#finishing.delete(job.claimSeq));
    this.#finishing.set(job.claimSeq, { job, write });
  }

  /** A cancel request reached a job that never started: record it cancelled without running it. */
  cancelledUnstarted(job: ClaimedJob): void {
    const write = this.persist(() => this.queue.finalizeCancelled(job.id, { workerId: this.workerId, claimSeq: job.claimSeq }))
      .then(() => void this.#o.events.emit('job:finish', { job, outcome: 'cancelled', durationMs: 0 }))
      .catch((err) => this.#o.logger.warn({ job_id: job.id, err: errText(err) }, 'could not record a cancellation'))
      .finally(() => this.#finishing.delete(job.claimSeq));
    this.#finishing.set(job.claimSeq, { job, write });
  }

  /** Gives claims back unrun (stopping); a failure is left to the sweeper. */
  release(jobs: ClaimedJob[]): Promise<void> {
    return this.persist(() => this.queue.release(this.workerId, jobs)).then(() => {}, () => {});
  }

  /** Resolves when every outcome handed over so far is written or given up. */
  async drain(): Promise<void> {
    // A claim waiting for its last progress report hands its outcome over only then: look again.
    while (this.#finishing.size > 0) await Promise.allSettled([...this.#finishing.values()].map((f) => f.write));
    await this.#completer.drain();
  }

  /** Records the outcome (`record`) once the handler's last progress report is written; the claim counts as finishing meanwhile. */
  #afterProgress(job: ClaimedJob, progressWrite: Promise<void>, record: () => void): void {
    const entry = { job, write: progressWrite }; // never rejects
    this.#finishing.set(job.claimSeq, entry);
    void entry.write.then(() => {
      if (this.#finishing.get(job.claimSeq) === entry) this.#finishing.delete(job.claimSeq);
      record();
    });
  }

  #finished(job: ClaimedJob, outcome: FinishOutcome, started: number, ran: number): void {
    const { logger: log, events } = this.#o;
    finishRun(job, outcome);
    if (log.isLevelEnabled('info')) {
      log.info({ ...logFields(job), outcome, duration_ms: Math.round((performance.now() - started) * 1000) / 1000 }, 'job finished');
    }
    if (events.listenerCount('job:finish') > 0) {
      try {
        events.emit('job:finish', { job, outcome, durationMs: ran });
      } catch (err) {
        log.error({ job_id: job.id, err: errText(err) }, 'a job:finish listener threw');
      }
    }
    this.#o.onFinished(job);
  }

  /** The outcome could not be written within a lease period: the sweeper will give the job another run. */
  #unwritten(job: ClaimedJob, err: unknown): FinishOutcome {
    this.#o.logger.error({ job_id: job.id, err: errText(err) }, 'could not record the outcome of the job');
    return 'lost';
  }

  #lost(job: ClaimedJob): FinishOutcome {
    this.#o.logger.warn({ job_id: job.id }, 'job was taken from this worker before its outcome was written');
    return 'lost';
  }
}
