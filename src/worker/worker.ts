/**
 * A worker process's engine.
 *
 * - One claim loop takes, in one `claimToRun`, enough jobs for the free slots plus a small local
 *   buffer; the buffer lets the next job start the instant a slot frees instead of a round trip later.
 *   It is sized to hold about BUFFER_TARGET_MS of work at the observed handler speed (so slow handlers
 *   buffer next to nothing and jobs stay fair between workers), and only while a backlog exists.
 *   Buffered jobs start in claim order, and the worker records how far it got as one number (its
 *   start watermark), so that losing it gives the never-started ones their attempt back.
 * - NOTIFY wakes the loop at once; a poll is the fallback.
 * - Successes are written in batches (see Completer); a slot frees as soon as its handler settles.
 * - Leases of everything it holds (buffered, running, being written) are renewed in one statement per
 *   heartbeat; when a handler blocks the event loop, a watchdog thread (LeaseKeeper) renews them
 *   instead, so the other jobs keep their lease. Every write is guarded by the claim (claim_seq), and
 *   in-flight work is keyed by claim: a late outcome of an earlier attempt never finishes the attempt
 *   that replaced it.
 * - The worker id is registered at start (refused while a live worker holds it) and kept alive with
 *   the heartbeat (migrations/0009).
 * - Cancel requests (NOTIFY or heartbeat) abort the handler's signal; timeouts abort it too, and a
 *   handler ignoring its signal loses its slot after a grace period.
 * - A fleet-wide sweeper (advisory lock) recovers jobs whose worker was lost.
 * - stop() gives back the buffer, lets running jobs finish within the grace period, then aborts and
 *   releases the rest, and writes every outcome before it resolves.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { isJobqError } from '../errors.ts';
import type { Queue } from '../queue/queue.ts';
import { CANCEL_CHANNEL, JOBS_CHANNEL } from '../queue/sql.ts';
import { DEFAULT_RETENTION, type Retention } from '../queue/retention.ts';
import type { ClaimedJob } from '../queue/types.ts';
import { Coalescer } from '../lib/coalescer.ts';
import { Completer } from './completer.ts';
import { errText, JobContext, logFields, settleWithin } from './context.ts';
import { LeaseKeeper, registerWorker, WorkerIdInUseError } from './lease-keeper.ts';
import { execute, JobAbort, JobCancelledError, LeaseLostError, type Settled, WorkerShutdownError } from './execute.ts';
import { Listener } from './listener.ts';
import { type FinishOutcome, type OutcomeWriter, recordFailure } from './outcome.ts';

export { type FinishOutcome, WorkerIdInUseError };

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
  /** How long finished jobs are kept before the sweeper deletes them. Default DEFAULT_RETENTION. */
  retention?: Retention;
  /**
   * How long leases are kept renewed while the event loop is blocked (a synchronous handler). Default:
   * the largest timeout of the jobs held plus `timeoutGraceMs`; past it the worker counts as stuck and
   * its jobs are left to the sweeper.
   */
  maxBlockedMs?: number;
}


export interface WorkerEvents {
  /** waitMs: from the moment the job became runnable (run_at) to its start. */
  'job:start': [{ job: ClaimedJob; waitMs: number }];
  'job:finish': [{ job: ClaimedJob; outcome: FinishOutcome; durationMs: number }];
  claim: [{ requested: number; claimed: number }];
  recovered: [{ count: number }];
  'listener:reconnect': [];
}

/** The local buffer holds about this much work (at the observed handler speed), at most MAX_BUFFER jobs. */
const BUFFER_TARGET_MS = 100;
const MAX_BUFFER = 1000;
/** Claiming pauses while this many outcomes wait to be written (the database is slow or away). */
const MAX_UNWRITTEN = 5000;

interface Active {
  job: ClaimedJob;
  abort: JobAbort;
  settled: Promise<void>;
}

