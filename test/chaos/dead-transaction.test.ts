/**
 * Scenario for issue #14, item 2: connections abandoned inside a transaction. `jobq api` (a pool of two,
 * a short query timeout) and a worker run a steady stream of `noop` enqueues. Several times, another
 * session takes an idempotency key and holds it uncommitted while batches using that key arrive: their
 * INSERTs wait, hit the query timeout (503), and the driver abandons them with the ROLLBACK unsent. Put
 * back into the pool, such a connection would run later enqueues inside the dead transaction: answered
 * 201 and never committed. Every accepted job must succeed, and no backend may stay idle in a transaction.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { freshDatabase } from '../helpers/db.ts';
import { errorKind, request } from './helpers/http.ts';
import { baseEnv, startApi, startWorker } from './helpers/jobq.ts';
import { assertEnqueuesAnswered, enqueueStream, jobsFlowing, outcome } from './helpers/outage.ts';
import { every, eventually, ProcessGroup, sleep } from './helpers/procs.ts';
import { pick, report } from './helpers/report.ts';

const RATE = 40;
const ROUNDS = pick(3, 10);
const QUERY_TIMEOUT_MS = 500;
const POOL_SIZE = 2;

test('abandoned transactions: batches time out on a held key, every accepted enqueue is still committed', { timeout: pick(120_000, 300_000) }, async (t) => {
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const db = await freshDatabase();
  const env = baseEnv(db.url, { JOBQ_POOL_SIZE: String(POOL_SIZE), JOBQ_QUERY_TIMEOUT_MS: String(QUERY_TIMEOUT_MS) });
  const [{ url }, { metricsUrl }] = await Promise.all([startApi(group, env), startWorker(group, env, 'deadtx-w1')]);
  const rss = every(1_000, () => group.sampleRss());
  const stream = enqueueStream(url, RATE, 5);
  await jobsFlowing(db.pool, 50);

  const holder = new pg.Client({ connectionString: db.url });
  holder.on('error', () => {}); // the database's drop at the end terminates it
  await holder.connect();
  t.after(() => holder.end().catch(() => {}));
  const batchAnswers: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const key = `held-${round}`;
    await holder.query('BEGIN');
    await holder.query(`INSERT INTO jobq.jobs (id, kind, payload, idempotency_key) VALUES ($1, 'noop', '{}', $2)`, [randomUUID(), key]);
    // As many batches as the pool has connections, so that each of them may be the one abandoned.
    const batches = await Promise.all(
      Array.from({ length: POOL_SIZE }, () =>
        request(url, 'POST', '/v1/jobs/batch', { body: { jobs: [{ kind: 'noop', payload: {}, idempotency_key: key }, { kind: 'noop', payload: { sleep_ms: 1 } }] } }),
      ),
    );
    batchAnswers.push(...batches.map((b) => `${b.status} ${errorKind(b) ?? ''}`.trim()));
    await holder.query('ROLLBACK');
    await sleep(1_000);
  }
  const lastRound = Date.now();
  await eventually(() => (stream.results.filter((r) => r.status === 201 && r.at > lastRound).length >= RATE ? true : undefined), 30_000, 'enqueues accepted after the last round');
  const results = await stream.stop();
  const out = await outcome(db.pool, results, [metricsUrl!], 60_000);
  await rss.stop();
  const idleInTx = await eventually(async () => {
    const { rows } = await db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'`,
    );
    return rows[0]!.n === 0 ? 0 : undefined;
  }, 10_000, 'no backend idle in transaction').catch(() => -1);

  report('dead-transaction', {
    jobs_enqueued: out.enqueued,
    succeeded: out.succeeded,
    duplicated_deliveries: null,
    lost: out.lost.length,
    stuck: out.stuck,
    max_rss_mb: Math.round(group.maxRssMb()),
    p99_wait_s: out.p99WaitS,
  }, {
    rounds: ROUNDS,
    batches_refused_503: batchAnswers.filter((a) => a === '503 database_unavailable').length,
    batch_answers: [...new Set(batchAnswers)].join(', '),
    stream_refused_503: out.refused503,
    backends_idle_in_transaction: idleInTx,
  });

  for (const p of group.all) assert.ok(p.alive(), `${p.name} died:\n${p.output().slice(-2000)}`);
  assert.ok(batchAnswers.every((a) => a === '503 database_unavailable'), `every batch on a held key timed out: ${batchAnswers.join(', ')}`);
  assertEnqueuesAnswered(results, 2 * QUERY_TIMEOUT_MS + 5_000);
  assert.deepEqual(out.lost, [], 'every enqueue answered 201 was committed and succeeded');
  assert.equal(out.stuck, 0, 'nothing left running or waiting');
  assert.equal(idleInTx, 0, 'no backend left idle in transaction');
});
