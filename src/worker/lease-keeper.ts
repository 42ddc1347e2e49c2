/**
 * Renews a worker's leases from a thread of its own (lease-thread.ts), with its own connection.
 *
 * A handler that blocks the event loop (synchronous CPU work) used to stop the heartbeat, so every job
 * the worker held, buffered, running or being written, was recovered by another process's sweeper and
 * ran a second time. The thread is not blocked by the main thread, so it keeps renewing; it learns what
 * the worker holds cheaply: one message per claim batch (`hold`), and finished claims gathered into one
 * message per turn of the event loop (`drop`). Its results (cancel requests, lost claims) come back as
 * messages that the worker applies when it runs again.
 *
 * Renewal is bounded: the main thread ticks every heartbeat; when it has not ticked for longer than the
 * largest timeout of the jobs held plus the timeout grace (or `maxBlockedMs`), it counts as stuck and
 * renewals stop, so a process that never comes back does not hold its jobs forever.
 *
 * Under tsx (tests, `npm start`) the thread registers tsx before loading its `.ts` entry; compiled to
 * `.js`, the entry is loaded directly: either way the entry is this file's sibling with this file's
 * extension.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker as Thread } from 'node:worker_threads';
import type { Logger } from 'pino';
import { isJobqError } from '../queue/errors.ts';
import type { ClaimRef } from '../queue/leases.ts';
import type { Queue } from '../queue/queue.ts';

export interface KeeperInit {
  databaseUrl: string;
  workerId: string;
  /** The worker's registration token (migrations/0009). */
  instance: string;
  leaseMs: number;
  heartbeatMs: number;
  timeoutGraceMs: number;
  /** Fixed bound on how long a blocked main thread keeps its leases; default: largest held timeout + grace. */
  maxBlockedMs: number | undefined;
  /** pino level number below which the thread does not log. */
  logLevel: number;
}

export type HeldClaim = ClaimRef & { timeoutMs: number };

export type ToKeeper =
  | { type: 'hold'; claims: HeldClaim[] }
  | { type: 'drop'; seqs: number[] }
  | { type: 'tick' }
  | { type: 'stop' };

type FromKeeper =
  | { type: 'ready' }
  | { type: 'renewed'; cancelRequested: number[]; lost: number[] }
  | { type: 'failed'; message: string }
  | { type: 'stuck'; blockedMs: number; boundMs: number }
  | { type: 'identity-lost' };

export interface LeaseKeeperOptions extends Omit<KeeperInit, 'logLevel'> {
  logger: Logger;
  /** What the worker holds now (sent again if the thread has to be restarted). */
  held: () => HeldClaim[];
  onRenewed: (cancelRequested: number[], lost: number[]) => void;
  /** Another worker registered this id: this one was taken for dead. */
  onIdentityLost: () => void;
}

/** Start refused: a live worker holds this id (it renewed its registration within its lease). */
export class WorkerIdInUseError extends Error {
  override readonly name = 'WorkerIdInUseError';
  constructor(readonly workerId: string, readonly heldForMs: number) {
    super(`worker id "${workerId}" belongs to a live worker (its registration runs for another ${heldForMs} ms); choose another --worker-id, or start again after that worker stopped`);
  }
}

/**
 * Takes the worker id for this Worker object (`instance`), or throws WorkerIdInUseError while a live
 * worker holds it. Liveness is the jobq.workers row (migrations/0009): its holder renews it with every
 * heartbeat to now + lease, and a clean stop frees it; a process that died keeps it for one lease.
 * While the database is unreachable it retries for up to a minute, as the migration at start does.
 */
export async function registerWorker(queue: Queue, workerId: string, instance: string, leaseMs: number, logger: Logger): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
    try {
      const taken = await queue.registerWorker(workerId, instance, leaseMs);
      if (taken) throw new WorkerIdInUseError(workerId, taken.heldForMs);
      return;
    } catch (err) {
      if (!isJobqError(err, 'database_unavailable') || Date.now() + delay > deadline) throw err;
      logger.warn({ retry_ms: delay }, 'database not reachable; retrying the worker registration');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

const EXT = path.extname(fileURLToPath(import.meta.url));
const ENTRY = new URL(`./lease-thread${EXT}`, import.meta.url);

export class LeaseKeeper {
  readonly #o: LeaseKeeperOptions;
  #thread: Thread | undefined;
  #drops: number[] = [];
  #flushScheduled = false;
  #ticker: NodeJS.Timeout | undefined;
  #stopping = false;

  constructor(options: LeaseKeeperOptions) {
    this.#o = options;
  }

  /** Starts the thread; resolves once it runs. */
  async start(): Promise<void> {
    await this.#spawn();
    this.#ticker = setInterval(() => this.#post({ type: 'tick' }), Math.max(50, Math.floor(this.#o.heartbeatMs / 2)));
  }

  /** A claim batch: renew these from now on. */
  hold(claims: HeldClaim[]): void {
    if (claims.length > 0) this.#post({ type: 'hold', claims });
  }

  /** A claim is finished: stop renewing it (sent with the others of this turn). */
  drop(claimSeq: number): void {
    this.#drops.push(claimSeq);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      const seqs = this.#drops;
      this.#drops = [];
      this.#post({ type: 'drop', seqs });
    });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#ticker);
    const thread = this.#thread;
    if (!thread) return;
    const exited = new Promise((r) => thread.once('exit', r));
    thread.postMessage({ type: 'stop' } satisfies ToKeeper);
    const timer = setTimeout(() => void thread.terminate(), 5_000);
    await exited;
    clearTimeout(timer);
  }

  #post(m: ToKeeper): void {
    this.#thread?.postMessage(m);
  }

  #spawn(): Promise<void> {
    const o = this.#o;
    const init: KeeperInit = {
      databaseUrl: o.databaseUrl, workerId: o.workerId, instance: o.instance, leaseMs: o.leaseMs, heartbeatMs: o.heartbeatMs,
      timeoutGraceMs: o.timeoutGraceMs, maxBlockedMs: o.maxBlockedMs, logLevel: o.logger.levelVal,
    };
    const thread = EXT === '.ts'
      ? new Thread(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((t) => { t.register(); return import(${JSON.stringify(ENTRY.href)}); })`, { eval: true, workerData: init })
      : new Thread(ENTRY, { workerData: init });
    thread.unref();
    this.#thread = thread;
    return new Promise<void>((resolve, reject) => {
      thread.on('message', (m: FromKeeper) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'renewed') o.onRenewed(m.cancelRequested, m.lost);
        else if (m.type === 'failed') o.logger.warn({ err: m.message }, 'heartbeat failed');
        else if (m.type === 'stuck') o.logger.error({ blocked_ms: m.blockedMs, bound_ms: m.boundMs }, 'the event loop was blocked past the bound: leases were given up');
        else if (m.type === 'identity-lost') o.onIdentityLost();
      });
      thread.on('error', (err) => {
        o.logger.error({ err: err.message }, 'lease keeper thread failed');
        reject(err);
      });
      thread.on('exit', () => {
        if (this.#thread !== thread || this.#stopping) return;
        // Died: start another and tell it what the worker holds.
        this.#thread = undefined;
        this.#spawn().then(() => this.hold(o.held()), (err: unknown) => o.logger.error({ err: String(err) }, 'could not restart the lease keeper'));
      });
    });
  }
}
