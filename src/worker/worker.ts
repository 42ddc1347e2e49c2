/**
 * A worker process's engine: its claim loop and slots. The rest lives beside it.
 *
 * - One claim loop takes, in one `claim`, enough jobs for the free slots plus a small local
 *   buffer; the buffer lets the next job start the instant a slot frees instead of a round trip later.
 *   It is sized to hold about BUFFER_TARGET_MS of work at the observed handler speed (so slow handlers
 *   buffer next to nothing and jobs stay fair between workers), and only while a backlog exists.
 *   Buffered jobs start in claim order, and the worker records how far it got as one number (its
 *   start watermark), so that losing it gives the never-started ones their attempt back.
 * - NOTIFY wakes the loop at once (notifications.ts); a poll is the fallback.
 * - Queues with a policy, and jobs that carry a group, are claimed apart (flow.ts): exactly what their
 *   policy allows, in turns between groups, started at once (never buffered). While such a queue may
 *   give jobs, the buffer is not refilled and every other freed slot is left to that claim, so that
 *   neither kind of queue waits for the other's backlog.
 * - A slot frees as soon as its handler settles (execute.ts); the outcome is written meanwhile,
 *   successes in batches (outcome.ts, completer.ts). In-flight work is keyed by claim (claim_seq) and
 *   every write is guarded by it: a late outcome of an earlier attempt never finishes its successor.
 * - The worker id is registered at start (refused while a live worker holds it, lease-keeper.ts). Its
 *   heartbeat renews it and the lease of every claim held, a thread does so while the event loop is
 *   blocked, and cancel requests and lost leases abort the claims they name (heartbeat.ts).
 * - A fleet-wide sweeper (advisory lock) recovers jobs whose worker was lost (sweeper.ts), and a
 *   scheduler fires schedules' ticks as they come due, each once across the fleet (scheduler.ts).
 * - stop() gives back the buffer, lets running jobs finish within the grace period, then aborts and
 *   releases the rest, and writes every outcome before it resolves (shutdown.ts).
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Wakeup } from '../lib/wakeup.ts';
import type { ClaimedJob, ClaimedJobs } from '../queue/types.ts';
import type { FinishOutcome, WorkerEvents } from './events.ts';
import { JobCancelledError, type Settled } from './execute.ts';
import { Flow } from './flow.ts';
import { Heartbeat, type Running } from './heartbeat.ts';
import { registerWorker, WorkerIdInUseError } from './lease-keeper.ts';
import type { Listener } from '../db/listener.ts';
import { listenForWork } from './notifications.ts';
import type { WorkerOptions } from './options.ts';
import { Launcher } from './launch.ts';
import { errText } from './log.ts';
import { Outcomes } from './outcome.ts';
import { drainSlots } from './shutdown.ts';
import { Scheduler } from './scheduler.ts';
import { Sweeper } from './sweeper.ts';

export { type FinishOutcome, WorkerIdInUseError, type WorkerEvents, type WorkerOptions };

/** The local buffer holds about this much work (at the observed handler speed), at most MAX_BUFFER jobs. */
const BUFFER_TARGET_MS = 100;
const MAX_BUFFER = 1000;
/** Claiming pauses while this many outcomes wait to be written (the database is slow or away). */
const MAX_UNWRITTEN = 5000;
/** How often a worker that cannot listen (behind a pooler, with no listen URL) looks for jobs. */
export const POLL_ONLY_INTERVAL_MS = 200;

export class Worker {
  readonly events = new EventEmitter<WorkerEvents>();
  readonly #o: WorkerOptions;
  readonly #buffer: ClaimedJob[] = [];
  /** In-flight work by claim (claim_seq), not by job id: two attempts of one job are two entries. */
  readonly #active = new Map<number, Running>();
  /** This Worker object's registration token for its id (migrations/0009). */
  readonly #instance = randomUUID();
  readonly #kindNames: string[];
  readonly #listener: Listener;
  readonly #outcomes: Outcomes;
  readonly #heartbeat: Heartbeat;
  readonly #sweeper: Sweeper;
  readonly #scheduler: Scheduler | undefined;
  readonly #launcher: Launcher;
  readonly #flow: Flow;
  // Starts high, so a fresh worker claims about twice its concurrency until it has seen handlers run;
  // a worker that dies early then strands few jobs.
  #avgRunMs = 100;
  /** The poll interval: the options', or shorter when nothing can be heard (poll-only). */
  #pollMs: number;
  #stopping = false;
  #started = false;
  #loopDone: Promise<void> = Promise.resolve();
  #stopped: Promise<void> | undefined;
  /** The claim loop sleeps on it; a freed slot, a notification or stop() wakes it. */
  readonly #wakeup = new Wakeup();
  #lastClaimFull = false;
  /** Something may be claimable: a notification came, or the poll tick passed. */
  #hint = true;
  /** The loop sleeps because it has no room (slots and buffer full, or too many unwritten outcomes). */
  #roomless = false;
  #throttled = false;
  /** Slots promised to a claim of the Flow in flight: the buffer does not take them. */
  #reserved = 0;
  /** Whether the next slot that frees while the Flow may give jobs is left to it (every other one is). */
  #leaveForFlow = false;

