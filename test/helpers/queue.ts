/**
 * Shorthands for tests that drive the Queue by hand, in the worker's API (claim, complete): the
 * claim returns what a worker runs a job with, so tests that look at the whole row read it back.
 */
import assert from 'node:assert/strict';
import type { ClaimOptions, ClaimRef, Queue } from '../../src/queue/index.ts';
import type { ClaimedJob, Job } from '../../src/queue/types.ts';

/** Claims one job for `workerId`: the claimed job, or null when none is runnable. */
export async function claimOne(queue: Queue, workerId: string, opts: Omit<ClaimOptions, 'limit'> = {}): Promise<ClaimedJob | null> {
  const [job] = await queue.claim(workerId, { ...opts, limit: 1 });
  return job ?? null;
}

/** Claims jobs for `workerId` and reads each back whole (status, lease, claim), in claim order. */
export async function claimJobs(queue: Queue, workerId: string, opts: ClaimOptions = {}): Promise<Job[]> {
  const claimed = await queue.claim(workerId, opts);
  return Promise.all(claimed.map(async (c) => (await queue.get(c.id))!));
}

/** Completes one claim of `workerId` with `result`; returns the job as stored. Fails if the claim was not held. */
export async function succeed(queue: Queue, workerId: string, claim: ClaimRef, result?: unknown): Promise<Job> {
  assert.deepEqual(await queue.complete(workerId, [{ ...claim, result }]), [claim.claimSeq], `claim ${claim.claimSeq} of job ${claim.id} was not held by ${workerId}`);
  return (await queue.get(claim.id))!;
}
