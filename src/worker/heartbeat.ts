/**
 * Keeping what this worker holds. Every heartbeat it renews its registration and, in one statement,
 * the lease of every claim it holds: buffered, running, and those whose outcome is being written. When
 * a handler blocks the event loop, the lease keeper's thread renews them instead, so the other jobs
 * keep their lease. What a renewal (or a NOTIFY) reports, a cancel request or a lost lease, aborts the
 * claims it names: running ones through their signal; buffered ones never start.
 */
import type { Logger } from 'pino';
import type { Queue } from '../queue/queue.ts';
import type { ClaimedJob } from '../queue/types.ts';
import { type JobAbort, JobCancelledError, LeaseLostError } from './execute.ts';
import { LeaseKeeper } from './lease-keeper.ts';
import { errText } from './log.ts';
import type { Outcomes } from './outcome.ts';

/** A claim whose handler is running. */
export interface Running {
  job: ClaimedJob;
  abort: JobAbort;
  settled: Promise<void>;
}

export interface HeartbeatOptions {
  queue: Queue;
  /** For the lease keeper's own connection. */
  databaseUrl: string;
  logger: Logger;
  workerId: string;
  /** The worker's registration token (migrations/0009). */
  instance: string;
  leaseMs: number;
  heartbeatMs: number;
  timeoutGraceMs: number;
  maxBlockedMs?: number;
  /** The claims the worker's loop holds: waiting for a slot, and running (by claim). */
  buffer: ClaimedJob[];
  active: Map<number, Running>;
  /** Holds the claims whose outcome is being written, and records buffered jobs cancelled. */
  outcomes: Outcomes;
  /** Another worker registered this id: this one was taken for dead. */
  onIdentityLost: () => void;
}

export class Heartbeat {
  readonly #o: HeartbeatOptions;
  readonly #keeper: LeaseKeeper;
  /** The largest default timeout of this worker's kinds (see #blockBound). */
  readonly #kindTimeoutMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: HeartbeatOptions) {
    this.#o = options;
    this.#kindTimeoutMs = Math.max(0, ...options.queue.kinds.list().map((k) => k.timeoutMs));
    this.#keeper = new LeaseKeeper({
      databaseUrl: options.databaseUrl,
      schema: options.queue.schema,
      workerId: options.workerId,
      instance: options.instance,
      leaseMs: options.leaseMs,
      heartbeatMs: options.heartbeatMs,
      logger: options.logger,
      boundMs: () => this.#blockBound(),
      onIdentityLost: options.onIdentityLost,
    });
  }

  start(): void {
    this.#keeper.start();
    this.#timer = setInterval(() => void this.#beat(), this.#o.heartbeatMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#keeper.stop();
  }

  /** Renews one job's lease at its handler's request (HandlerContext.heartbeat). */
  async renew(job: ClaimedJob): Promise<void> {
    const hb = await this.#o.queue.renew(this.#o.workerId, [job]);
    this.#apply(hb.cancelRequested, hb.lost);
  }

  /**
   * A claim whose answer took half a lease or more (the event loop was blocked while it was on its
   * way) was unknown to the lease keeper meanwhile: its jobs may have been recovered and run by another
   * worker. Returns only those this renewal finds still held.
   */
  async stillHeld(jobs: ClaimedJob[]): Promise<ClaimedJob[]> {
    const lost = new Set((await this.#o.queue.renew(this.#o.workerId, jobs)).lost);
    if (lost.size > 0) this.#o.logger.warn({ lost: lost.size }, 'a slow claim came back after some of its jobs were recovered; skipping those');
    return jobs.filter((j) => !lost.has(j.claimSeq));
  }

  /** Aborts the claims `which` picks: running ones through their signal; buffered ones never start. */
  abort(which: (j: ClaimedJob) => boolean, reason: JobCancelledError | LeaseLostError): void {
    const { active, buffer } = this.#o;
    for (const a of active.values()) if (which(a.job)) a.abort.abort(reason);
    for (let i = buffer.length - 1; i >= 0; i--) {
      const job = buffer[i]!;
      if (!which(job)) continue;
      buffer.splice(i, 1);
      if (reason instanceof JobCancelledError) this.#o.outcomes.cancelledUnstarted(job);
    }
  }

  /** Renews the registration, then the lease of every claim held, in one statement; applies cancel requests and losses. */
  async #beat(): Promise<void> {
    const { queue, workerId } = this.#o;
    const startedAt = Date.now();
    try {
      if (!(await queue.renewWorker(workerId, this.#o.instance, this.#o.leaseMs))) return this.#o.onIdentityLost();
      const held = this.#holding();
      if (held.length > 0) {
        const hb = await queue.renew(workerId, held);
        this.#apply(hb.cancelRequested, hb.lost);
      }
      this.#keeper.renewed(startedAt);
    } catch (err) {
      this.#o.logger.warn({ err: errText(err) }, 'heartbeat failed');
    }
  }

  #apply(cancelRequested: number[], lost: number[]): void {
    const cancel = new Set(cancelRequested);
    const gone = new Set(lost);
    if (cancel.size > 0) this.abort((j) => cancel.has(j.claimSeq), new JobCancelledError());
    if (gone.size > 0) this.abort((j) => gone.has(j.claimSeq), new LeaseLostError());
  }

  /** Every claim this worker holds: buffered, running, and those whose outcome is being written. */
  #holding(): ClaimedJob[] {
    const jobs = [...this.#o.buffer];
    this.#o.outcomes.collect(jobs);
    for (const a of this.#o.active.values()) jobs.push(a.job);
    return jobs;
  }

  /**
   * How long the event loop may stay blocked before this worker counts as stuck (the lease keeper stops
   * renewing): maxBlockedMs, else the largest timeout of the jobs held (their own, or their kind's),
   * plus the timeout grace; holding nothing, the largest default timeout of its kinds.
   */
  #blockBound(): number {
    const { maxBlockedMs, queue } = this.#o;
    if (maxBlockedMs !== undefined) return maxBlockedMs;
    const held = this.#holding();
    let max = held.length === 0 ? this.#kindTimeoutMs : 0;
    for (const j of held) max = Math.max(max, j.timeoutMs ?? queue.kinds.get(j.kind)?.timeoutMs ?? this.#kindTimeoutMs);
    return max + this.#o.timeoutGraceMs;
  }
}
