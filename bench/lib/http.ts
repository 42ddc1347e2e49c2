/**
 * jobq's enqueue over HTTP: the API as its own process (`node --import tsx src/cli.ts api`, jobq's
 * defaults, PORT set, LOG_LEVEL=warn), driven by autocannon from this process. startApi is also the
 * API process of the streams scenario (streams.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { createDatabase, dropDatabase, freePort, sleep } from './infra.ts';
import { BENCH_DIR } from './runs.ts';

export interface HttpResult {
  jobsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

export interface HttpSession {
  single(seconds: number): Promise<HttpResult>;
  batch(seconds: number): Promise<HttpResult>;
  close(): Promise<void>;
}

export const SINGLE_CONNECTIONS = 50;
export const BATCH_CONNECTIONS = 10;
const BATCH_SIZE = 1_000;

/**
 * jobq's API as its own process on `dbUrl` (its defaults; PORT, HOST=127.0.0.1, LOG_LEVEL=warn), ready
 * when this resolves; `close` stops it (SIGTERM, then SIGKILL after 15 s).
 */
export async function startApi(dbUrl: string): Promise<{ base: string; close(): Promise<void> }> {
  const port = await freePort(18080);
  const root = path.dirname(BENCH_DIR);
  // jobq's own settings stay at their defaults: only what a user must set is passed.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('JOBQ_')));
  const api: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'api'], {
    cwd: root,
    env: { ...env, DATABASE_URL: dbUrl, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', NODE_ENV: 'production' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const close = async () => {
    if (api.exitCode === null && api.signalCode === null) {
      const exited = new Promise((r) => api.once('exit', r));
      api.kill('SIGTERM');
      if (!(await Promise.race([exited.then(() => true), sleep(15_000).then(() => false)]))) api.kill('SIGKILL');
    }
  };
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (api.exitCode !== null) throw new Error(`jobq api exited with ${api.exitCode}`);
      const ok = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error('jobq api not ready after 60 s');
      await sleep(200);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { base, close };
}

export async function openHttp(adminUrl: string): Promise<HttpSession> {
  const name = 'bench_jobq_http';
  const dbUrl = await createDatabase(adminUrl, name);
  const pool = new pg.Pool({ connectionString: dbUrl, max: 1 });
  let api: Awaited<ReturnType<typeof startApi>>;
  try {
    api = await startApi(dbUrl);
  } catch (err) {
    await pool.end().catch(() => {});
    await dropDatabase(adminUrl, name);
    throw err;
  }
  const { base } = api;
  const close = async () => {
    await api.close();
    await pool.end().catch(() => {});
    await dropDatabase(adminUrl, name);
  };

  const run = async (pathName: string, body: unknown, connections: number, seconds: number, perRequest: number): Promise<HttpResult> => {
    await pool.query('TRUNCATE jobq.jobs');
    const r = await autocannon({
      url: `${base}${pathName}`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      connections,
      duration: seconds,
      timeout: 30,
    });
    if (r['2xx'] === 0) throw new Error(`no 2xx answer from ${pathName} (${r.non2xx} non-2xx, ${r.errors} errors)`);
    return { jobsPerSec: (r['2xx'] * perRequest) / r.duration, p50Ms: r.latency.p50, p99Ms: r.latency.p99, errors: r.errors + r.non2xx + r.timeouts };
  };
  const one = { kind: 'noop', payload: {} };
  return {
    single: (s) => run('/v1/jobs', one, SINGLE_CONNECTIONS, s, 1),
    batch: (s) => run('/v1/jobs/batch', { jobs: Array.from({ length: BATCH_SIZE }, () => one) }, BATCH_CONNECTIONS, s, BATCH_SIZE),
    close,
  };
}
