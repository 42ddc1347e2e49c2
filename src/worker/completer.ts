/**
 * Batched completion. Successful jobs are written in one `completeMany` statement per batch: when no
 * write is in flight, what is waiting goes at once (no added latency when idle); while one is in
 * flight, completions gather and go together in the next (under load, one round trip for hundreds).
 */
import type { Queue } from '../queue/queue.ts';

interface Item {
  id: string;
  result: unknown;
  resolve: (held: boolean) => void;
  reject: (err: unknown) => void;
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

  /** Resolves true once the job is recorded succeeded, false if this worker no longer held it. */
  complete(id: string, result: unknown): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.#items.push({ id, result, resolve, reject });
      this.#ids.add(id);
      this.#flushing ??= this.#flush();
    });
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
        try {
          const done = new Set(await this.persist(() => this.queue.completeMany(this.workerId, batch)));
          for (const item of batch) item.resolve(done.has(item.id));
        } catch (err) {
          for (const item of batch) item.reject(err);
        } finally {
          for (const item of batch) this.#ids.delete(item.id);
        }
      }
    } finally {
      this.#flushing = undefined;
    }
  }
}
