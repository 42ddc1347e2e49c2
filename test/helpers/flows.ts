/**
 * Shorthands of the flows tests (test/queue/flows*.test.ts, test/worker/flows*.test.ts): a job in a
 * queue of its own, so that a test claims exactly the job it means; its end, as a worker would; and
 * `jobq worker` processes with the `step` kind (flows-worker.ts) and the lines they write.
 */
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import type pg from 'pg';
import { Queue } from '../../src/queue/queue.ts';
import type { Job, NewJob } from '../../src/queue/types.ts';
import { type JobqProcess, ProcessGroup } from '../chaos/helpers/procs.ts';
import { freshDatabase, testKinds } from './db.ts';
import type { StepLine, StepPayload } from './flows-worker.ts';

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

const stepKind = { name: 'step', payloadSchema: Type.Object({ n: Type.Integer(), ms: Type.Integer(), fail: Type.Optional(Type.Boolean()), parents: Type.Optional(Type.Boolean()) }), handler: () => undefined };

/** A fresh database, a Queue with the `step` kind, and `worker(env)` starting a flows-worker process (killed after the test). */
export async function flowsFixture(t: { after: (fn: () => Promise<void>) => void }) {
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const db = await freshDatabase();
  const queue = new Queue({ pool: db.pool, kinds: testKinds().register(stepKind) });
  let started = 0;
  const worker = (env: Record<string, string> = {}) =>
    group.start(`w${++started}`, [], {
      DATABASE_URL: db.url, LOG_LEVEL: 'warn', JOBQ_WORKER_ID: `w${started}-${Math.random().toString(36).slice(2, 8)}`,
      JOBQ_CONCURRENCY: '20', JOBQ_POLL_INTERVAL_MS: '500', JOBQ_MIGRATE: 'false', ...env,
    }, { script: 'test/helpers/flows-worker.ts' });
  return { db, queue, worker };
}

export const step = (payload: StepPayload, extra: Partial<NewJob> = {}): NewJob => ({ kind: 'step', payload, ...extra });

/** Every step line the processes wrote so far. */
export function steps(procs: JobqProcess[]): StepLine[] {
  return procs.flatMap((p) => p.output().split('\n').filter((raw) => raw.startsWith('{"msg":"step"')).map((raw) => JSON.parse(raw) as StepLine));
}
