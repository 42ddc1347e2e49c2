/**
 * A worker process's engine: one claim loop that fills free slots in one `claim` per wake-up, an
 * instant wake-up by LISTEN/NOTIFY with a poll as fallback, lease renewal in one statement for all
 * its jobs, cooperative cancellation, timeouts, a fleet-wide stale-lease sweeper, and graceful stop.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { PermanentError } from '../kinds/registry.ts';
import { isJobqError } from '../queue/errors.ts';
import type { Queue } from '../queue/queue.ts';
import { CANCEL_CHANNEL, JOBS_CHANNEL } from '../queue/sql.ts';
import type { Job } from '../queue/types.ts';
import { execute, JobCancelledError, JobTimeoutError, LeaseLostError, type Settled, WorkerShutdownError } from './execute.ts';
import { Listener } from './listener.ts';

export interface WorkerOptions {
  queue: Queue;
  /** For the dedicated LISTEN connection. */
  databaseUrl: string;
  logger: Logger;
  workerId: string;
  concurrency: number;
  /** Empty: all queues. */
  queues: string[];
  leaseMs: number;
  heartbeatMs: number;
  pollIntervalMs: number;
  shutdownGraceMs: number;
  /** How long a handler may ignore its aborted signal before its slot is freed. */
  timeoutGraceMs: number;
}

export type FinishOutcome = 'succeeded' | 'retried' | 'failed_permanent' | 'cancelled' | 'timed_out' | 'released' | 'lost';

export interface WorkerEvents {
  'job:start': [{ job: Job; waitMs: number }];
  'job:finish': [{ job: Job; outcome: FinishOutcome; durationMs: number }];
  claim: [{ requested: number; claimed: number }];
  recovered: [{ count: number }];
  'listener:reconnect': [];
}

interface Active {
  job: Job;
  controller: AbortController;
  done: Promise<void>;
}

export class Worker {
  readonly events = new EventEmitter<WorkerEvents>();
  readonly #o: WorkerOptions;
  readonly #active = new Map<string, Active>();
  readonly #kindNames: string[];
  readonly #listener: Listener;
  #stopping = false;
  #started = false;
  #loopDone: Promise<void> = Promise.resolve();
  #stopped: Promise<void> | undefined;
  #wakeup: (() => void) | undefined;
  #woken = false;
  #lastClaimFull = false;
  #timers: NodeJS.Timeout[] = [];

