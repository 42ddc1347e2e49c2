/**
 * A handler's progress reports (`ctx.progress`), rate-limited per job: the first is written at once,
 * later ones at most every PROGRESS_INTERVAL_MS, and the latest always wins: a report made while a
 * write is due later replaces the one waiting (whose promise then resolves: superseded). Before the
 * job's outcome is recorded the worker flushes what waits (`flush`), so the last report is stored
 * while the claim still holds the job (the write is guarded by it).
 */
import type { JobProgress } from '../queue/events/types.ts';
import { toProgress } from '../queue/index.ts';

/** A job's progress is written at most once per this many milliseconds (the first report at once). */
export const PROGRESS_INTERVAL_MS = 250;

/** Writes one report of the job; never rejects (a failure is the writer's to log). */
export type ProgressWrite = (progress: JobProgress) => Promise<void>;

interface Waiting {
  progress: JobProgress;
  resolve: () => void;
}

export class ProgressReporter {
  readonly #write: ProgressWrite;
  readonly #intervalMs: number;
  /** When the last write started (Date.now()); -Infinity before the first. */
  #last = -Infinity;
  #waiting: Waiting | undefined;
  #writing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(write: ProgressWrite, intervalMs = PROGRESS_INTERVAL_MS) {
    this.#write = write;
    this.#intervalMs = intervalMs;
  }

  /** Checks the report at once (throws on bad input), then writes it now or at its turn. */
  report(value: unknown, message?: unknown): Promise<void> {
    const progress = toProgress(value, message);
    this.#waiting?.resolve(); // superseded
    const done = new Promise<void>((resolve) => (this.#waiting = { progress, resolve }));
    this.#plan();
    return done;
  }

  /** A report waits, or is being written. */
  get busy(): boolean {
    return this.#waiting !== undefined || this.#writing !== undefined;
  }

  /** Writes the waiting report now, whatever its turn, and resolves once nothing is left to write. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.busy) {
      if (this.#writing) await this.#writing;
      else this.#send();
    }
  }

  /** Writes the waiting report when its turn comes: now if the last write is old enough. */
  #plan(): void {
    if (this.#writing || this.#timer || !this.#waiting) return;
    // At most one interval: a clock set back must not hold a report for longer.
    const wait = Math.min(this.#intervalMs, this.#last + this.#intervalMs - Date.now());
    if (wait <= 0) this.#send();
    else this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#send();
    }, wait);
  }

  #send(): void {
    const w = this.#waiting;
    if (!w || this.#writing) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waiting = undefined;
    this.#last = Date.now();
    this.#writing = this.#write(w.progress).finally(() => {
      this.#writing = undefined;
      w.resolve();
      this.#plan();
    });
  }
}
