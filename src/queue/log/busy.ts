/**
 * Which queues are busy enough for the log store, with QueueOptions.logStore 'busy' (docs/design/storage.md,
 * "Busy queues"). The log wins where a queue moves many jobs: a claim writes a row per batch, not per
 * job. It loses where many queues move few: each queue with log entries costs every claim a visit (its
 * own window and lanes), so 10,000 queues of one job each drained 25 times slower than as rows. So a
 * queue's plain jobs are rows until the queue shows it is busy: a batch of BUSY_BATCH of its plain jobs
 * (statements.ts insertRouted), or this process claiming BUSY_RATE of its rows within BUSY_WINDOW_MS.
 * Counted in fixed windows, so its memory is the queues claimed within one.
 */
/**
 * Where plain jobs go without QueueOptions.logStore (and JOBQ_LOG_STORE): the log for busy queues,
 * rows for the rest (docs/design/storage.md, "Busy queues").
 */
export const DEFAULT_LOG_STORE: boolean | 'busy' = 'busy';

export const BUSY_RATE = 200;
export const BUSY_WINDOW_MS = 1_000;

export class BusyQueues {
  #windowStart = -Infinity;
  #counts = new Map<string, number>();
  /** Queues this process made busy (or is making): counted no more. */
  readonly #promoted = new Set<string>();

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /** Counts rows claimed of these queues (one entry per job); returns the queues that just became busy. */
  claimed(queues: Iterable<string>): string[] {
    const now = this.clock();
    if (now - this.#windowStart >= BUSY_WINDOW_MS) {
      this.#windowStart = now;
      this.#counts = new Map();
    }
    const busy: string[] = [];
    for (const q of queues) {
      if (this.#promoted.has(q)) continue;
      const n = (this.#counts.get(q) ?? 0) + 1;
      this.#counts.set(q, n);
      if (n >= BUSY_RATE) {
        this.#promoted.add(q);
        this.#counts.delete(q);
        busy.push(q);
      }
    }
    return busy;
  }

  /** The promotion of these queues failed: count them again. */
  forget(queues: readonly string[]): void {
    for (const q of queues) this.#promoted.delete(q);
  }
}