  constructor(options: WorkerOptions) {
    this.#o = options;
    this.#kindNames = options.queue.kinds.list().map((k) => k.name);
    this.#listener = new Listener({
      url: options.databaseUrl,
      channels: [JOBS_CHANNEL, CANCEL_CHANNEL],
      logger: options.logger,
      onNotify: (channel, payload) => this.#onNotify(channel, payload),
      onConnect: (reconnected) => {
        if (reconnected) this.events.emit('listener:reconnect');
        this.#wake();
      },
    });
  }

  get id(): string {
    return this.#o.workerId;
  }
  get busy(): number {
    return this.#active.size;
  }
  get concurrency(): number {
    return this.#o.concurrency;
  }

  async start(): Promise<void> {
    if (this.#started) throw new Error('worker already started');
    this.#started = true;
    await this.#listener.start();
    this.#timers.push(setInterval(() => void this.#heartbeat(), this.#o.heartbeatMs));
    const sweepEvery = Math.min(this.#o.heartbeatMs, Math.floor(this.#o.leaseMs / 4));
    this.#timers.push(setInterval(() => void this.#sweep(), sweepEvery));
    this.#loopDone = this.#loop();
    this.#o.logger.info({ worker_id: this.id, concurrency: this.concurrency, queues: this.#o.queues }, 'worker started');
  }

  /**
   * Graceful stop: no new claims; running handlers get the grace period to finish; then their signals
   * abort and whatever is still unfinished is released (back to queued, attempt not spent).
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    this.#wake();
    await this.#loopDone;
    const log = this.#o.logger;
    if (this.#active.size > 0) {
      log.info({ running: this.#active.size, grace_ms: this.#o.shutdownGraceMs }, 'waiting for running jobs to finish');
      await settleWithin(this.#allDone(), this.#o.shutdownGraceMs);
    }
    if (this.#active.size > 0) {
      for (const a of this.#active.values()) a.controller.abort(new WorkerShutdownError());
      await settleWithin(this.#allDone(), Math.min(this.#o.timeoutGraceMs, 2_000));
    }
    const leftovers = [...this.#active.keys()];
    if (leftovers.length > 0) {
      // Handlers that ignore their signal: give their jobs back anyway so nothing stays running.
      await this.#persist(() => this.#o.queue.release(this.id, leftovers)).catch(() => {});
      log.warn({ released: leftovers.length }, 'released jobs whose handlers did not stop in time');
    }
    for (const t of this.#timers) clearInterval(t);
    await this.#listener.close();
    log.info({ worker_id: this.id }, 'worker stopped');
  }

  async #loop(): Promise<void> {
    let errorDelay = 0;
    while (!this.#stopping) {
      const free = this.#o.concurrency - this.#active.size;
      if (free <= 0) {
        await this.#sleep(Infinity);
        continue;
      }
      let jobs: Job[];
      try {
        jobs = await this.#o.queue.claim(this.id, { limit: free, queues: this.#o.queues, kinds: this.#kindNames });
        errorDelay = 0;
      } catch (err) {
        errorDelay = Math.min(5_000, Math.max(100, errorDelay * 2));
        this.#o.logger.error({ err: errText(err), retry_ms: errorDelay }, 'claim failed');
        await this.#sleep(errorDelay);
        continue;
      }
      this.events.emit('claim', { requested: free, claimed: jobs.length });
      this.#lastClaimFull = jobs.length === free;
      for (const job of jobs) this.#start(job);
      if (!this.#lastClaimFull) await this.#sleep(this.#o.pollIntervalMs);
    }
  }

  #start(job: Job): void {
    const kind = this.#o.queue.kinds.get(job.kind)!;
    const controller = new AbortController();
    const started = performance.now();
    const logger = this.#o.logger.child({ job_id: job.id, kind: job.kind, attempt: job.attempts });
    const entry = { job, controller } as Active;
    this.#active.set(job.id, entry);
    this.events.emit('job:start', { job, waitMs: Math.max(0, (job.lockedAt?.getTime() ?? Date.now()) - job.runAt.getTime()) });
    logger.info('job started');
    entry.done = execute({
      handler: kind.handler,
      payload: job.payload,
      controller,
      timeoutMs: job.timeoutMs ?? kind.timeoutMs,
      graceMs: this.#o.timeoutGraceMs,
      ctx: {
        job: { id: job.id, kind: job.kind, queue: job.queue, attempt: job.attempts, maxAttempts: job.maxAttempts },
        logger,
        heartbeat: async () => {
          const hb = await this.#o.queue.heartbeat(this.id, [job.id]);
          this.#applyHeartbeat(hb.cancelRequested, hb.lost);
        },
      },
    })
      .then((settled) => this.#finish(job, settled))
      .catch((err: unknown): FinishOutcome => {
        // The outcome could not be written within a lease period: the sweeper will give the job another run.
        logger.error({ err: errText(err) }, 'could not record the outcome of the job');
        return 'lost';
      })
      .then((outcome) => {
        const durationMs = performance.now() - started;
        logger.info({ outcome, duration_ms: Math.round(durationMs * 1000) / 1000 }, 'job finished');
        this.events.emit('job:finish', { job, outcome, durationMs });
      })
      .finally(() => {
        this.#active.delete(job.id);
        if (this.#lastClaimFull) this.#wake();
      });
  }

  /** Records what the handler did. Returns the outcome for logs and metrics. */
  async #finish(job: Job, s: Settled): Promise<FinishOutcome> {
    const q = this.#o.queue;
    const opts = { workerId: this.id, previousDelayMs: job.backoffMs };
    try {
      if (s.ok) {
        await this.#persist(() => q.markSucceeded(job.id, s.value, opts));
        return 'succeeded';
      }
      if (s.reason instanceof WorkerShutdownError) {
        await this.#persist(() => q.release(this.id, [job.id]));
        return 'released';
      }
      if (s.reason instanceof LeaseLostError) return 'lost';
      if (s.reason instanceof JobCancelledError) {
        await this.#persist(() => q.finalizeCancelled(job.id, opts));
        return 'cancelled';
      }
      if (s.reason instanceof JobTimeoutError) {
        await this.#persist(() => q.markFailedOrRetry(job.id, s.reason, opts));
        return 'timed_out';
      }
      const permanent = s.error instanceof PermanentError;
      const after = await this.#persist(() => q.markFailedOrRetry(job.id, s.error, { ...opts, permanent }));
      return after.status === 'retrying' ? 'retried' : after.status === 'cancelled' ? 'cancelled' : 'failed_permanent';
    } catch (err) {
      if (isJobqError(err, 'invalid_transition')) {
        this.#o.logger.warn({ job_id: job.id, err: err.message }, 'job was taken from this worker before it finished');
        return 'lost';
      }
      throw err;
    }
  }

  /** Retries a write while the database is unavailable, for up to one lease period. */
  async #persist<T>(write: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#o.leaseMs;
    for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
      try {
        return await write();
      } catch (err) {
        if (!isJobqError(err, 'database_unavailable') || Date.now() + delay > deadline) throw err;
        this.#o.logger.warn({ retry_ms: delay }, 'database unavailable; retrying the write');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async #heartbeat(): Promise<void> {
    const ids = [...this.#active.keys()];
    if (ids.length === 0) return;
    try {
      const hb = await this.#o.queue.heartbeat(this.id, ids);
      this.#applyHeartbeat(hb.cancelRequested, hb.lost);
    } catch (err) {
      this.#o.logger.warn({ err: errText(err) }, 'heartbeat failed');
    }
  }

  #applyHeartbeat(cancelRequested: string[], lost: string[]): void {
    for (const id of cancelRequested) this.#abort(id, new JobCancelledError());
    for (const id of lost) this.#abort(id, new LeaseLostError());
  }

  #abort(id: string, reason: Error): void {
    const a = this.#active.get(id);
    if (a && !a.controller.signal.aborted) a.controller.abort(reason);
  }

  async #sweep(): Promise<void> {
    if (this.#stopping) return;
    try {
      const count = await this.#o.queue.sweep(this.#o.leaseMs);
      if (count) {
        this.#o.logger.warn({ count }, 'recovered jobs whose worker was lost');
        this.events.emit('recovered', { count });
      }
    } catch (err) {
      this.#o.logger.warn({ err: errText(err) }, 'sweep failed');
    }
  }

  #onNotify(channel: string, payload: string): void {
    if (channel === CANCEL_CHANNEL) {
      this.#abort(payload, new JobCancelledError());
      return;
    }
    if (this.#o.queues.length === 0 || this.#o.queues.includes(payload)) this.#wake();
  }

  #wake(): void {
    this.#woken = true;
    this.#wakeup?.();
  }

  /** Sleeps until woken (notification, free slot, stop) or `ms` passes. A wake-up that came first is not lost. */
  async #sleep(ms: number): Promise<void> {
    if (this.#woken || this.#stopping) {
      this.#woken = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(resolve, ms) : undefined;
      this.#wakeup = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wakeup = undefined;
    this.#woken = false;
  }

  #allDone(): Promise<unknown> {
    return Promise.all([...this.#active.values()].map((a) => a.done));
  }
}

async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