export class Worker {
  readonly events = new EventEmitter<WorkerEvents>();
  readonly #o: WorkerOptions;
  readonly #buffer: ClaimedJob[] = [];
  /** In-flight work by claim (claim_seq), not by job id: two attempts of one job are two entries. */
  readonly #active = new Map<number, Active>();
  /** Failed, cancelled or released claims whose outcome is being written. */
  readonly #finishing = new Map<number, { job: ClaimedJob; write: Promise<void> }>();
  /** This Worker object's registration token for its id (migrations/0009). */
  readonly #instance = randomUUID();
  readonly #keeper: LeaseKeeper;
  readonly #kindNames: string[];
  /** The largest default timeout of this worker's kinds (see #blockBound). */
  readonly #kindTimeoutMs: number;
  readonly #listener: Listener;
  readonly #completer: Completer;
  readonly #outcomes: OutcomeWriter;
  readonly #starter: Coalescer<number, void>;
  // Starts high, so a fresh worker claims about twice its concurrency until it has seen handlers run;
  // a worker that dies early then strands few jobs.
  #avgRunMs = 100;
  #stopping = false;
  #started = false;
  #loopDone: Promise<void> = Promise.resolve();
  #stopped: Promise<void> | undefined;
  #wakeup: (() => void) | undefined;
  #woken = false;
  #lastClaimFull = false;
  /** Something may be claimable: a notification came, or the poll tick passed. */
  #hint = true;
  /** The loop sleeps because it has no room (slots and buffer full, or too many unwritten outcomes). */
  #roomless = false;
  #throttled = false;
  #timers: NodeJS.Timeout[] = [];

