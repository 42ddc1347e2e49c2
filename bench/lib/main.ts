/** Orchestration: servers, then every selected system through every scenario, then HTTP and pgbench, then the report. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { SYSTEMS } from '../systems/index.ts';
import type { CreateDriver, SystemDef, Target } from '../systems/types.ts';
import { runFloor } from './floor.ts';
import { openHttp } from './http.ts';
import { createDatabase, dropDatabase, machine, packageVersion, type Redis, type Server, startPostgres, startRedis } from './infra.ts';
import { parseOptions, type Options } from './options.ts';
import { runPgbench } from './pgbench.ts';
import { type Figure, METRICS, printReport, type Results, writeResults } from './report.ts';
import { FLOW_RUNS, prefillFlow } from './flow.ts';
import { streamsRep } from './streams.ts';
import { heldScenario } from './held.ts';
import { historyScenario } from './history.ts';
import { enqueueBatches, enqueueSingles, latencyRun, prefill, processRun, type System, vacuum } from './runs.ts';

const PROCESS_RUNS = [
  { key: 'c10', concurrency: 10, processes: 1 },
  { key: 'c50', concurrency: 50, processes: 1 },
  { key: '2proc', concurrency: 10, processes: 2 },
  { key: 'xmin', concurrency: 10, processes: 1, holdXmin: true },
  // Right after the bulk enqueue: the empty tables vacuumed and analyzed first, none after.
  { key: 'fresh', concurrency: 10, processes: 1, prepare: 'none' },
] as const;

export async function main(argv: string[], ctx: { root: string; bench: string; jobqVersion: string }): Promise<void> {
  const o = parseOptions(argv, path.join(ctx.bench, 'results'));
  if (o.report) {
    printReport(JSON.parse(readFileSync(o.report, 'utf8')) as Results);
    return;
  }
  const log = (m: string) => console.error(`[bench] ${m}`);
  const wanted = (s: SystemDef) => (o.systems.length === 0 && !s.optIn) || o.systems.includes(s.family) || o.systems.includes(s.id);
  const scenario = (s: string) => o.scenarios.length === 0 || o.scenarios.includes(s);
  const defs = SYSTEMS.filter(wanted);
  const results: Results = {
    startedAt: new Date().toISOString(),
    finishedAt: '',
    mode: o.quick ? 'quick' : 'full',
    options: o,
    machine: machine(),
    postgres: { version: '?', embedded: true, settings: {} },
    redis: null,
    versions: { jobq: ctx.jobqVersion, node: process.version },
    systems: [],
    figures: {},
    notes: [],
  };
  for (const pkg of ['pg-boss', 'graphile-worker', 'bullmq', 'ioredis', 'pg', 'autocannon']) results.versions[pkg] = packageVersion(pkg);
  results.versions.jobqCommit = gitDescribe(ctx.root);
  if (defs.some((d) => d.family === 'jobq')) results.notes.push('jobq runs with LOG_LEVEL=warn (library: a pino logger at warn; HTTP API process: LOG_LEVEL=warn); every other jobq setting is its default.');
  if (defs.some((d) => d.family === 'graphile')) results.notes.push('graphile-worker runs with a logger at warn too (its default logs one line per job).');
  log(`${o.quick ? 'quick' : 'full'} run: ${o.jobs} jobs per processing run, ${o.reps} repetition(s), node ${process.version}`);

  let server: Server | undefined;
  let redis: Redis | undefined;
  const stopAll = async () => {
    await redis?.stop().catch(() => {});
    await server?.stop().catch((e: unknown) => log(`could not stop PostgreSQL: ${String(e)}`));
  };
  // On a signal or a crash: stop what the bench started (its worker processes exit when their IPC
  // channel closes); errors of connections that the shutdown itself cuts are expected then.
  let exiting = false;
  const exit = (code: number) => {
    if (exiting) return;
    exiting = true;
    void stopAll().finally(() => process.exit(code));
  };
  process.once('SIGINT', () => exit(130)).once('SIGTERM', () => exit(143));
  process.on('uncaughtException', (err) => {
    // A system's idle connection cut by DROP DATABASE ... WITH (FORCE) after its rows are done.
    if ((err as { code?: string }).code === '57P01' || /Connection terminated unexpectedly/.test(err.message)) {
      log(`ignored: ${err.message}`);
      return;
    }
    if (!exiting) log(`crashed: ${err.stack ?? err.message}`);
    exit(1);
  });
  try {
    server = await startPostgres(log);
    results.postgres = { version: server.version, embedded: server.embedded, settings: server.settings };
    log(`PostgreSQL ${server.version} (${server.embedded ? 'embedded, temp dir' : 'DATABASE_URL'}), fsync=${server.settings.fsync}, synchronous_commit=${server.settings.synchronous_commit}`);
    if (defs.some((d) => d.backend === 'redis')) {
      redis = await startRedis().catch((err: unknown) => {
        results.notes.push(`redis-server failed to start: ${(err as Error).message}`);
        return undefined;
      });
      if (redis) results.redis = { version: redis.version };
      else if (!results.notes.some((n) => n.startsWith('redis-server'))) results.notes.push('redis-server is not installed at /usr/bin/redis-server: the BullMQ-on-Redis rows are skipped.');
    }
    for (const def of defs) {
      const version = def.pkg === 'jobq' ? ctx.jobqVersion : results.versions[def.pkg] ?? '?';
      const entry: Results['systems'][number] = { id: def.id, label: def.label, family: def.family, backend: def.backend, variant: def.variant, settings: def.settings, version };
      results.systems.push(entry);
      if (def.backend === 'redis' && !redis) {
        entry.skipped = 'redis-server not available';
        continue;
      }
      try {
        results.figures[def.id] = await runSystem(def, server, redis, o, scenario, log);
      } catch (err) {
        entry.skipped = `failed: ${(err as Error).message.split('\n')[0]}`;
        log(`${def.id} ${entry.skipped}`);
      }
    }
    if (o.http && defs.some((d) => d.id === 'jobq')) await runHttp(server, o, results, log);
    if (o.pgbench) await runPgbench(server, o, results, log);
    if (o.pgbench && scenario('latency')) await runFloor(server, o, results, log);
  } finally {
    await stopAll();
  }
  results.finishedAt = new Date().toISOString();
  mkdirSync(o.outDir, { recursive: true });
  printReport(results);
  // Only a complete full run replaces latest.json and the README's chart; quick and partial runs
  // (CI, a look at one system) keep their own file.
  const complete = !o.quick && o.systems.length === 0 && o.scenarios.length === 0 && o.http && o.pgbench;
  const files = await writeResults(results, o.outDir, complete);
  log(`wrote ${files.join(', ')}`);
  // A peer that fails is reported and the run goes on; jobq's own figures failing fails the run (CI).
  const jobqFailed = Object.entries(results.figures.jobq ?? {}).filter(([, f]) => f.error);
  const jobqSkipped = results.systems.find((s) => s.id === 'jobq')?.skipped;
  if (jobqFailed.length > 0 || jobqSkipped) {
    log(`jobq failed: ${jobqSkipped ?? jobqFailed.map(([k, f]) => `${k}: ${f.error}`).join('; ')}`);
    process.exitCode = 1;
  }
}

/** The commit jobq's numbers belong to, `+dirty` when src/ has uncommitted changes. */
function gitDescribe(root: string): string {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  const head = git('rev-parse', '--short', 'HEAD');
  if (head.status !== 0) return 'unknown';
  return head.stdout.trim() + (git('status', '--porcelain', '--', 'src').stdout.trim() ? '+dirty' : '');
}

