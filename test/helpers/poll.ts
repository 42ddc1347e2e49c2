/** Waiting in tests: poll until a deadline, a job's status, and promises the test resolves itself. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Queue } from '../../src/queue/queue.ts';
import type { Job, JobStatus } from '../../src/queue/types.ts';

/** Polls until `check` returns a value (not undefined), every `pollMs`; fails after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, ms = 10_000, what = 'condition', pollMs = 20): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}

export async function waitForStatus(queue: Queue, id: string, status: JobStatus | JobStatus[], ms = 10_000): Promise<Job> {
  const wanted = Array.isArray(status) ? status : [status];
  return eventually(async () => {
    const job = await queue.get(id);
    return job && wanted.includes(job.status) ? job : undefined;
  }, ms, `job ${id} to be ${wanted.join(' or ')}`);
}

/** A promise with its resolve function, for handlers the test steers. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
