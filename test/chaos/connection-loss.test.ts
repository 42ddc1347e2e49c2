/**
 * Scenario 3, connection loss: `jobq api` and two `jobq worker` processes busy with a steady stream of
 * `noop` jobs; every connection they hold (application_name `jobq`, the pools, and `jobq-listener`, the
 * workers' LISTEN connections) is killed with pg_terminate_backend, several times mid-run. The processes
 * keep running, the listeners reconnect, enqueues are answered 201 or 503 database_unavailable (never a
 * hang), and every job the API accepted is found succeeded at the end.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freshDatabase } from '../helpers/db.ts';
import { value } from '../metrics/exposition.ts';
import { request } from './helpers/http.ts';
import { baseEnv, scrape, startApi, startWorker } from './helpers/jobq.ts';
import { assertEnqueuesAnswered, enqueueStream, jobsFlowing, outcome, readyzBecomes } from './helpers/outage.ts';
import { every, eventually, ProcessGroup, sleep } from './helpers/procs.ts';
import { pick, report } from './helpers/report.ts';

const RATE = 40;
const ROUNDS = pick(3, 6);
const REFUSAL_LIMIT_MS = 6_000;
const RSS_LIMIT_MB = 400;

test('connection loss: pg_terminate_backend on every jobq connection mid-run, nothing accepted is lost', { timeout: pick(120_000, 240_000) }, async (t) => {
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const db = await freshDatabase();
  const env = baseEnv(db.url);
  const [{ url }, w1, w2] = await Promise.all([startApi(group, env), startWorker(group, env, 'conn-w1'), startWorker(group, env, 'conn-w2')]);
  const workers = [w1, w2];
  const rss = every(1_000, () => group.sampleRss());
  const stream = enqueueStream(url, RATE);
  await jobsFlowing(db.pool, 50);

  const terminated: Record<string, number>[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const { rows } = await db.pool.query<{ app: string; n: number }>(
      `SELECT application_name AS app, count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n
         FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name IN ('jobq', 'jobq-listener')
        GROUP BY application_name`,
    );
    terminated.push(Object.fromEntries(rows.map((r) => [r.app, r.n])));
    await sleep(1_500);
  }
  const lastRound = Date.now();
  // The listeners come back, and jobs enqueued after the last round run.
  await eventually(() => (stream.results.filter((r) => r.status === 201 && r.at > lastRound).length >= 2 * RATE ? true : undefined), 30_000, 'enqueues accepted again');
  const results = await stream.stop();
  const readyzMs = await readyzBecomes(url, 200, 10_000);
  const metricsUrls = workers.map((w) => w.metricsUrl!);
  const out = await outcome(db.pool, results, metricsUrls, 60_000);
  const reconnects = (await Promise.all(metricsUrls.map(scrape))).map((s) => value(s, 'jobq_listener_reconnects_total'));
  await rss.stop();
  const healthz = await request(url, 'GET', '/healthz');

  report('connection-loss', {
    jobs_enqueued: out.enqueued,
    succeeded: out.succeeded,
    duplicated_deliveries: null,
    lost: out.lost.length,
    stuck: out.stuck,
    max_rss_mb: Math.round(group.maxRssMb()),
    p99_wait_s: out.p99WaitS,
  }, {
    rounds: ROUNDS,
    backends_terminated: terminated.reduce((a, r) => a + (r.jobq ?? 0) + (r['jobq-listener'] ?? 0), 0),
    listener_reconnects: reconnects.join('+'),
    refused_503: out.refused503,
    slowest_503_ms: out.slowest503Ms,
    other_answers: results.filter((r) => r.status !== 201 && r.status !== 503).length,
    readyz_200_after_ms: readyzMs,
    terminated_per_round: terminated,
  });

  for (const p of group.all) assert.ok(p.alive(), `${p.name} died:\n${p.output().slice(-2000)}`);
  assert.equal(healthz.status, 200);
  assert.ok(terminated.every((r) => (r['jobq-listener'] ?? 0) >= 2 && (r.jobq ?? 0) >= 1), `every round hit pools and both listeners: ${JSON.stringify(terminated)}`);
  assertEnqueuesAnswered(results, REFUSAL_LIMIT_MS);
  assert.deepEqual(out.lost, [], 'every accepted job succeeded');
  assert.equal(out.stuck, 0, 'nothing left running or waiting');
  for (const [i, w] of workers.entries()) {
    assert.ok(reconnects[i]! >= 1, `${w.proc.name}: jobq_listener_reconnects_total ${reconnects[i]}`);
    await w.proc.waitForLine((l) => l.msg === 'listener reconnected', 10_000, '"listener reconnected"');
  }
  for (const p of group.all) assert.ok(p.maxRssMb < RSS_LIMIT_MB, `${p.name}: max RSS ${p.maxRssMb.toFixed(0)} MB`);
});
