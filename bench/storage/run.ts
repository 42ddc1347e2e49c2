/**
 * `npm run bench:storage`: the storage design study of issue #22 (docs/design/storage.md). Each
 * candidate design (bench/storage/<name>/, the contract in candidate.ts) gets a database of its own on
 * the bench's PostgreSQL (DATABASE_URL, else an embedded one) and the same scenarios (scenarios.ts), one
 * candidate after the other so that none measures another's load. Prints a table and writes
 * bench/results/storage-<time>.{json,md}.
 *
 *   --candidates today,split,lease,log   which, in this order (default: all four)
 *   --jobs 100000                        jobs per throughput run
 *   --history 1000000                    finished jobs kept in the history scenario (0: skip it)
 *   --reads-history 1000000              finished jobs present while reads are measured (0: skip reads)
 *   --xmin-minutes 10                    length of the held-xmin scenario (0: skip it)
 *   --xmin-rate N                        jobs/s offered meanwhile (default: half the first candidate's c10)
 *   --worker                             also through the real Worker (worker-path.ts): c10, c50 and the held xmin
 *   --pgbench-xmin                       the held xmin with pgbench claiming too (default: only the worker's, with --worker)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dropDatabase, machine, startPostgres } from '../lib/infra.ts';
import { BENCH_DIR } from '../lib/runs.ts';
import { CANDIDATES } from './candidates.ts';
import { openCandidateDb } from './measure.ts';
import { report } from './report.ts';
import { heldXmin, history, reads, throughput } from './scenarios.ts';
import { workerHeldXmin, workerThroughput } from './worker-path.ts';
import type { CandidateResult } from './report.ts';

const { values } = parseArgs({
  options: {
    candidates: { type: 'string', default: 'today,split,lease,log' },
    jobs: { type: 'string', default: '100000' },
    history: { type: 'string', default: '1000000' },
    'reads-history': { type: 'string', default: '1000000' },
    'xmin-minutes': { type: 'string', default: '10' },
    'xmin-rate': { type: 'string' },
    worker: { type: 'boolean', default: false },
    'pgbench-xmin': { type: 'boolean', default: false },
  },
});
const names = values.candidates.split(',').map((s) => s.trim()).filter(Boolean);
const jobs = Number(values.jobs);
const log = (m: string) => console.error(`[storage] ${m}`);

const server = await startPostgres(log);
const results: CandidateResult[] = [];
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const dir = path.join(BENCH_DIR, 'results');
mkdirSync(dir, { recursive: true });
let xminRate = values['xmin-rate'] ? Number(values['xmin-rate']) : undefined;
try {
  for (const name of names) {
    const cand = CANDIDATES[name];
    if (!cand) throw new Error(`no candidate ${name}: ${Object.keys(CANDIDATES).join(', ')}`);
    log(`${name}: ${cand.title}`);
    const db = await openCandidateDb(server.url, cand);
    try {
      const r: CandidateResult = { name, title: cand.title };
      r.c10 = await throughput(db, cand, jobs, 10, true);
      log(`${name} c10 ${Math.round(r.c10.jobsPerS)} jobs/s`);
      r.c50 = await throughput(db, cand, jobs, 50, true);
      r.fresh = await throughput(db, cand, jobs, 10, false);
      log(`${name} c50 ${Math.round(r.c50.jobsPerS)}, just enqueued ${Math.round(r.fresh.jobsPerS)}`);
      if (Number(values.history) > 0) {
        r.history = await history(db, cand, jobs, Number(values.history));
        log(`${name} with ${values.history} kept ${Math.round(r.history.withHistory.jobsPerS)} jobs/s; retention ${Math.round(r.history.retentionMs)} ms`);
      }
      if (Number(values['reads-history']) > 0) r.reads = await reads(db, cand, Number(values['reads-history']));
      const worker = values.worker && !cand.peer;
      if (worker) {
        r.workerC10 = await workerThroughput(db, cand, jobs, 10);
        r.workerC50 = await workerThroughput(db, cand, jobs, 50);
        log(`${name} worker c10 ${Math.round(r.workerC10.jobsPerS)}, c50 ${Math.round(r.workerC50.jobsPerS)} jobs/s`);
      }
      const minutes = Number(values['xmin-minutes']);
      if (minutes > 0) {
        xminRate ??= Math.round(((worker ? r.workerC10?.jobsPerS : undefined) ?? r.c10.jobsPerS) / 2);
        if (worker) {
          r.workerXmin = await workerHeldXmin(db, cand, minutes, xminRate, Math.min(jobs, 50_000));
          log(`${name} worker, held xmin: drain ${Math.round(r.workerXmin.drainHeld.jobsPerS)} against ${Math.round(r.workerXmin.drainBefore.jobsPerS)} jobs/s`);
        }
        if (values['pgbench-xmin'] || !worker) {
          r.xmin = await heldXmin(db, cand, minutes, xminRate, Math.min(jobs, 50_000));
          log(`${name} pgbench, held xmin: drain ${Math.round(r.xmin.drainHeld.jobsPerS)} against ${Math.round(r.xmin.drainBefore.jobsPerS)} jobs/s`);
        }
      }
      results.push(r);
      write();
    } finally {
      await db.close();
      await dropDatabase(server.url, `jobq_storage_${name}`);
    }
  }
} finally {
  await server.stop();
}
/** The results so far (written after each candidate too, so that an interrupted run keeps them). */
function write(): string {
  const md = report(results, { machine: machine(), postgres: server.version, jobs });
  writeFileSync(path.join(dir, `storage-${stamp}.json`), JSON.stringify({ at: new Date().toISOString(), postgres: server.version, jobs, results }, null, 2));
  writeFileSync(path.join(dir, `storage-${stamp}.md`), md);
  return md;
}
console.log(write());
