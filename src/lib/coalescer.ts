/**
 * Group commit for independent calls: at most `maxInFlight` runs at a time; items added while they
 * are busy wait and go together in the next run (up to `maxBatch`). A lone call runs at once, so
 * nothing waits when the system is idle; under concurrency, many calls share one round trip. Each
 * item gets its own outcome: a run returns one result or Error per item, in order.
 */
interface Pending<I, R> {
  item: I;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export class Coalescer<I, R> {
  readonly #pending: Pending<I, R>[] = [];
  #inFlight = 0;

  constructor(
    private readonly run: (items: I[]) => Promise<(R | Error)[]>,
    private readonly maxInFlight = 2,
    private readonly maxBatch = 1000,
    /**
     * When a whole run fails with an error this accepts (the database is unreachable), the items
     * waiting behind it fail with it instead of being sent into the same outage: a caller waits for
     * at most the run in flight and its own, never for a queue of runs that each time out in turn.
     */
    private readonly failWaitingOn: (err: unknown) => boolean = () => false,
  ) {}

  /** Nothing is being run right now. */
  get idle(): boolean {
    return this.#inFlight === 0;
  }

  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ item, resolve, reject });
      if (this.#inFlight < this.maxInFlight) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#inFlight++;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, this.maxBatch);
        try {
          const results = await this.run(batch.map((p) => p.item));
          batch.forEach((p, i) => {
            const r = results[i];
            if (r instanceof Error) p.reject(r);
            else p.resolve(r as R);
          });
        } catch (err) {
          for (const p of batch) p.reject(err);
          if (this.failWaitingOn(err)) for (const p of this.#pending.splice(0)) p.reject(err);
        }
      }
    } finally {
      this.#inFlight--;
    }
  }
}
