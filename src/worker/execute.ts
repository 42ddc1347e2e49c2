/**
 * Runs one handler under its abort signal and timeout. Settles with what the handler did, or, when the
 * handler ignores its aborted signal for longer than the grace period, gives up on it so the slot is
 * freed (the handler's eventual result is then ignored).
 */
import type { HandlerContext, JobHandler } from '../kinds/registry.ts';

/** Why a job's signal was aborted. `signal.reason` is one of these. */
export class JobTimeoutError extends Error {
  override readonly name = 'JobTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`job timed out after ${timeoutMs} ms`);
  }
}
export class JobCancelledError extends Error {
  override readonly name = 'JobCancelledError';
  constructor() {
    super('job cancelled');
  }
}
export class WorkerShutdownError extends Error {
  override readonly name = 'WorkerShutdownError';
  constructor() {
    super('worker is shutting down');
  }
}
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
  constructor() {
    super('this worker no longer holds the job');
  }
}

export type AbortReason = JobTimeoutError | JobCancelledError | WorkerShutdownError | LeaseLostError;

export type Settled =
  | { ok: true; value: unknown }
  | { ok: false; error: unknown; reason: AbortReason | undefined; abandoned: boolean };

export interface ExecuteOptions {
  handler: JobHandler;
  payload: unknown;
  /** The handler's context; its `signal` must be `controller.signal`. */
  ctx: HandlerContext;
  controller: AbortController;
  timeoutMs: number;
  /** How long a handler may run on after its signal aborted before it is abandoned. */
  graceMs: number;
}

export function execute(opts: ExecuteOptions): Promise<Settled> {
  const { controller } = opts;
  const signal = controller.signal;
  return new Promise<Settled>((resolve) => {
    let done = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const timeout = setTimeout(() => controller.abort(new JobTimeoutError(opts.timeoutMs)), opts.timeoutMs);
    const finish = (s: Settled) => {
      if (done) return;
      done = true;
      clearTimeout(timeout);
      clearTimeout(graceTimer);
      signal.removeEventListener('abort', onAbort);
      resolve(s);
    };
    const reason = () => (signal.aborted ? (signal.reason as AbortReason) : undefined);
    const onAbort = () => {
      graceTimer = setTimeout(() => finish({ ok: false, error: signal.reason, reason: reason(), abandoned: true }), opts.graceMs);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    let pending: unknown;
    try {
      pending = opts.handler(opts.payload, opts.ctx);
    } catch (error) {
      finish({ ok: false, error, reason: reason(), abandoned: false });
      return;
    }
    if (pending instanceof Promise || (pending && typeof (pending as PromiseLike<unknown>).then === 'function')) {
      Promise.resolve(pending).then(
        (value) => finish({ ok: true, value }),
        (error) => finish({ ok: false, error, reason: reason(), abandoned: false }),
      );
    } else {
      finish({ ok: true, value: pending });
    }
  });
}