  constructor(options: WorkerOptions) {
    this.#o = options;
    this.#pollMs = options.pollIntervalMs;
    this.#kindNames = options.queue.kinds.list().map((k) => k.name);
    this.#outcomes = new Outcomes({
      ...options,
      events: this.events,
      onFinished: (job) => {
        if (this.#flow.finished(job.queue) || this.#throttled) this.#wakeup.wake();
      },
    });
    this.#heartbeat = new Heartbeat({
      ...options,
      instance: this.#instance,
      buffer: this.#buffer,
      active: this.#active,
      outcomes: this.#outcomes,
      onIdentityLost: () => this.#identityLost(),
    });
    this.#flow = new Flow({
      ...options,
      kinds: this.#kindNames,
      events: this.events,
      release: (queues) => {
        const given = this.#buffer.filter((j) => queues.has(j.queue));
        if (given.length === 0) return;
        this.#buffer.splice(0, this.#buffer.length, ...this.#buffer.filter((j) => !queues.has(j.queue)));
        void this.#outcomes.release(given);
      },
    });
    this.#sweeper = new Sweeper({ ...options, onRecovered: (count) => void this.events.emit('recovered', { count }) });
    this.#scheduler = options.scheduler === false ? undefined : new Scheduler(options);
    this.#launcher = new Launcher({ ...options, events: this.events, heartbeat: this.#heartbeat });
    this.#listener = listenForWork(options, {
      jobs: (queue, grouped) => {
        if (!this.#flow.notified(queue, grouped)) this.#hint = true;
        this.#wakeup.wake();
      },
      cancel: (id) => this.#heartbeat.abort((j) => j.id === id, new JobCancelledError()),
      policyChanged: () => {
        this.#flow.invalidate();
        this.#wakeup.wake();
      },
      scheduleChanged: () => this.#scheduler?.wake(),
      pooled: () => {
        this.#pollMs = Math.min(this.#o.pollIntervalMs, POLL_ONLY_INTERVAL_MS);
        this.#o.logger.warn(
          { poll_interval_ms: this.#pollMs },
          'the database URL leads through a connection pooler in transaction mode (PgBouncer), where LISTEN cannot work, and no ' +
            'listen URL (JOBQ_LISTEN_URL) was given: this worker polls for jobs instead of listening; cancellations of running jobs ' +
            'arrive with the heartbeat',
        );
        this.#wakeup.wake();
      },
      connected: (reconnected) => {
        if (reconnected) this.events.emit('listener:reconnect');
        this.#hint = true; // notifications sent while it was away are lost: look now
        this.#flow.tick();
        this.#wakeup.wake();
        this.#scheduler?.wake();
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
    await registerWorker(this.#o.queue, this.id, this.#instance, this.#o.leaseMs, this.#o.logger, { concurrency: this.concurrency, queues: this.#o.queues });
    this.#heartbeat.start();
    await this.#listener.start();
    this.#sweeper.start();
    this.#scheduler?.start();
    this.#loopDone = this.#loop();
    this.#o.logger.info({ worker_id: this.id, concurrency: this.concurrency, queues: this.#o.queues, listening: this.#listener.connected, poll_interval_ms: this.#pollMs }, 'worker started');
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    this.#sweeper.stop();
    this.#wakeup.wake();
    await Promise.all([this.#loopDone, this.#scheduler?.stop()]);
    await drainSlots({ ...this.#o, buffer: this.#buffer, active: this.#active, outcomes: this.#outcomes });
    await this.#heartbeat.stop();
    await this.#listener.close();
    await this.#o.queue.unregisterWorker(this.id, this.#instance).catch(() => {});
    this.#o.logger.info({ worker_id: this.id }, 'worker stopped');
  }

  /**
   * Claims when there is room (free slots or buffer) and a reason to expect work: a notification, the
   * poll tick, or a last claim that came back full (a backlog); and, through the Flow, from queues with
   * a policy or groups when one of them may give jobs and a slot is free. When both may, they take
   * turns. Otherwise it sleeps until one of those, a freed slot, or a rate window's next room. The poll
   * keeps a fixed rhythm: busy slots freeing up do not postpone it.
   */
  async #loop(): Promise<void> {
    let errorDelay = 0;
    let nextPoll = 0;
    // Where the next claim continues: the last job of a full claim. Reset to the front of the queue
    // when a claim from it comes back short and at every poll tick (see migrations/0004).
    let cursor: ClaimedJob | undefined;
    let flowFirst = false;
    while (!this.#stopping) {
      const now = Date.now();
      if (now >= nextPoll) {
        this.#hint = true;
        cursor = undefined;
        nextPoll = now + this.#pollMs;
        this.#flow.tick();
      }
      await this.#flow.refresh();
      const free = this.#o.concurrency - this.#active.size;
      const want = this.#o.concurrency - this.#active.size + this.#bufferTarget() - this.#buffer.length;
      this.#throttled = this.#outcomes.unwritten > MAX_UNWRITTEN;
      this.#roomless = want <= 0 || this.#throttled;
      const flowDue = !this.#throttled && free > 0 && this.#flow.due();
      const plainDue = !this.#roomless && (this.#hint || this.#lastClaimFull);
      if (!flowDue && !plainDue) {
        await this.#wakeup.sleep(Math.min(nextPoll, this.#flow.nextWakeAt(now)) - now);
        continue;
      }
      let jobs: ClaimedJob[];
      try {
        if (flowDue && (flowFirst || !plainDue)) {
          flowFirst = false;
          // Claimed there, they have started: they take a slot now (or go back if the worker is stopping).
          this.#reserved = free;
          try {
            jobs = await this.#flow.claim(free);
          } finally {
            this.#reserved = 0;
          }
          if (this.#stopping) void this.#outcomes.release(jobs);
          else for (const job of jobs) this.#start(job);
          this.#pump();
          errorDelay = 0;
          continue;
        }
        flowFirst = true;
        this.#hint = false;
        const slots = Math.max(0, this.#o.concurrency - this.#active.size - this.#buffer.length);
        const sent = performance.now();
        jobs = await this.#o.queue.claim(this.id, {
          limit: want, queues: this.#o.queues, kinds: this.#kindNames, after: cursor, started: slots, exclude: this.#flow.exclude,
        });
        if (jobs.length > 0 && performance.now() - sent > this.#o.leaseMs / 2) jobs = await this.#heartbeat.stillHeld(jobs);
        errorDelay = 0;
      } catch (err) {
        cursor = undefined;
        errorDelay = Math.min(5_000, Math.max(100, errorDelay * 2));
        this.#o.logger.error({ err: errText(err), retry_ms: errorDelay }, 'claim failed');
        this.#hint = true;
        await this.#wakeup.sleep(errorDelay);
        continue;
      }
      this.events.emit('claim', { requested: want, claimed: jobs.length });
      const full = jobs.length === want;
      // Short from the cursor, or short with more left (the log store's lanes): look again at once.
      if (!full && (cursor || (jobs as ClaimedJobs).more)) this.#hint = true;
      cursor = full ? jobs[jobs.length - 1] : undefined;
      this.#lastClaimFull = full;
      this.#buffer.push(...jobs);
      this.#pump();
    }
  }

  /**
   * Jobs to hold beyond the free slots: none without a backlog, nor while a queue with a policy or
   * groups may give jobs (buffered jobs would take every slot that frees); else ~BUFFER_TARGET_MS of work.
   */
  #bufferTarget(): number {
    if (!this.#lastClaimFull || this.#flow.due()) return 0;
    const perSlot = BUFFER_TARGET_MS / Math.max(this.#avgRunMs, 0.05);
    return Math.min(MAX_BUFFER, Math.floor(this.#o.concurrency * perSlot));
  }

  #pump(): void {
    while (this.#active.size + this.#reserved < this.#o.concurrency && this.#buffer.length > 0 && !this.#stopping) this.#start(this.#buffer.shift()!);
  }

  #start(job: ClaimedJob): void {
    const running = this.#launcher.launch(job, (s, started, progressWrite) => this.#settled(job, started, s, progressWrite));
    if (running) this.#active.set(job.claimSeq, running);
  }

  /** The handler settled: free its slot, write the outcome (after its last progress), start the next job. */
  #settled(job: ClaimedJob, started: number, s: Settled, progressWrite: Promise<void> | undefined): void {
    const ran = performance.now() - started;
    this.#avgRunMs = this.#avgRunMs * 0.9 + ran * 0.1;
    const wasActive = this.#active.delete(job.claimSeq);
    if (s.ok) this.#outcomes.succeeded(job, s.value, started, ran, progressWrite);
    else this.#outcomes.failed(job, s, started, ran, progressWrite);
    // Started from #pump (a handler that returned at once), #pump goes on by itself.
    if (wasActive && !(this.#flow.due() && (this.#leaveForFlow = !this.#leaveForFlow))) this.#pump();
    if (this.#roomless || (this.#lastClaimFull && this.#buffer.length <= this.#bufferTarget() / 2) || this.#flow.due()) this.#wakeup.wake();
  }

  #identityLost(): void {
    if (this.#stopping) return;
    this.#o.logger.error({ worker_id: this.id }, 'another worker registered this worker id while this one was taken for dead; stopping');
    void this.stop();
  }
}
