/**
 * What an idle worker's pickup costs each candidate's statements (docs/design/storage.md, pickup
 * latency), apart from the Worker: (1) `pgbench -r` on <candidate>/pgbench/pickup.sql, one client back
 * to back: the enqueue's and the claim's average latency; (2) the candidate's `Queue` in this process,
 * one job enqueued every 20 ms as in the bench's latency scenario and claimed by a claim asking for 10:
 * the median enqueue call and claim call. Alternates the candidates `--reps` times.
 *   node --import tsx bench/storage/pickup-probe.ts [--candidates today,log] [--seconds 10] [--reps 2]
 * On the bench's PostgreSQL (DATABASE_URL, else an embedded one).
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CANDIDATES } from './candidates.ts';
import { openCandidateDb, pgbench } from './measure.ts';
import { dropDatabase, startPostgres } from '../lib/infra.ts';
import { createPool } from '../../src/db/pool.ts';
import { kindsWithProbe } from '../../test/helpers/worker.ts';

const { values } = parseArgs({ options: { candidates: { type: 'string', default: 'today,log' }, seconds: { type: 'string', default: '10' }, reps: { type: 'string', default: '2' } } });
const kinds = kindsWithProbe(() => {});
const median = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const server = await startPostgres((m) => console.error(`[probe] ${m}`));
try {
  for (let rep = 1; rep <= Number(values.reps); rep++) {
    for (const name of values.candidates.split(',')) {
      const cand = CANDIDATES[name];
      if (!cand) throw new Error(`no candidate ${name}`);
      const db = await openCandidateDb(server.url, cand);
      try {
        await db.c.query('VACUUM (ANALYZE)');
        const script = fileURLToPath(new URL(`./${name}/pgbench/pickup.sql`, import.meta.url));
        const [enqueueMs, claimMs] = (await pgbench(db.url, script, { clients: 1, seconds: Number(values.seconds), statements: true })).statementMs!;
        if (enqueueMs === undefined || claimMs === undefined) throw new Error(`${name}: pgbench printed no statement latencies`);
        await cand.reset(db.c);
        const pool = createPool(db.url, { max: 10, applicationName: 'pickup-probe' });
        const queue = cand.createQueue({ pool, kinds });
        const enqueue: number[] = [];
        const claim: number[] = [];
        try {
          for (let i = 0; i < 150; i++) {
            await new Promise((r) => setTimeout(r, 20));
            let t = performance.now();
            await queue.enqueue({ kind: 'probe', payload: {} });
            enqueue.push(performance.now() - t);
            t = performance.now();
            const got = await queue.claim('probe', { limit: 10 });
            claim.push(performance.now() - t);
            if (got.length !== 1) throw new Error(`${name}: a claim took ${got.length} jobs, not the one enqueued`);
          }
        } finally {
          await pool.end();
        }
        console.log(`${name} rep ${rep}: pgbench back to back: enqueue ${enqueueMs} ms, claim ${claimMs} ms; Queue, 20 ms apart (p50): enqueue ${median(enqueue).toFixed(2)} ms, claim ${median(claim).toFixed(2)} ms`);
      } finally {
        await db.close();
        await dropDatabase(server.url, `jobq_storage_${name}`);
      }
    }
  }
} finally {
  await server.stop();
}
