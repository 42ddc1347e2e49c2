/**
 * Keeps a worker's leases alive while its event loop is blocked, from a thread of its own
 * (lease-thread.ts) with its own connection.
 *
 * A handler that blocks the event loop (synchronous CPU work) used to stop the heartbeat, so every job
 * the worker held, buffered, running or being written, was recovered by another process's sweeper and
 * ran a second time. The worker still renews what it holds itself, claim by claim, and its
 * registration, on its heartbeat (it alone knows its claims); the thread is a watchdog that costs
 * nothing per job: the main thread ticks every half heartbeat and says when a renewal of its own
 * succeeded, and when none has for a heartbeat and a half, the thread renews the registration and every
 * job running under the worker's id (one live worker per id, migrations/0009). Late is late whatever
 * the cause: a blocked event loop, and also an event loop that runs but whose renewal waits for a
 * connection of an exhausted pool, or behind the backlog a long block left (test/worker/lease-keeper.test.ts:
 * before, the thread stood by while the main thread ticked, and another sweeper took the running jobs).
 *
 * Renewal is bounded: each tick carries how long the main thread may stay blocked, or late (the largest
 * timeout of the jobs it holds plus the timeout grace, or `maxBlockedMs`); past it the worker counts as
 * stuck and renewals stop, so a process that never comes back, or whose pool never frees a connection,
 * does not hold its jobs forever.
 *
 * The thread is plain JavaScript (lease-thread.js, see there why), loaded as it is under tsx and
 * compiled alike.
 */
import { Worker as Thread } from 'node:worker_threads';
import type { Logger } from 'pino';
import { isJobqError } from '../errors.ts';
import { retry } from '../lib/retry.ts';
import { LEASE_KEEPER_STATEMENTS, leaseKeeperStatements } from '../queue/leases.ts';
import type { Queue } from '../queue/index.ts';

export interface KeeperInit {
  databaseUrl: string;
  workerId: string;
  /** The worker's registration token (migrations/0009). */
  instance: string;
  leaseMs: number;
  heartbeatMs: number;
  /** pino level number below which the thread does not log. */
  logLevel: number;
  /** The thread's SQL, from the queue module. */
  statements: typeof LEASE_KEEPER_STATEMENTS;
}

export type ToKeeper = { type: 'tick'; boundMs: number } | { type: 'renewed'; startedAt: number } | { type: 'stop' };

type FromKeeper =
  | { type: 'failed'; message: string }
  | { type: 'stuck'; blockedMs: number; lateMs: number; boundMs: number }
  | { type: 'identity-lost' };

export interface LeaseKeeperOptions extends Omit<KeeperInit, 'logLevel' | 'statements'> {
  logger: Logger;
  /** The queue's schema: the thread's statements are written for it. */
  schema: string;
  /** How long the main thread may be blocked from now on before it counts as stuck (sent with each tick). */
  boundMs: () => number;
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
export async function registerWorker(
  queue: Queue, workerId: string, instance: string, leaseMs: number, logger: Logger, info?: { concurrency: number; queues: readonly string[] | undefined },
): Promise<void> {
  // What GET /v1/workers shows: no queues named means every queue (null).
  const said = info && { concurrency: info.concurrency, queues: info.queues?.length ? [...info.queues] : null };
  const taken = await retry(() => queue.registerWorker(workerId, instance, leaseMs, said), {
    retryable: (err) => isJobqError(err, 'database_unavailable'),
    withinMs: 60_000,
    firstDelayMs: 250,
    maxDelayMs: 5_000,
    onRetry: (_err, ms) => logger.warn({ retry_ms: ms }, 'database not reachable; retrying the worker registration'),
  });
  if (taken) throw new WorkerIdInUseError(workerId, taken.heldForMs);
}

const ENTRY = new URL('./lease-thread.js', import.meta.url);

export class LeaseKeeper {
  readonly #o: LeaseKeeperOptions;
  #thread: Thread | undefined;
  #ticker: NodeJS.Timeout | undefined;
  #stopping = false;

  constructor(options: LeaseKeeperOptions) {
    this.#o = options;
  }

  /**
   * Starts the thread and the ticks. It does not wait for the thread to run: the worker renews its own
   * leases meanwhile, and loading the thread (under tsx, compiling it) is no reason to delay work.
   */
  start(): void {
    this.#spawn();
    this.#tick();
    this.#ticker = setInterval(() => this.#tick(), Math.max(50, Math.floor(this.#o.heartbeatMs / 2)));
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

  /** The worker's own renewal that started at `startedAt` (Date.now()) succeeded: the thread stands by. */
  renewed(startedAt: number): void {
    this.#thread?.postMessage({ type: 'renewed', startedAt } satisfies ToKeeper);
  }

  #tick(): void {
    this.#thread?.postMessage({ type: 'tick', boundMs: this.#o.boundMs() } satisfies ToKeeper);
  }

  #spawn(): void {
    const o = this.#o;
    const init: KeeperInit = {
      databaseUrl: o.databaseUrl, workerId: o.workerId, instance: o.instance, leaseMs: o.leaseMs, heartbeatMs: o.heartbeatMs,
      logLevel: o.logger.levelVal, statements: leaseKeeperStatements(o.schema),
    };
    const thread = new Thread(ENTRY, { workerData: init });
    thread.unref();
    this.#thread = thread;
    thread.on('message', (m: FromKeeper) => {
      if (m.type === 'failed') o.logger.warn({ err: m.message }, 'the lease keeper could not renew');
      else if (m.type === 'stuck') o.logger.error({ blocked_ms: m.blockedMs, late_ms: m.lateMs, bound_ms: m.boundMs }, 'the worker could not renew its leases within the bound: leases were given up');
      else if (m.type === 'identity-lost') o.onIdentityLost();
    });
    thread.on('error', (err) => o.logger.error({ err: err.message }, 'lease keeper thread failed'));
    thread.on('exit', () => {
      if (this.#thread !== thread || this.#stopping) return;
      // Died: start another a heartbeat later (the worker's own heartbeat goes on meanwhile).
      this.#thread = undefined;
      setTimeout(() => {
        if (this.#stopping) return;
        this.#spawn();
        this.#tick();
      }, o.heartbeatMs).unref();
    });
  }
}
