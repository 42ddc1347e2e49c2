/**
 * waitFor: long-polls (GET /v1/jobs/{id}?wait=) one after another until the job is succeeded,
 * failed_permanent or cancelled, or the time is up. The server answers as soon as the job finishes,
 * so nothing sleeps here; only a server full of streams and waits (503 too_many_streams) is asked
 * again after the second it says (Retry-After).
 */
import type { JobWire } from '../api/schemas/job.ts';
import { isTerminal } from '../statuses.ts';
import { type Http, JobqClientError } from './http.ts';

export interface WaitForOptions {
  /** Give up (reject with kind `timeout`) after this long. */
  timeoutMs: number;
  /** @deprecated Ignored: waitFor long-polls, the server answers when the job finishes. */
  intervalMs?: number;
  signal?: AbortSignal;
}

/** The longest wait asked of the server in one request (it takes up to 120 s; proxies often cut at 60). */
export const WAIT_CHUNK_MS = 50_000;

export async function waitFor(http: Http, id: string, { timeoutMs, signal }: WaitForOptions): Promise<JobWire> {
  const deadline = Date.now() + timeoutMs;
  // A request must be answered within the client's timeoutMs: ask the server for less.
  const perRequest = http.options.timeoutMs === undefined ? WAIT_CHUNK_MS : Math.max(1, Math.min(WAIT_CHUNK_MS, Math.floor(http.options.timeoutMs * 0.8)));
  const path = `/v1/jobs/${encodeURIComponent(id)}`;
  for (;;) {
    if (signal?.aborted) throw signal.reason;
    const left = deadline - Date.now();
    const wait = Math.max(0, Math.min(left, perRequest));
    let job: JobWire;
    try {
      job = await http.call<JobWire>('GET', `${path}?wait=${Math.ceil(wait)}ms`, undefined, {}, signal);
    } catch (err) {
      if (!(err instanceof JobqClientError && err.kind === 'too_many_streams') || Date.now() + 1_000 >= deadline) throw err;
      await pause(1_000, signal);
      continue;
    }
    if (isTerminal(job.status)) return job;
    if (Date.now() >= deadline) {
      throw new JobqClientError(0, 'timeout', `job ${id} is still ${job.status} after ${timeoutMs} ms`, [{ path: '/status', message: `is ${job.status}` }]);
    }
  }
}

// Not node:timers/promises: this module must also run in browsers and edge runtimes.
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