async function runSystem(
  def: SystemDef,
  server: Server,
  redis: Redis | undefined,
  o: Options,
  scenario: (s: string) => boolean,
  log: (m: string) => void,
): Promise<Record<string, Figure>> {
  const { createDriver } = (await import(`../systems/${def.module}`)) as { createDriver: CreateDriver };
  const dbName = `bench_${def.id.replace(/-/g, '_')}`;
  const pgUrl = def.backend === 'postgres' ? await createDatabase(server.url, dbName) : '';
  // Each Redis-backed row gets a Redis database of its own, the analogue of a PostgreSQL database.
  const redisDb = def.variant === 'best' ? 1 : 2;
  const target: Target = { pgUrl, queue: 'bench', ...(redis ? { redisUrl: `${redis.url}/${redisDb}` } : {}) };
  const driver = createDriver(target, def.variant);
  const sys: System = { def, target, driver };
  const figures: Record<string, Figure> = {};
  const add = (key: string, value: number, extra?: Record<string, number>, diag?: Record<string, number | undefined>) => {
    const f = (figures[key] ??= { unit: METRICS[key]!.unit, values: [], median: null });
    f.values.push(value);
    for (const [k, v] of Object.entries(diag ?? {})) if (v !== undefined) ((f.diag ??= {})[k] ??= []).push(v);
    if (extra) for (const [k, v] of Object.entries(extra)) (f.extra ??= {})[k] = (f.extra?.[k] ?? 0) + v;
  };
  const attempt = async (key: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      const msg = (err as Error).message.split('\n')[0]!;
      for (const k of Object.keys(METRICS).filter((m) => m === key || m.startsWith(`${key}.`))) (figures[k] ??= { unit: METRICS[k]!.unit, values: [], median: null }).error = msg;
      log(`${def.id} ${key}: FAILED ${msg}`);
    }
  };
  const reps = (label: string, show: (v: number) => string, each: (rep: number) => Promise<number>) => async () => {
    for (let rep = 1; rep <= o.reps; rep++) log(`${def.id} ${label} rep ${rep}/${o.reps}: ${show(await each(rep))}`);
  };
  const perSec = (v: number) => `${Math.round(v).toLocaleString('en-US')} jobs/s`;
  // A setting too slow to get through N jobs in reasonable time runs fewer, and says so.
  const cap = def.maxJobs ? (o.quick ? Math.ceil(def.maxJobs.jobs / 2) : def.maxJobs.jobs) : Infinity;
  const jobs = Math.min(o.jobs, cap);
  const fewer = jobs < o.jobs ? `${jobs.toLocaleString('en-US')} jobs per run instead of ${o.jobs.toLocaleString('en-US')}: ${def.maxJobs!.why}` : undefined;
  try {
    await driver.install();
    if (scenario('latency')) {
      await attempt('latency', reps('pickup latency', (v) => `p50 ${v.toFixed(1)} ms`, async () => {
        await driver.reset();
        const r = await latencyRun(sys, o.samples, o.intervalMs);
        add('latency.p50', r.p50, { lost: r.lost });
        add('latency.p95', r.p95);
        add('latency.p99', r.p99);
        return r.p50;
      }));
    }
    if (scenario('enqueue')) {
      // Untimed warm-up: the pool's connections, prepared statements, the new database's caches.
      await attempt('enqueue', async () => {
        await enqueueSingles(driver, 100, 10);
        await enqueueBatches(driver, 1_000);
      });
      await attempt('enqueue.single', reps('enqueue 1/call ×10 callers', perSec, async () => {
        await driver.reset();
        const v = await enqueueSingles(driver, o.singles, 10);
        add('enqueue.single', v);
        return v;
      }));
      await attempt('enqueue.batch', reps('enqueue 1,000/call', perSec, async () => {
        await driver.reset();
        const v = await enqueueBatches(driver, o.jobs);
        add('enqueue.batch', v);
        return v;
      }));
    }
    for (const run of PROCESS_RUNS) {
      if (!scenario(run.key)) continue;
      const key = `process.${run.key}`;
      if (('holdXmin' in run || 'prepare' in run) && def.backend !== 'postgres') {
        figures[key] = { unit: 'jobs/s', values: [], median: null, note: 'n/a on Redis' };
        continue;
      }
      await attempt(key, reps(key, perSec, async () => {
        await driver.reset();
        if ('prepare' in run) await vacuum(target.pgUrl);
        await prefill(driver, jobs);
        const r = await processRun(sys, { ...run, jobs, timeoutMs: o.timeoutMs });
        add(key, r.jobsPerSec, { extraRuns: r.extraRuns }, { commitsPerJob: r.commitsPerJob, walBytesPerJob: r.walBytesPerJob, workerCpuMsPerJob: r.workerCpuMsPerJob, serverCpuMsPerJob: r.serverCpuMsPerJob });
        return r.jobsPerSec;
      }));
    }
    for (const run of FLOW_RUNS) {
      if (!scenario(run.key) || !driver.flow) continue;
      const key = `process.${run.key}`;
      await attempt(key, reps(key, perSec, async () => {
        await driver.reset();
        await prefillFlow(driver, run, jobs);
        const r = await processRun(sys, { concurrency: 10, processes: 1, jobs, timeoutMs: o.timeoutMs });
        add(key, r.jobsPerSec, { extraRuns: r.extraRuns }, { commitsPerJob: r.commitsPerJob, walBytesPerJob: r.walBytesPerJob, workerCpuMsPerJob: r.workerCpuMsPerJob, serverCpuMsPerJob: r.serverCpuMsPerJob });
        return r.jobsPerSec;
      }));
    }
    if (scenario('streams') && driver.streams) {
      await attempt('streams', async () => {
        for (let rep = 1; rep <= o.reps; rep++) {
          log(`${def.id} streams rep ${rep}/${o.reps}`);
          await streamsRep(sys, o, jobs, add, log);
        }
      });
    }
    if (scenario('held')) await attempt('held', () => heldScenario(sys, o, jobs, figures, add, log));
    // Last: jobq's history stays in the log store's archived generations (reset empties only the hot ones).
    if (scenario('finished')) await attempt('process.finished', () => historyScenario(sys, o, jobs, figures, add, log));
    if (fewer) for (const [k, f] of Object.entries(figures)) if (k.startsWith('process.')) f.note = f.note ? `${f.note}; ${fewer}` : fewer;
  } finally {
    await driver.reset().catch(() => {});
    await driver.close().catch(() => {});
    if (def.backend === 'postgres') await dropDatabase(server.url, dbName).catch(() => {});
  }
  return figures;
}

