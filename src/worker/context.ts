/** The context a handler runs with (HandlerContext), one small object per job; and the worker's small helpers. */
import type { Logger } from 'pino';
import type { HandlerContext } from '../kinds/registry.ts';
import type { ClaimedJob } from '../queue/types.ts';
import type { JobAbort } from './execute.ts';

export function logFields(job: ClaimedJob): { job_id: string; kind: string; attempt: number } {
  return { job_id: job.id, kind: job.kind, attempt: job.attempts };
}

/**
 * What a handler gets besides its payload. A class, so one small object per job: the signal and the
 * child logger are made only if the handler asks for them.
 */
export class JobContext implements HandlerContext {
  #job: HandlerContext['job'] | undefined;
  #child: Logger | undefined;
  constructor(
    private readonly claimed: ClaimedJob,
    private readonly abort: JobAbort,
    private readonly log: Logger,
    private readonly worker: { heartbeatJob(job: ClaimedJob): Promise<void> },
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
    return this.worker.heartbeatJob(this.claimed);
  }
}

/** Waits for `p`, at most `ms`. */
export async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

export function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
