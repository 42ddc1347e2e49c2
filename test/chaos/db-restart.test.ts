/**
 * Scenario 2, database restart: `jobq api` and `jobq worker` on a PostgreSQL of the test's own (embedded,
 * in a temporary folder), busy with `noop {sleep_ms: 50}` jobs enqueued at a steady rate through the API.
 * PostgreSQL is stopped, left down for a few seconds, and started again on the same data. Both processes
 * log the outage and keep running, /readyz goes 503 and back to 200, enqueues during the outage are
 * refused with 503 database_unavailable within 6 s (the pool's connect timeout is 5 s) and never hang,
 * and every job the API accepted is found succeeded at the end.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { request } from './helpers/http.ts';
import { baseEnv, startApi, startWorker, VIAS, viaPgBouncer } from './helpers/jobq.ts';
import { assertEnqueuesAnswered, enqueueStream, jobsFlowing, loggedProblem, outcome, readyzBecomes } from './helpers/outage.ts';
import { every, eventually, ProcessGroup, sleep } from './helpers/procs.ts';
import { pick, report } from './helpers/report.ts';

const RATE = 40;
const DOWN_MS = pick(4_000, 8_000);
const REFUSAL_LIMIT_MS = 6_000;
const RSS_LIMIT_MB = 400;

// Also through PgBouncer in transaction mode, LISTEN going direct (JOBQ_LISTEN_URL), as production would (issue #21).
for (const via of VIAS) {
const through = via === 'pgbouncer' ? ' through PgBouncer' : '';
test(`database restart${through}: workers and API ride out a stopped PostgreSQL, nothing accepted is lost`, { timeout: pick(180_000, 300_000) }, async (t) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'jobq-chaos-pg-'));
  chmodSync(dataDir, 0o755); // as root, the postgres user must reach it
  let server: EmbeddedPostgres | undefined = await startEmbeddedPostgres({ dataDir });
  const group = new ProcessGroup();
  const pool = new pg.Pool({ connectionString: server.url, max: 2 });
  pool.on('error', () => {});
  t.after(async () => {
    await group.killAll();
    await pool.end().catch(() => {});
    await server?.stop().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  });
  const env = via === 'pgbouncer' ? baseEnv(await viaPgBouncer(t, server.url), { JOBQ_LISTEN_URL: server.url }) : baseEnv(server.url);
  const [{ proc: api, url }, { proc: worker, metricsUrl }] = await Promise.all([startApi(group, env), startWorker(group, env, 'restart-w1')]);
  const rss = every(1_000, () => group.sampleRss());

  const stream = enqueueStream(url, RATE);
  await jobsFlowing(pool, 50);

  const stoppedAt = Date.now();
  await server.stop();
  server = undefined;
  const readyzDownMs = await readyzBecomes(url, 503, 10_000);
  await sleep(Math.max(0, DOWN_MS - (Date.now() - stoppedAt)));
  assert.ok(api.alive() && worker.alive(), 'both processes survive the outage');
  server = await startEmbeddedPostgres({ dataDir });
  const restartedAt = Date.now();
  const readyzUpMs = await readyzBecomes(url, 200, 30_000);
  // Jobs enqueued after the restart flow again.
  const before = stream.results.filter((r) => r.status === 201).length;
  await eventually(() => (stream.results.filter((r) => r.status === 201 && r.at > restartedAt).length >= 2 * RATE ? true : undefined), 30_000, 'enqueues accepted again');
  const results = await stream.stop();
  const out = await outcome(pool, results, [metricsUrl!], 60_000);
  await rss.stop();

  const outage = results.filter((r) => r.at >= stoppedAt && r.at < restartedAt);
  const healthz = await request(url, 'GET', '/healthz');
  report(`db-restart${via === 'pgbouncer' ? '-pgbouncer' : ''}`, {
    jobs_enqueued: out.enqueued,
    succeeded: out.succeeded,
    duplicated_deliveries: null,
    lost: out.lost.length,
    stuck: out.stuck,
    max_rss_mb: Math.round(group.maxRssMb()),
    p99_wait_s: out.p99WaitS,
  }, {
    down_ms: restartedAt - stoppedAt,
    enqueues_during_outage: outage.length,
    refused_503: out.refused503,
    slowest_503_ms: out.slowest503Ms,
    other_answers: results.filter((r) => r.status !== 201 && r.status !== 503).length,
    readyz_503_after_ms: readyzDownMs,
    readyz_200_after_restart_ms: readyzUpMs,
    accepted_before_recovery_check: before,
    api_problem_lines: api.problems().length,
    worker_problem_lines: worker.problems().length,
  });

  assert.ok(api.alive() && worker.alive(), `a process died:\n${api.output().slice(-2000)}\n${worker.output().slice(-2000)}`);
  assert.equal(healthz.status, 200);
  assert.ok(out.refused503 > 0, 'enqueues during the outage were refused');
  assertEnqueuesAnswered(results, REFUSAL_LIMIT_MS);
  assert.deepEqual(out.lost, [], 'every accepted job succeeded');
  assert.equal(out.stuck, 0, 'nothing left running or waiting');
  assert.ok(loggedProblem(api, /request failed|database|connection/i), `the API logged the outage:\n${JSON.stringify(api.problems().slice(0, 5))}`);
  assert.ok(loggedProblem(worker, /claim failed|listener connection lost|heartbeat failed|sweep failed|database/i), 'the worker logged the outage');
  await worker.waitForLine((l) => l.msg === 'listener reconnected', 10_000, '"listener reconnected"');
  for (const p of group.all) assert.ok(p.maxRssMb < RSS_LIMIT_MB, `${p.name}: max RSS ${p.maxRssMb.toFixed(0)} MB`);
});
}
