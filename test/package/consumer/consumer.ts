// A strict TypeScript user of both entries; checked against the shipped .d.ts (see package.test.ts).
import { builtinKinds, createPool, JobqError, KindRegistry, migrate, Queue, type Job, type JobStatus } from 'pgjobq';
import { createClient, JobqClientError, type JobWire } from 'pgjobq/client';

const pool = createPool('postgres://127.0.0.1/jobq');
const queue = new Queue({ pool, kinds: new KindRegistry(builtinKinds({ outboxDir: '/tmp/outbox', httpAllowHosts: [] })) });
const client = createClient({ baseUrl: 'http://127.0.0.1:8080' });

export async function run(): Promise<JobStatus> {
  await migrate(pool);
  const { job } = await queue.enqueue({ kind: 'noop', payload: {} });
  const stored: Job | null = await queue.get(job.id);
  const wire: JobWire = await client.enqueue({ kind: 'noop', payload: {} });
  const { rowCount } = await pool.query('SELECT 1');
  if (stored && wire.status === 'queued' && rowCount === 1) return stored.status;
  throw job.attempts > 0 ? new JobqError('internal', 'unexpected') : new JobqClientError(0, 'timeout', 'unexpected');
}

// The types are real, not `any`: each line below must fail to type-check.
// @ts-expect-error: pg's types come with the package (@types/pg is a dependency)
pool.query(42);
// @ts-expect-error: the client's wire types
client.enqueue({ kind: 1, payload: {} });
// @ts-expect-error: the job states
export const status: JobStatus = 'done';
