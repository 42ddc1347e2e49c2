// A user of the light client entry: enqueue a job over HTTP and wait for it to finish.
import { createClient } from 'pgjobq/client';

const client = createClient({ baseUrl: process.env.JOBQ_URL });
const job = await client.enqueue({ kind: 'noop', payload: {} });
const done = await client.waitFor(job.id, { timeoutMs: 30_000, intervalMs: 50 });
console.log(JSON.stringify({ node: process.version, status: done.status }));
