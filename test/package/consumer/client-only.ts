// A browser or edge user of the client entry: no Node.js types, no pg (see tsconfig.client.json).
import { createClient, type JobWire } from 'pgjobq/client';

const client = createClient({ baseUrl: 'https://jobq.example.com', apiKey: 'k' });
export const enqueued: Promise<JobWire> = client.enqueue({ kind: 'noop', payload: {} });
