// A user of the library, in plain JavaScript: migrate a database, enqueue a job, run it with a Worker.
import { builtinKinds, createLogger, createPool, KindRegistry, migrate, Queue, Worker } from 'pgjobq';

const databaseUrl = process.env.DATABASE_URL;
const pool = createPool(databaseUrl);
try {
  const { applied } = await migrate(pool);
  const queue = new Queue({ pool, kinds: new KindRegistry(builtinKinds({ outboxDir: process.env.OUTBOX_DIR, httpAllowHosts: [] })) });
  const { job } = await queue.enqueue({ kind: 'noop', payload: {} });
  const worker = new Worker({
    queue,
    databaseUrl,
    logger: createLogger('warn', { pretty: false }),
    workerId: `library-${process.pid}`,
    concurrency: 2,
    queues: [],
    leaseMs: 10_000,
    heartbeatMs: 1_000,
    pollIntervalMs: 50,
    shutdownGraceMs: 1_000,
    timeoutGraceMs: 1_000,
  });
  await worker.start();
  let done = await queue.get(job.id);
  for (const deadline = Date.now() + 30_000; done?.status !== 'succeeded' && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 50));
    done = await queue.get(job.id);
  }
  await worker.stop();
  console.log(JSON.stringify({ node: process.version, applied, status: done?.status }));
} finally {
  await pool.end();
}
