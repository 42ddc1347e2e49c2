/**
 * Profiles the `log` candidate's claim while a transaction holds an xid (docs/design/storage.md,
 * stage 5): drains before, feeds and claims during a hold, drains again while held, and prints the
 * claim's nested plans (auto_explain to the client) of one claim before and during the hold.
 *   node --import tsx bench/storage/xid-probe.ts [--hold-s 60] [--rate 3000] [--jobs 20000] [--no-hold]
 * On the bench's PostgreSQL (DATABASE_URL, else an embedded one). --no-hold: the same feed without the
 * held xid, to tell what the hold costs from what the log's growth costs. --generations N: only
 * drains, before and after N generations of 1,000 finished jobs each are added (what the probes cost
 * per generation kept). --perf PREFIX: each drain is also profiled system-wide (`perf record -a -g`) into
 * PREFIX-<drain>.data, for `perf report --comm postgres`.
 */
import { parseArgs } from 'node:util';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import pg from 'pg';
import { CANDIDATES } from './candidates.ts';
import { openCandidateDb, pgbench } from './measure.ts';
import { drain, startFeed } from './scenarios.ts';
import { dropDatabase, startPostgres } from '../lib/infra.ts';

const { values } = parseArgs({ options: { 'hold-s': { type: 'string', default: '60' }, rate: { type: 'string', default: '3000' }, jobs: { type: 'string', default: '20000' }, candidate: { type: 'string', default: 'log' }, 'no-hold': { type: 'boolean', default: false }, perf: { type: 'string' }, generations: { type: 'string', default: '0' } } });
const server = await startPostgres((m) => console.error(`[probe] ${m}`));
const admin = server.url;
const hold = !values['no-hold'];
const cand = CANDIDATES[values.candidate]!;
const jobs = Number(values.jobs);
const db = await openCandidateDb(admin, cand);
const { c } = db;
/** Runs `work` under `perf record -a -g` when --perf is given (the file named after `label`). */
const profiled = async <T>(label: string, work: () => Promise<T>): Promise<T> => {
  if (!values.perf) return work();
  const file = `${values.perf}-${label.replace(/[^a-z0-9]+/gi, '-')}.data`;
  const perf = spawn('perf', ['record', '-a', '-g', '-F', '499', '-o', file], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 500)); // perf's start-up, before the work it is to see
  try {
    return await work();
  } finally {
    perf.kill('SIGINT');
    await once(perf, 'exit');
    console.log(`profile: ${file}`);
  }
};
const drainRun = async (label: string) => {
  await cand.seed(c, jobs);
  const r = await profiled(label, () => drain(db, cand, jobs, 10));
  const n = r.finished;
  console.log(`${label}: ${n} jobs in ${r.seconds.toFixed(2)} s = ${Math.round(n / r.seconds)} jobs/s`);
};
const explainClaim = async (label: string) => {
  await cand.seed(c, 200);
  const e = new pg.Client(db.url);
  await e.connect();
  const notices: string[] = [];
  e.on('notice', (n) => notices.push(n.message ?? ''));
  await e.query(`LOAD 'auto_explain'`);
  await e.query(`SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on; SET auto_explain.log_buffers = on; SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice; SET auto_explain.log_timing = on`);
  for (let i = 0; i < 3; i++) {
    notices.length = 0;
    const t = performance.now();
    const { rowCount } = await e.query(`SELECT * FROM jobq.log_claim('default', 'probe', 50)`);
    console.log(`--- ${label} claim ${i}: ${rowCount} rows in ${(performance.now() - t).toFixed(2)} ms`);
    if (i === 2) console.log(notices.join('\n'));
  }
  await e.end();
};
try {
  const gens = Number(values.generations);
  if (gens > 0) {
    await drainRun('drain with 1 generation');
    await drainRun('drain with 1 generation, again');
    for (let i = 0; i < gens; i += 2) await cand.addFinished(c, 1_000, 48); // each makes two generations
    await c.query('VACUUM (ANALYZE)');
    await drainRun(`drain with ${gens + 1} generations`);
    await drainRun(`drain with ${gens + 1} generations, again`);
    await explainClaim(`${gens + 1} generations`);
  } else {
    await heldRun();
  }
} finally {
  await db.close();
  await dropDatabase(admin, `jobq_storage_${cand.name}`);
  await server.stop();
}

async function heldRun(): Promise<void> {
  await drainRun('drain before');
  await explainClaim('before');
  const holder = new pg.Client(db.url);
  await holder.connect();
  if (hold) {
    await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await holder.query('SELECT txid_current(), count(*) FROM jobq.queues');
  }
  const rate = Number(values.rate);
  const feeder = new pg.Client(db.url);
  await feeder.connect();
  const feed = startFeed(feeder, cand, rate);
  await pgbench(db.url, cand.pgbench.claimFinish, { clients: 10, seconds: Number(values['hold-s']), rate: Math.ceil((rate / 50) * 1.5) });
  await feed.stop();
  await feeder.end();
  await pgbench(db.url, cand.pgbench.claimFinish, { clients: 10, transactions: 20 });
  const state = hold ? 'held' : 'fed, no hold';
  await drainRun(`drain ${state}`);
  await explainClaim(state);
  if (hold) await holder.query('ROLLBACK');
  await holder.end();
  await drainRun('drain after release');
}