async function runHttp(server: Server, o: Options, results: Results, log: (m: string) => void): Promise<void> {
  const figures = (results.figures.jobq ??= {});
  try {
    const http = await openHttp(server.url);
    try {
      for (const [key, fn] of [['http.single', http.single], ['http.batch', http.batch]] as const) {
        for (let rep = 1; rep <= o.reps; rep++) {
          const r = await fn(o.httpSeconds);
          const f = (figures[key] ??= { unit: 'jobs/s', values: [], median: null });
          f.values.push(r.jobsPerSec);
          f.extra = { ...f.extra, [`p50Ms.${rep}`]: r.p50Ms, [`p99Ms.${rep}`]: r.p99Ms, errors: (f.extra?.errors ?? 0) + r.errors };
          log(`jobq ${key} rep ${rep}/${o.reps}: ${Math.round(r.jobsPerSec).toLocaleString('en-US')} jobs/s (request p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms)`);
        }
      }
    } finally {
      await http.close();
    }
  } catch (err) {
    const msg = (err as Error).message.split('\n')[0]!;
    for (const key of ['http.single', 'http.batch']) (figures[key] ??= { unit: 'jobs/s', values: [], median: null }).error = msg;
    log(`jobq HTTP: FAILED ${msg}`);
  }
}
