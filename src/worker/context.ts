/** The context a handler runs with (HandlerContext), one small object per job. */
import type { Logger } from 'pino';
import type { HandlerContext, ParentJob } from '../kinds/registry.ts';
import type { JobProgress } from '../queue/events/types.ts';
import type { ClaimedJob } from '../queue/types.ts';
import type { JobAbort } from './execute.ts';
import { logFields } from './log.ts';
import { ProgressReporter } from './progress.ts';

/** Renews one claim's lease (the worker's Heartbeat). */
export interface LeaseRenewer {
  renew(job: ClaimedJob): Promise<void>;
}

/** Stores one claim's progress (the worker's Launcher); never rejects. */
export interface ProgressWriter {
  writeProgress(job: ClaimedJob, progress: JobProgress): Promise<void>;
}

/**
 * What a handler gets besides its payload. A class, so one small object per job: the signal, the
 * child logger and the progress reporter are made only if the handler asks for them.
 */
export class JobContext implements HandlerContext {
  #job: HandlerContext['job'] | undefined;
  #child: Logger | undefined;
  /** Made by the first `progress` call. */
  #reporter: ProgressReporter | undefined;
  #parents: Promise<ParentJob[]> | undefined;
  constructor(
    private readonly claimed: ClaimedJob,
    private readonly abort: JobAbort,
    private readonly log: Logger,
    private readonly leases: LeaseRenewer,
    private readonly writer: ProgressWriter,
    /** Reads a job's parents (Queue.parents): the worker's, since kinds never import the queue. */
    private readonly readParents: (id: string) => Promise<ParentJob[]>,
  ) {}
  get job(): HandlerContext['job'] {
    const c = this.claimed;
    return (this.#job ??= { id: c.id, kind: c.kind, queue: c.queue, attempt: c.attempts, maxAttempts: c.maxAttempts });
  }
  get signal(): AbortSignal {
    return this.abort.signal;
  }
  get logger(): Logger {
    return (this.#child ??= this.log.child(logFields(this.claimed)));
  }
  heartbeat(): Promise<void> {
    return this.leases.renew(this.claimed);
  }
  progress(value: number | { current: number; total: number }, message?: string): Promise<void> {
    this.#reporter ??= new ProgressReporter((p) => this.writer.writeProgress(this.claimed, p));
    return this.#reporter.report(value, message);
  }
  /** Writes the progress report still waiting, if any, now (the handler settled): the write, or undefined if none. */
  flushProgress(): Promise<void> | undefined {
    return this.#reporter?.busy ? this.#reporter.flush() : undefined;
  }
  parents(): Promise<ParentJob[]> {
    // A failed read is not kept: the handler may ask again.
    return (this.#parents ??= this.readParents(this.claimed.id).catch((err: unknown) => {
      this.#parents = undefined;
      throw err;
    }));
  }
}
