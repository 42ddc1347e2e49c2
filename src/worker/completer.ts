/**
 * Batched completion. Successful jobs are written in one `complete` statement per batch: when no
 * write is in flight, what is waiting goes at once (no added latency when idle); while one is in
 * flight, completions gather and go together in the next (under load, one round trip for hundreds).
 * Each completion is guarded by its claim (`Queue.complete`), and items are kept by claim: two
 * attempts of one job in a batch are two items, and only the one still held is written.
 */
import type { Queue } from '../queue/index.ts';
import type { ClaimedJob } from '../queue/types.ts';

/** Called once the write is done: held is false if this worker no longer held the job; err if the write failed. */
export type CompletionCallback = (err: unknown, held: boolean) => void;

interface Item {
  id: string;
  claimSeq: number;
  result: unknown;
  /** For the job's `succeeded` event (Queue.complete publishes it from what the worker holds). */
  job: ClaimedJob;
  /** When it started, for a job that started from the buffer (`ClaimedJob.launchedAtMs`). */
  launchedAtMs: number | undefined;
  done: CompletionCallback;
}

export class Completer {
  readonly #items: Item[] = [];
  /** Claims handed over and not yet written. */
  readonly #pending = new Map<number, ClaimedJob>();
  #flushing: Promise<void> | undefined;

  constructor(
    private readonly queue: Queue,
    private readonly workerId: string,
    /** Wraps each write (the worker retries while the database is unavailable). */
    private readonly persist: <T>(write: () => Promise<T>) => Promise<T>,
    private readonly maxBatch = 1000,
  ) {}

  /**
   * Queues the job's success; `done` is called once it is written. A callback, not a promise: at tens
   * of thousands of jobs a second, a promise and its reactions per job are a visible share of the
   * worker's CPU and garbage.
   */
  complete(job: ClaimedJob, result: unknown, done: CompletionCallback): void {
    this.#items.push({ id: job.id, claimSeq: job.claimSeq, result, job, launchedAtMs: job.launchedAtMs, done });
    this.#pending.set(job.claimSeq, job);
    this.#flushing ??= this.#flush();
  }

  /** Claims whose completion is not written yet: still running in the database, so their lease is renewed. */
  get pending(): Iterable<ClaimedJob> {
    return this.#pending.values();
  }

  get size(): number {
    return this.#pending.size;
  }

  /** Resolves when everything handed over so far is written. */
  async drain(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  async #flush(): Promise<void> {
    try {
      while (this.#items.length > 0) {
        const batch = this.#items.splice(0, this.maxBatch);
        let written: Set<number> | undefined;
        let error: unknown;
        try {
          written = new Set(await this.persist(() => this.queue.complete(this.workerId, batch)));
        } catch (err) {
          error = err;
        }
        for (const item of batch) this.#pending.delete(item.claimSeq);
        for (const item of batch) item.done(error, written?.has(item.claimSeq) ?? false);
      }
    } finally {
      this.#flushing = undefined;
    }
  }
}