  constructor(options: WorkerOptions) {
    this.#o = options;
    this.#kindNames = options.queue.kinds.list().map((k) => k.name);
    this.#kindTimeoutMs = Math.max(0, ...options.queue.kinds.list().map((k) => k.timeoutMs));
    this.#completer = new Completer(options.queue, options.workerId, (write) => this.#persist(write));
    this.#outcomes = { queue: options.queue, workerId: options.workerId, persist: (write) => this.#persist(write) };
    this.#keeper = new LeaseKeeper({
      ...options,
      instance: this.#instance,
      boundMs: () => this.#blockBound(),
      onIdentityLost: () => this.#identityLost(),
    });
    // Buffered jobs start in claim order, so one number says which have started: the last one's.
    this.#starter = new Coalescer<number, void>(async (seqs) => {
      await options.queue.markStartedThrough(options.workerId, Math.max(...seqs));
      return seqs.map(() => undefined);
    }, 1);
    this.#listener = new Listener({
      url: options.databaseUrl,
      channels: [JOBS_CHANNEL, CANCEL_CHANNEL],
      logger: options.logger,
      onNotify: (channel, payload) => this.#onNotify(channel, payload),
      onConnect: (reconnected) => {
        if (reconnected) this.events.emit('listener:reconnect');
        this.#hint = true; // notifications sent while it was away are lost: look now
        this.#wake();
      },
    });
  }

  get id(): string {
    return this.#o.workerId;
  }
  /** Slots running a handler. */
  get busy(): number {
    return this.#active.size;
  }
  get concurrency(): number {
    return this.#o.concurrency;
  }
  /** Claimed jobs waiting for a slot. */
  get buffered(): number {
    return this.#buffer.length;
  }

  async start(): Promise<void> {
    if (this.#started) throw new Error('worker already started');
    this.#started = true;
    await registerWorker(this.#o.queue, this.id, this.#instance, this.#o.leaseMs, this.#o.logger);
    this.#keeper.start();
    await this.#listener.start();
    this.#timers.push(setInterval(() => void this.#heartbeat(), this.#o.heartbeatMs));
    const sweepEvery = Math.min(this.#o.heartbeatMs, Math.floor(this.#o.leaseMs / 4));
    this.#timers.push(setInterval(() => void this.#sweep(), sweepEvery));
    this.#loopDone = this.#loop();
    this.#o.logger.info({ worker_id: this.id, concurrency: this.concurrency, queues: this.#o.queues }, 'worker started');
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    this.#wake();
    await this.#loopDone;
    const log = this.#o.logger;
    const buffered = this.#buffer.splice(0);
    if (buffered.length > 0) await this.#persist(() => this.#o.queue.releaseClaims(this.id, buffered)).catch(() => {});
    if (this.#active.size > 0) {
      log.info({ running: this.#active.size, grace_ms: this.#o.shutdownGraceMs }, 'waiting for running jobs to finish');
      await settleWithin(this.#allSettled(), this.#o.shutdownGraceMs);
    }
    if (this.#active.size > 0) {
      for (const a of this.#active.values()) a.abort.abort(new WorkerShutdownError());
      await settleWithin(this.#allSettled(), Math.min(this.#o.timeoutGraceMs, 2_000));
    }
    const leftovers = [...this.#active.values()].map((a) => a.job);
    if (leftovers.length > 0) {
      // Handlers that ignore their signal: give their jobs back anyway so nothing stays running.
      await this.#persist(() => this.#o.queue.releaseClaims(this.id, leftovers)).catch(() => {});
      log.warn({ released: leftovers.length }, 'released jobs whose handlers did not stop in time');
    }
    await Promise.allSettled([...this.#finishing.values()].map((f) => f.write));
    await this.#completer.drain();
    for (const t of this.#timers) clearInterval(t);
    await this.#keeper.stop();
    await this.#listener.close();
    await this.#o.queue.unregisterWorker(this.id, this.#instance).catch(() => {});
    log.info({ worker_id: this.id }, 'worker stopped');
  }

  /**
   * Claims when there is room (free slots or buffer) and a reason to expect work: a notification, the
   * poll tick, or a last claim that came back full (a backlog). Otherwise it sleeps until one of those
   * or a freed slot. The poll keeps a fixed rhythm: busy slots freeing up do not postpone it.
   */
  async #loop(): Promise<void> {
    let errorDelay = 0;
    let nextPoll = 0;
    // Where the next claim continues: the last job of a full claim. Reset to the front of the queue
    // when a claim from it comes back short and at every poll tick (see migrations/0004).
    let cursor: ClaimedJob | undefined;
    while (!this.#stopping) {
      const now = Date.now();
      if (now >= nextPoll) {
        this.#hint = true;
        cursor = undefined;
        nextPoll = now + this.#o.pollIntervalMs;
      }
      const want = this.#o.concurrency - this.#active.size + this.#bufferTarget() - this.#buffer.length;
      this.#throttled = this.#finishing.size + this.#completer.size > MAX_UNWRITTEN;
      this.#roomless = want <= 0 || this.#throttled;
      if (this.#roomless || !(this.#hint || this.#lastClaimFull)) {
        await this.#sleep(nextPoll - now);
        continue;
      }
      this.#hint = false;
      let jobs: ClaimedJob[];
      try {
        const slots = Math.max(0, this.#o.concurrency - this.#active.size - this.#buffer.length);
        const sent = performance.now();
        jobs = await this.#o.queue.claimToRun(this.id, { limit: want, queues: this.#o.queues, kinds: this.#kindNames, after: cursor, started: slots });
        if (jobs.length > 0 && performance.now() - sent > this.#o.leaseMs / 2) jobs = await this.#stillHeld(jobs);
        errorDelay = 0;
      } catch (err) {
        cursor = undefined;
        errorDelay = Math.min(5_000, Math.max(100, errorDelay * 2));
        this.#o.logger.error({ err: errText(err), retry_ms: errorDelay }, 'claim failed');
        this.#hint = true;
        await this.#sleep(errorDelay);
        continue;
      }
      this.events.emit('claim', { requested: want, claimed: jobs.length });
      const full = jobs.length === want;
      if (!full && cursor) this.#hint = true; // short from the cursor: look again from the front at once
      cursor = full ? jobs[jobs.length - 1] : undefined;
      this.#lastClaimFull = full;
      this.#buffer.push(...jobs);
      this.#pump();
    }
  }

  /**
   * A claim whose answer took half a lease or more (the event loop was blocked while it was on its
   * way) was unknown to the lease keeper meanwhile: its jobs may have been recovered and run by another
   * worker. Run only those this renewal finds still held (the rest stay out of the buffer).
   */
  async #stillHeld(jobs: ClaimedJob[]): Promise<ClaimedJob[]> {
    const lost = new Set((await this.#o.queue.renewClaims(this.id, jobs)).lost);
    if (lost.size > 0) this.#o.logger.warn({ lost: lost.size }, 'a slow claim came back after some of its jobs were recovered; skipping those');
    return jobs.filter((j) => !lost.has(j.claimSeq));
  }

  /** Jobs to hold beyond the free slots: none without a backlog, else ~BUFFER_TARGET_MS of work. */
  #bufferTarget(): number {
    if (!this.#lastClaimFull) return 0;
    const perSlot = BUFFER_TARGET_MS / Math.max(this.#avgRunMs, 0.05);
    return Math.min(MAX_BUFFER, Math.floor(this.#o.concurrency * perSlot));
  }

  #pump(): void {
    while (this.#active.size < this.#o.concurrency && this.#buffer.length > 0 && !this.#stopping) this.#start(this.#buffer.shift()!);
  }

  #start(job: ClaimedJob): void {
    const kind = this.#o.queue.kinds.get(job.kind)!;
    const abort = new JobAbort();
    const started = performance.now();
    const log = this.#o.logger;
    if (this.events.listenerCount('job:start') > 0) this.events.emit('job:start', { job, waitMs: Math.max(0, Date.now() - job.runAt.getTime()) });
    if (log.isLevelEnabled('info')) log.info(logFields(job), 'job started');
    // Claimed into the buffer, it starts only now: say so, so that losing this worker counts the attempt.
    if (job.startedAt === null) this.#starter.add(job.claimSeq).catch((err) => log.debug({ ...logFields(job), err: errText(err) }, 'could not mark the job started'));
    const out = execute({
      handler: kind.handler,
      payload: job.payload,
      abort,
      timeoutMs: job.timeoutMs ?? kind.timeoutMs,
      graceMs: this.#o.timeoutGraceMs,
      ctx: new JobContext(job, abort, log, this),
    });
    // A handler that returned without a promise is done already: it never held a slot.
    if (out instanceof Promise) this.#active.set(job.claimSeq, { job, abort, settled: out.then((s) => this.#settled(job, started, s)) });
    else this.#settled(job, started, out);
  }

  /** Renews one job's lease at its handler's request (HandlerContext.heartbeat). */
  async heartbeatJob(job: ClaimedJob): Promise<void> {
    const hb = await this.#o.queue.renewClaims(this.id, [job]);
    this.#applyHeartbeat(hb.cancelRequested, hb.lost);
  }

  /** Every claim this worker holds: buffered, running, and those whose outcome is being written. */
  #holding(): ClaimedJob[] {
    const jobs = [...this.#buffer, ...this.#completer.pending];
    for (const a of this.#active.values()) jobs.push(a.job);
    for (const f of this.#finishing.values()) jobs.push(f.job);
    return jobs;
  }

  /**
   * How long the event loop may stay blocked before this worker counts as stuck (the lease keeper stops
   * renewing): maxBlockedMs, else the largest timeout of the jobs held (their own, or their kind's),
   * plus the timeout grace; holding nothing, the largest default timeout of its kinds.
   */
  #blockBound(): number {
    if (this.#o.maxBlockedMs !== undefined) return this.#o.maxBlockedMs;
    const held = this.#holding();
    let max = held.length === 0 ? this.#kindTimeoutMs : 0;
    for (const j of held) max = Math.max(max, j.timeoutMs ?? this.#o.queue.kinds.get(j.kind)?.timeoutMs ?? this.#kindTimeoutMs);
    return max + this.#o.timeoutGraceMs;
  }

  /** The handler settled: free its slot, write the outcome, start the next job. */
  #settled(job: ClaimedJob, started: number, s: Settled): void {
    const ran = performance.now() - started;
    this.#avgRunMs = this.#avgRunMs * 0.9 + ran * 0.1;
    const wasActive = this.#active.delete(job.claimSeq);
    if (s.ok) {
      // The common case, kept free of promises: the completer calls back once the batch is written.
      this.#completer.complete(job, s.value, (err, held) => {
        const outcome = err !== undefined ? this.#unwritten(job, err) : held ? 'succeeded' : this.#lost(job);
        this.#finished(job, outcome, started, ran);
      });
    } else {
      const write = recordFailure(this.#outcomes, job, s)
        .catch((err: unknown) => (isJobqError(err, 'invalid_transition') ? this.#lost(job) : this.#unwritten(job, err)))
        .then((outcome) => this.#finished(job, outcome, started, ran))
        .finally(() => this.#finishing.delete(job.claimSeq));
      this.#finishing.set(job.claimSeq, { job, write });
    }
    // Started from #pump (a handler that returned at once), #pump goes on by itself.
    if (wasActive) this.#pump();
    if (this.#roomless || (this.#lastClaimFull && this.#buffer.length <= this.#bufferTarget() / 2)) this.#wake();
  }

  #finished(job: ClaimedJob, outcome: FinishOutcome, started: number, ran: number): void {
    const log = this.#o.logger;
    if (log.isLevelEnabled('info')) {
      log.info({ ...logFields(job), outcome, duration_ms: Math.round((performance.now() - started) * 1000) / 1000 }, 'job finished');
    }
    if (this.events.listenerCount('job:finish') > 0) {
      try {
        this.events.emit('job:finish', { job, outcome, durationMs: ran });
      } catch (err) {
        log.error({ job_id: job.id, err: errText(err) }, 'a job:finish listener threw');
      }
    }
    if (this.#throttled) this.#wake();
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

  /**
   * Retries a write while the database is unavailable, for up to one lease period, and at least once:
   * a write in flight while a handler blocked the event loop times out client-side when the loop runs
   * again, and a retry (guarded by the claim) is what tells whether it was written.
   */
  async #persist<T>(write: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#o.leaseMs;
    for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
      try {
        return await write();
      } catch (err) {
        if (!isJobqError(err, 'database_unavailable') || (delay > 100 && Date.now() + delay > deadline)) throw err;
        this.#o.logger.warn({ retry_ms: delay }, 'database unavailable; retrying the write');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  /** Renews the lease of every claim this worker holds, in one statement; applies cancel requests and losses. */
  async #heartbeat(): Promise<void> {
    try {
      if (!(await this.#o.queue.renewWorker(this.id, this.#instance, this.#o.leaseMs))) return this.#identityLost();
      const held = this.#holding();
      if (held.length === 0) return;
      const hb = await this.#o.queue.renewClaims(this.id, held);
      this.#applyHeartbeat(hb.cancelRequested, hb.lost);
    } catch (err) {
      this.#o.logger.warn({ err: errText(err) }, 'heartbeat failed');
    }
  }

  #identityLost(): void {
    if (this.#stopping) return;
    this.#o.logger.error({ worker_id: this.id }, 'another worker registered this worker id while this one was taken for dead; stopping');
    void this.stop();
  }

  #applyHeartbeat(cancelRequested: number[], lost: number[]): void {
    const cancel = new Set(cancelRequested);
    const gone = new Set(lost);
    if (cancel.size > 0) this.#abort((j) => cancel.has(j.claimSeq), new JobCancelledError());
    if (gone.size > 0) this.#abort((j) => gone.has(j.claimSeq), new LeaseLostError());
  }

  /** Aborts the claims `which` picks: running ones through their signal; buffered ones never start. */
  #abort(which: (j: ClaimedJob) => boolean, reason: JobCancelledError | LeaseLostError): void {
    for (const a of this.#active.values()) if (which(a.job)) a.abort.abort(reason);
    for (let i = this.#buffer.length - 1; i >= 0; i--) {
      const job = this.#buffer[i]!;
      if (!which(job)) continue;
      this.#buffer.splice(i, 1);
      if (!(reason instanceof JobCancelledError)) continue;
      // Never started: record it cancelled without running it.
      const write = this.#persist(() => this.#o.queue.finalizeCancelled(job.id, { workerId: this.id, claimSeq: job.claimSeq }))
        .then(() => void this.events.emit('job:finish', { job, outcome: 'cancelled', durationMs: 0 }))
        .catch((err) => this.#o.logger.warn({ job_id: job.id, err: errText(err) }, 'could not record a cancellation'))
        .finally(() => this.#finishing.delete(job.claimSeq));
      this.#finishing.set(job.claimSeq, { job, write });
    }
  }

  async #sweep(): Promise<void> {
    if (this.#stopping) return;
    try {
      const swept = await this.#o.queue.sweep(this.#o.leaseMs, this.#o.retention ?? DEFAULT_RETENTION);
      if (swept?.recovered) {
        this.#o.logger.warn({ count: swept.recovered }, 'recovered jobs whose worker was lost');
        this.events.emit('recovered', { count: swept.recovered });
      }
      if (swept?.pruned) this.#o.logger.debug({ count: swept.pruned }, 'pruned finished jobs past their retention');
    } catch (err) {
      this.#o.logger.warn({ err: errText(err) }, 'sweep failed');
    }
  }

  #onNotify(channel: string, payload: string): void {
    if (channel === CANCEL_CHANNEL) this.#abort((j) => j.id === payload, new JobCancelledError());
    else if (this.#o.queues.length === 0 || this.#o.queues.includes(payload)) {
      this.#hint = true;
      this.#wake();
    }
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

  #allSettled(): Promise<unknown> {
    return Promise.all([...this.#active.values()].map((a) => a.settled));
  }
}
