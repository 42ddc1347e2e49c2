/**
 * Worker processes for real: `jobq worker` children killed with SIGKILL mid-job, stopped with SIGTERM
 * mid-job, and `jobq serve` on its embedded PostgreSQL receiving Ctrl-C as a whole process group.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { Queue } from '../../src/queue/queue.ts';
import { freshDatabase, testKinds, eventually, waitForStatus } from '../helpers/fixtures.ts';

const CLI = path.resolve('src/cli.ts');

function jobq(args: string[], env: Record<string, string>, opts: { detached?: boolean } = {}): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return Object.assign(child, { output: () => out });
}

const exitOf = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    else child.on('exit', (code, signal) => resolve({ code, signal }));
  });

const workerEnv = (url: string, extra: Record<string, string> = {}) => ({
  DATABASE_URL: url,
  JOBQ_LEASE_MS: '2000',
  JOBQ_HEARTBEAT_MS: '300',
  JOBQ_POLL_INTERVAL_MS: '200',
  JOBQ_HTTP_ALLOW_HOSTS: '127.0.0.1',
  ...extra,
});

test('SIGKILL of a worker mid-job: another worker recovers the job, runs it again, and it succeeds', async () => {
  const db = await freshDatabase();
  const queue = new Queue({ pool: db.pool, kinds: testKinds() });
  // The first delivery hangs (the worker dies holding it); later ones succeed.
  let deliveries = 0;
  let onFirst!: () => void;
  const first = new Promise<void>((r) => (onFirst = r));
  const server = http.createServer((req, res) => {
    deliveries++;
    if (deliveries === 1) {
      onFirst();
      return; // never answers
    }
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => server.close());
  const port = (server.address() as { port: number }).port;
  const { job } = await queue.enqueue({ kind: 'http', payload: { url: `http://127.0.0.1:${port}/hook`, method: 'POST', body: {} } });

  const doomed = jobq(['worker', '--worker-id', 'doomed'], workerEnv(db.url));
  await first;
  assert.equal((await queue.get(job.id))?.lockedBy, 'doomed');
  doomed.kill('SIGKILL');
  await exitOf(doomed);

  const rescuer = jobq(['worker', '--worker-id', 'rescuer'], workerEnv(db.url));
  const done = await waitForStatus(queue, job.id, 'succeeded', 15_000);
  assert.equal(done.attempts, 2);
  assert.equal(deliveries, 2);
  assert.match(done.errors[0]!.error, /doomed lost the job/);
  rescuer.kill('SIGTERM');
  assert.deepEqual(await exitOf(rescuer), { code: 0, signal: null });
  server.closeAllConnections();
});

test('SIGTERM mid-job: the worker releases what it cannot finish, exits 0, leaves nothing running', async () => {
  const db = await freshDatabase();
  const queue = new Queue({ pool: db.pool, kinds: testKinds() });
  const [short, long] = await queue.enqueueMany([
    { kind: 'noop', payload: { sleep_ms: 400 } },
    { kind: 'noop', payload: { sleep_ms: 60_000 } },
  ]);
  const worker = jobq(['worker', '--worker-id', 'terminated', '--shutdown-grace-ms', '1500'], workerEnv(db.url));
  // Not the rows' `running`: they commit with the claim, before the worker reads the claim's reply, and a
  // SIGTERM then gives both back unstarted. The worker logs each start before it runs the handler.
  const started = (id: string) => worker.output().split('\n').some((l) => l.includes('"msg":"job started"') && l.includes(`"job_id":"${id}"`));
  await eventually(() => (started(short!.job.id) && started(long!.job.id) ? true : undefined), 15_000, 'both handlers to start');
  worker.kill('SIGTERM');
  assert.deepEqual(await exitOf(worker), { code: 0, signal: null }, worker.output());
  assert.equal((await queue.get(short!.job.id))?.status, 'succeeded', 'finished within the grace period');
  const released = await queue.get(long!.job.id);
  assert.equal(released?.status, 'queued');
  assert.equal(released?.attempts, 0, 'the attempt is given back');
  // Read from whichever store holds each job (the log store keeps no row).
  const left = await Promise.all([short!, long!].map(async (r) => (await queue.get(r.job.id))!));
  assert.deepEqual(left.map((j) => ({ running: j.status === 'running', lockedBy: j.lockedBy })), [{ running: false, lockedBy: null }, { running: false, lockedBy: null }]);
});

test('Ctrl-C to the whole process group of `jobq serve` on embedded PostgreSQL: jobs released, clean exit', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'jobq-serve-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const env = { JOBQ_DATA_DIR: dataDir, PORT: '0', JOBQ_SHUTDOWN_GRACE_MS: '500', DATABASE_URL: '' };
  const serve = jobq(['serve'], env, { detached: true });
  const url = await eventually(() => /postgresql:\/\/postgres@localhost\/postgres\?host=[^"\s]+/.exec(serve.output())?.[0], 30_000, 'embedded url');
  await eventually(() => (/API listening/.test(serve.output()) ? true : undefined), 30_000, 'API up');
  const pool = new pg.Pool({ connectionString: url, max: 2 }).on('error', () => {});
  after(() => pool.end().catch(() => {}));
  const queue = new Queue({ pool, kinds: testKinds() });
  const { job } = await queue.enqueue({ kind: 'noop', payload: { sleep_ms: 60_000 } });
  await waitForStatus(queue, job.id, 'running', 10_000);
  await pool.end();

  process.kill(-serve.pid!, 'SIGINT'); // what a terminal does on Ctrl-C: the signal reaches every process in the group
  assert.deepEqual(await exitOf(serve), { code: 0, signal: null }, serve.output());

  // Start again on the same data: the job was released before PostgreSQL stopped.
  const again = jobq(['migrate'], { JOBQ_DATA_DIR: dataDir, DATABASE_URL: '' });
  assert.deepEqual(await exitOf(again), { code: 0, signal: null }, again.output());
  const check = jobq(['serve'], { ...env, JOBQ_CONCURRENCY: '1' }, { detached: true });
  const url2 = await eventually(() => /postgresql:\/\/postgres@localhost\/postgres\?host=[^"\s]+/.exec(check.output())?.[0], 30_000, 'embedded url');
  const pool2 = new pg.Pool({ connectionString: url2, max: 1 }).on('error', () => {});
  after(() => pool2.end().catch(() => {}));
  const stored = (await new Queue({ pool: pool2, kinds: testKinds() }).get(job.id))!; // from whichever store holds it
  assert.ok(stored.status === 'queued' || (stored.status === 'running' && stored.attempts === 1), JSON.stringify(stored));
  assert.deepEqual(stored.errors, [], 'released, not lost: no attempt error recorded');
  await pool2.end();
  process.kill(-check.pid!, 'SIGTERM');
  assert.equal((await exitOf(check)).code, 0, check.output());
});

test('a SIGTERM that arrives during start-up stops the service once it is up: exit 0, PostgreSQL stopped', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'jobq-early-'));
  after(() => rmSync(dataDir, { recursive: true, force: true }));
  const serve = jobq(['serve'], { JOBQ_DATA_DIR: dataDir, PORT: '0', DATABASE_URL: '' });
  const url = await eventually(() => /postgresql:\/\/postgres@localhost\/postgres\?host=[^"\s]+/.exec(serve.output())?.[0], 30_000, 'embedded url');
  serve.kill('SIGTERM'); // the API and worker are not up yet
  assert.deepEqual(await exitOf(serve), { code: 0, signal: null }, serve.output());
  const client = new pg.Client(url);
  await assert.rejects(client.connect(), 'the embedded PostgreSQL was stopped too');
});
