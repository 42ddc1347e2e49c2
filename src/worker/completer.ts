/**
 * Batched completion. Successful jobs are written in one `completeMany` statement per batch: when no
 * write is in flight, what is waiting goes at once (no added latency when idle); while one is in
 * flight, completions gather and go together in the next (under load, one round trip for hundreds).
 */
import type { Queue } from '../queue/queue.ts';

/** Called once the write is done: held is false if this worker no longer held the job; err if the write failed. */
export type CompletionCallback = (err: unknown, held: boolean) => void;

interface Item {
  id: string;
  result: unknown;
  done: CompletionCallback;
}

export class Completer {
  readonly #items: Item[] = [];
  readonly #ids = new Set<string>();
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
  complete(id: string, result: unknown, done: CompletionCallback): void {
    this.#items.push({ id, result, done });
    this.#ids.add(id);
    this.#flushing ??= this.#flush();
  }

  /** Jobs whose completion is not written yet: still running in the database, so their lease is renewed. */
  get pendingIds(): Iterable<string> {
    return this.#ids;
  }

  get size(): number {
    return this.#ids.size;
  }

  /** Resolves when everything handed over so far is written. */
  async drain(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  async #flush(): Promise<void> {
    try {
      while (this.#items.length > 0) {
        const batch = this.#items.splice(0, this.maxBatch);
        let written: Set<string> | undefined;
        let error: unknown;
        try {
          written = new Set(await this.persist(() => this.queue.completeMany(this.workerId, batch)));
        } catch (err) {
          error = err;
        }
        for (const item of batch) this.#ids.delete(item.id);
        for (const item of batch) item.done(error, written?.has(item.id) ?? false);
      }
    } finally {
      this.#flushing = undefined;
    }
  }
}
