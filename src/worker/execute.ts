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

/**
 * A job's abort state. The AbortSignal is made only when the handler reads it: most handlers never
 * do, and an AbortController per job (an EventTarget, its listeners) was, with the timer, a tenth of a
 * fast worker's CPU. Aborting before the signal exists records the reason; the signal, when asked
 * for, starts out aborted with it.
 */
export class JobAbort {
  #controller: AbortController | undefined;
  #reason: AbortReason | undefined;
  /** Called once, on the first abort (execute uses it to start the grace period). */
  onAbort: (() => void) | undefined;

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#reason) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get reason(): AbortReason | undefined {
    return this.#reason;
  }

  abort(reason: AbortReason): void {
    if (this.#reason) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
    this.onAbort?.();
  }
}

export interface ExecuteOptions {
  handler: JobHandler;
  payload: unknown;
  /** The handler's context; its `signal` must be `abort.signal`. */
  ctx: HandlerContext;
  abort: JobAbort;
  timeoutMs: number;
  /** How long a handler may run on after its signal aborted before it is abandoned. */
  graceMs: number;
}

/**
 * Runs the handler. One that returns without a promise is settled at once (a plain value, not a
 * promise: no timer armed, nothing queued); one that returns a promise runs under its timeout, and is
 * abandoned `graceMs` after an abort it ignores.
 */
export function execute(opts: ExecuteOptions): Settled | Promise<Settled> {
  const { abort } = opts;
  let pending: unknown;
  try {
    pending = opts.handler(opts.payload, opts.ctx);
  } catch (error) {
    return { ok: false, error, reason: abort.reason, abandoned: false };
  }
  if (!isThenable(pending)) return { ok: true, value: pending };
  return new Promise<Settled>((resolve) => {
    let done = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const timeout = setTimeout(() => abort.abort(new JobTimeoutError(opts.timeoutMs)), opts.timeoutMs);
    const finish = (s: Settled) => {
      if (done) return;
      done = true;
      clearTimeout(timeout);
      clearTimeout(graceTimer);
      abort.onAbort = undefined;
      resolve(s);
    };
    const onAbort = () => {
      graceTimer = setTimeout(() => finish({ ok: false, error: abort.reason, reason: abort.reason, abandoned: true }), opts.graceMs);
    };
    if (abort.reason) onAbort();
    else abort.onAbort = onAbort;
    Promise.resolve(pending).then(
      (value) => finish({ ok: true, value }),
      (error) => finish({ ok: false, error, reason: abort.reason, abandoned: false }),
    );
  });
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v instanceof Promise || (v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as PromiseLike<unknown>).then === 'function');
}
