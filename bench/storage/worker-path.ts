/**
 * The storage study through jobq's own runtime: a candidate's `Queue` under the real `Worker` (in this
 * process, jobq's default settings, an async no-op handler as the bench's), so that the claim cursor,
 * the claim buffer and the batched completions are what a deployment would run. Measures a drain of
 * pre-enqueued jobs, and the held-xmin scenario of scenarios.ts with this worker claiming instead of pgbench.
 */
import { Type } from '@sinclair/typebox';
import pg from 'pg';
import { createLogger, createPool, KindRegistry, resolveConfig, Worker } from '../../src/index.ts';
import type { StorageCandidate } from './candidate.ts';
import { type CandidateDb, serverCpuMs, tableState, walBytes } from './measure.ts';
import type { HeldXmin, Throughput } from './scenarios.ts';

const KIND = 'bench_noop';

/** A worker of `cand`'s Queue at `concurrency`, counting the jobs it runs. */
async function startWorker(db: CandidateDb, cand: StorageCandidate, concurrency: number) {
  const config = resolveConfig({}, {});
  const pool = createPool(db.url, { max: config.poolSize, applicationName: 'jobq-storage' });
  let handled = 0;
  const kinds = new KindRegistry([{ name: KIND, payloadSchema: Type.Object({}), handler: async () => void handled++ }]);
  const queue = cand.createQueue({ pool, kinds });
  const worker = new Worker({ ...config, concurrency, queue, databaseUrl: db.url, logger: createLogger('warn', { pretty: false }), workerId: `storage:${process.pid}`, scheduler: false });
  await worker.start();
  return {
    get handled() {
      return handled;
    },
    async stop() {
      await worker.stop();
      await pool.end();
    },
  };
}

async function until(what: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await what())) {
    if (Date.now() > end) throw new Error('the worker did not finish the jobs in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `jobs` pre-enqueued (statistics up to date) run by one worker at `concurrency`. */
export async function workerThroughput(db: CandidateDb, cand: StorageCandidate, jobs: number, concurrency: number, reset = true): Promise<Throughput> {
  const { c } = db;
  if (reset) {
    await cand.reset(c);
    await c.query('VACUUM (ANALYZE)');
  }
  await cand.seed(c, jobs);
  await c.query(reset ? 'VACUUM (ANALYZE)' : 'ANALYZE');
  const cpu0 = serverCpuMs();
  const wal0 = await walBytes(c);
  const t0 = performance.now();
  const w = await startWorker(db, cand, concurrency);
  try {
    await until(async () => w.handled >= jobs && (await cand.remaining(c)) === 0, 600_000);
  } finally {
    await w.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  const wal = (await walBytes(c)) - wal0;
  const cpu = serverCpuMs() - cpu0;
  return { jobsPerS: w.handled / seconds, serverCpuUsPerJob: (cpu * 1000) / w.handled, walBytesPerJob: wal / w.handled, finished: w.handled };
}

/** scenarios.ts's heldXmin with the real worker (concurrency 10) taking the jobs as they come. */
export async function workerHeldXmin(db: CandidateDb, cand: StorageCandidate, minutes: number, rate: number, drainJobs: number): Promise<HeldXmin> {
  const { c } = db;
  const drainBefore = await workerThroughput(db, cand, drainJobs, 10);
  const holder = new pg.Client(db.url);
  await holder.connect();
  const feeder = new pg.Client(db.url);
  await feeder.connect();
  const samples: HeldXmin['samples'] = [];
  try {
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await holder.query('SELECT txid_current(), count(*) FROM jobq.queues');
    const t0 = performance.now();
    const w = await startWorker(db, cand, 10);
    try {
      let next = performance.now();
      let lastSample = t0;
      while (performance.now() - t0 < minutes * 60_000) {
        await cand.seed(feeder, Math.max(1, Math.round(rate / 10)));
        await feeder.query(`SELECT pg_notify('jobq_jobs', 'default')`);
        if (performance.now() - lastSample >= 10_000) {
          lastSample = performance.now();
          const st = await tableState(c, cand.hotTables);
          samples.push({ s: Math.round((lastSample - t0) / 1000), bytes: st.bytes, dead: st.dead, waiting: await cand.remaining(c) });
        }
        next += 100;
        const wait = next - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    } finally {
      await w.stop();
    }
    const drainHeld = await workerThroughput(db, cand, drainJobs, 10, false);
    return { minutes, rate, samples, drainBefore, drainHeld };
  } finally {
    await holder.query('ROLLBACK').catch(() => {});
    await holder.end();
    await feeder.end();
  }
}
