/**
 * Scenario 2b, a frozen database: PostgreSQL is there but answers nothing (its processes SIGSTOPped, as
 * in a network partition or a paused VM) for a while, then carries on. Enqueues during the freeze must
 * still be answered within a bounded time: at worst a request waits the pool's 5 s for a connection
 * and then the 5 s query timeout (JOBQ_QUERY_TIMEOUT_MS), so 11 s with a margin; never a hang and
 * never a 500; /readyz turns 503; and everything accepted succeeds.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { baseEnv, startApi, startWorker } from './helpers/jobq.ts';
import { enqueueStream, freeze, jobsFlowing, outcome, readyzBecomes } from './helpers/outage.ts';
import { every, eventually, ProcessGroup } from './helpers/procs.ts';
import { pick, report } from './helpers/report.ts';

const RATE = 20;
/** Full: a minute, far past every timeout, to see what a request stuck that long gets. */
const FROZEN_MS = pick(8_000, 65_000);
/** Pool connection timeout (5 s) + query timeout (5 s) + 1 s. */
const ANSWER_LIMIT_MS = 11_000;

test('frozen database: requests are answered 503 within seconds, never hang, never 500', { timeout: pick(120_000, 240_000) }, async (t) => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'jobq-chaos-pg-'));
  chmodSync(dataDir, 0o755);
  const server = await startEmbeddedPostgres({ dataDir });
  const group = new ProcessGroup();
  const pool = new pg.Pool({ connectionString: server.url, max: 2 });
  pool.on('error', () => {});
  let frozen: ReturnType<typeof freeze> | undefined;
  t.after(async () => {
    frozen?.thaw();
    await group.killAll();
    await pool.end().catch(() => {});
    await server.stop().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  });
  const env = baseEnv(server.url);
  const [{ proc: api, url }, { proc: worker, metricsUrl }] = await Promise.all([startApi(group, env), startWorker(group, env, 'freeze-w1')]);
  const rss = every(1_000, () => group.sampleRss());
  const stream = enqueueStream(url, RATE, 50, FROZEN_MS + 20_000);
  await jobsFlowing(pool, 40);
  await pool.end(); // its connections would freeze too

  frozen = freeze(server.pid);
  const frozenAt = Date.now();
  const readyzMs = await readyzBecomes(url, 503, 10_000).catch(() => -1);
  await new Promise((r) => setTimeout(r, Math.max(0, FROZEN_MS - (Date.now() - frozenAt))));
  frozen.thaw();
  const thawedAt = Date.now();
  await readyzBecomes(url, 200, 30_000);
  await eventually(() => (stream.results.filter((r) => r.status === 201 && r.at > thawedAt).length >= RATE ? true : undefined), 30_000, 'enqueues accepted again');
  const results = await stream.stop();
  const check = new pg.Pool({ connectionString: server.url, max: 2 });
  check.on('error', () => {}); // the server's stop at the end terminates its idle connections
  t.after(() => check.end().catch(() => {}));
  const out = await outcome(check, results, [metricsUrl!], 90_000);
  await rss.stop();

  const during = results.filter((r) => r.at >= frozenAt && r.at < thawedAt);
  const late = results.filter((r) => r.ms > ANSWER_LIMIT_MS);
  const wrong = results.filter((r) => !(r.status === 201 || (r.status === 503 && r.kind === 'database_unavailable')));
  report('db-freeze', {
    jobs_enqueued: out.enqueued,
    succeeded: out.succeeded,
    duplicated_deliveries: null,
    lost: out.lost.length,
    stuck: out.stuck,
    max_rss_mb: Math.round(group.maxRssMb()),
    p99_wait_s: out.p99WaitS,
  }, {
    frozen_ms: thawedAt - frozenAt,
    enqueues_during_freeze: during.length,
    refused_503: out.refused503,
    answered_later_than_limit: late.length,
    slowest_answer_ms: Math.round(Math.max(0, ...results.map((r) => r.ms))),
    other_answers: wrong.length,
    other_answer_examples: wrong.slice(0, 5).map((r) => `${r.status} ${r.kind ?? r.error ?? ''} after ${Math.round(r.ms)} ms`).join('; '),
    readyz_503_after_ms: readyzMs,
  });

  assert.ok(api.alive() && worker.alive(), 'both processes survive the freeze');
  assert.ok(readyzMs >= 0, '/readyz turns 503 while the database does not answer');
  assert.deepEqual(wrong.slice(0, 5).map((r) => `${r.status} ${r.kind ?? r.error ?? ''} after ${Math.round(r.ms)} ms`), [], 'every enqueue got 201 or 503 database_unavailable');
  assert.deepEqual(late.slice(0, 5).map((r) => `${r.status} after ${Math.round(r.ms)} ms`), [], `every enqueue answered within ${ANSWER_LIMIT_MS} ms`);
  assert.deepEqual(out.lost, [], 'every accepted job succeeded');
  assert.equal(out.stuck, 0);
});
