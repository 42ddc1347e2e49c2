/**
 * Shorthands of the flows tests (test/queue/flows-*.test.ts): a job in a queue of its own, so that a
 * test claims exactly the job it means; and its end, by a worker or an operator.
 */
import assert from 'node:assert/strict';
import type pg from 'pg';
import type { Queue } from '../../src/queue/queue.ts';
import type { Job, NewJob } from '../../src/queue/types.ts';

let n = 0;

/** A noop job alone in its queue (`q<n>`), with `extra`. */
export const own = (extra: Partial<NewJob> = {}): NewJob => ({ kind: 'noop', payload: {}, queue: `q${++n}`, ...extra });

/** Runs job `id` to its end as a worker would: succeeded with `result`, or failed for good. Returns it as stored. */
export async function finish(queue: Queue, id: string, how: 'succeed' | 'fail', result: unknown = { from: id }): Promise<Job> {
  const job = await queue.get(id);
  assert.ok(job, `job ${id}`);
  const [claimed] = await queue.claim('w', { limit: 1, queues: [job.queue] });
  assert.equal(claimed?.id, id, `job ${id} is the runnable job of queue ${job.queue}`);
  if (how === 'succeed') assert.deepEqual(await queue.complete('w', [{ id, claimSeq: claimed.claimSeq, result }]), [claimed.claimSeq]);
  else await queue.markFailedOrRetry(id, new Error('boom'), { workerId: 'w', claimSeq: claimed.claimSeq, permanent: true });
  return (await queue.get(id))!;
}

/** Status, and pending parents, of each job. */
export async function states(pool: pg.Pool, ids: string[]): Promise<string[]> {
  const { rows } = await pool.query<{ id: string; status: string; pending_parents: number | null }>(
    'SELECT id, status, pending_parents FROM jobq.jobs WHERE id = ANY($1::uuid[])', [ids]);
  const byId = new Map(rows.map((r) => [r.id, r.pending_parents === null ? r.status : `${r.status}/${r.pending_parents}`]));
  return ids.map((id) => byId.get(id) ?? 'gone');
}

/** The edges left in jobq.dependencies. */
export async function edges(pool: pg.Pool): Promise<number> {
  return (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM jobq.dependencies')).rows[0]!.n;
}
