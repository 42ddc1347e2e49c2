/** Retention: finished jobs are deleted after their status's period, in batches; their keys are free again. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { DEFAULT_RETENTION, parseRetention } from '../../src/queue/retention.ts';
import { claimOne, freshQueue, kindsWithProbe, setup, succeed, waitForStatus, eventually, noopJob as noop } from '../helpers/fixtures.ts';
import { statementName } from '../helpers/statement-names.ts';

const DAY = 86_400_000;

test('retention specs: one duration for all, per status, `failed` for failed_permanent, never', () => {
  assert.deepEqual(parseRetention('30s'), { succeeded: 30_000, failed_permanent: 30_000, cancelled: 30_000 });
  assert.deepEqual(parseRetention('succeeded=1h, failed=2d'), { succeeded: 3_600_000, failed_permanent: 2 * DAY, cancelled: DEFAULT_RETENTION.cancelled });
  assert.deepEqual(parseRetention('cancelled=never,succeeded=250ms'), { ...DEFAULT_RETENTION, cancelled: null, succeeded: 250 });
  assert.deepEqual(DEFAULT_RETENTION, { succeeded: 7 * DAY, failed_permanent: 30 * DAY, cancelled: 30 * DAY });
  // Durations are src/lib/duration.ts's: what `ms` reads, plain milliseconds too.
  assert.deepEqual(parseRetention('succeeded=2 days,failed=1w,cancelled=5000'), { succeeded: 2 * DAY, failed_permanent: 7 * DAY, cancelled: 5_000 });
  for (const bad of ['7 parsecs', 'queued=1d', 'succeeded=', '-1s', 'succeeded=1.5ms', 'forever']) assert.throws(() => parseRetention(bad), Error, bad);
});

test('finished jobs go after their period (7 days succeeded, 30 days failed), running ones never', async () => {
  let now = new Date('2030-01-01T00:00:00Z');
  // The row store's retention, job by job (the log store's goes by generation: log-store.test.ts).
  const { queue } = await freshQueue({ clock: () => now, logStore: false });
  const [ok, bad, cancelled, waiting] = await queue.enqueueMany([noop({ idempotencyKey: 'k-ok' }), noop({ maxAttempts: 1 }), noop(), noop({ runAt: new Date(now.getTime() + 40 * DAY) })]);
  const claimed = await queue.claim('w', { limit: 2 });
  await succeed(queue, 'w', claimed.find((j) => j.id === ok!.job.id)!);
  await queue.markFailedOrRetry(bad!.job.id, 'x');
  await queue.requestCancel(cancelled!.job.id);
  const running = await queue.enqueue(noop());
  await claimOne(queue, 'w');

  now = new Date(now.getTime() + 6 * DAY);
  assert.equal(await queue.prune(DEFAULT_RETENTION), 0);
  now = new Date(now.getTime() + 2 * DAY); // 8 days after finishing
  assert.equal(await queue.prune(DEFAULT_RETENTION), 1);
  assert.equal(await queue.get(ok!.job.id), null);
  assert.equal((await queue.get(bad!.job.id))?.status, 'failed_permanent');
  now = new Date(now.getTime() + 23 * DAY); // 31 days
  assert.equal(await queue.prune(DEFAULT_RETENTION), 2);
  assert.equal(await queue.get(bad!.job.id), null);
  assert.equal(await queue.get(cancelled!.job.id), null);
  assert.equal((await queue.get(waiting!.job.id))?.status, 'queued');
  assert.equal((await queue.get(running.job.id))?.status, 'running');

  const again = await queue.enqueue(noop({ idempotencyKey: 'k-ok' }));
  assert.equal(again.isNew, true, 'the key of a deleted job is free again');
  assert.notEqual(again.job.id, ok!.job.id);
});

test('pruning works in batches until nothing is due, and `never` keeps a status', async () => {
  const { queue, db } = await freshQueue();
  await db.pool.query(`
    INSERT INTO jobq.jobs (id, kind, payload, status, attempts, finished_at)
    SELECT gen_random_uuid(), 'noop', '{}', s::jobq.job_status, 1, now() - interval '1 hour'
      FROM generate_series(1, 2500), unnest(ARRAY['succeeded', 'cancelled']) AS s`);
  let batches = 0;
  const spy = new pg.Pool({ connectionString: db.url, max: 1 }).on('error', () => {});
  try {
    const client = await spy.connect();
    const query = client.query.bind(client) as (...a: unknown[]) => Promise<pg.QueryResult>;
    (client as unknown as { query: unknown }).query = (...a: unknown[]) => {
      if (statementName(a[0]) === 'jobq_prune') batches++;
      return query(...a);
    };
    const pruned = await queue.prune({ succeeded: 60_000, failed_permanent: 60_000, cancelled: null }, { db: client, batch: 1000 });
    client.release();
    assert.equal(pruned, 2500);
  } finally {
    await spy.end();
  }
  assert.equal(batches, 4, 'succeeded: 1000 + 1000 + 500; failed_permanent: one that finds nothing; cancelled: none (never)');
  const { rows } = await db.pool.query(`SELECT status::text, count(*)::int AS n FROM jobq.jobs GROUP BY 1`);
  assert.deepEqual(rows, [{ status: 'cancelled', n: 2500 }]);
});

test('only one process sweeps at a time; the others skip their turn', async () => {
  const { queue, db } = await freshQueue();
  // Another process is sweeping: it holds the turn (migration 0017) for an hour.
  await db.pool.query(`UPDATE jobq.sweep_lease SET holder = 'other', until = now() + interval '1 hour'`);
  assert.equal(await queue.sweep(30_000, DEFAULT_RETENTION), null);
  assert.equal(await queue.sweep(30_000, DEFAULT_RETENTION), null, 'still its turn');
  await db.pool.query(`UPDATE jobq.sweep_lease SET until = '-infinity' WHERE holder = 'other'`); // it is done
  assert.deepEqual(await queue.sweep(30_000, DEFAULT_RETENTION), { recovered: 0, pruned: 0 });
  const { rows } = await db.pool.query<{ free: boolean }>(`SELECT until < now() AS free FROM jobq.sweep_lease`);
  assert.equal(rows[0]!.free, true, 'a finished sweep gives its turn back at once');
});

test("a worker's sweeper deletes finished jobs past a short retention", async () => {
  const s = await setup(kindsWithProbe(() => 'done'));
  await s.worker({ heartbeatMs: 100, leaseMs: 1_000, retention: { succeeded: 1, failed_permanent: null, cancelled: null } });
  const { job } = await s.queue.enqueue({ kind: 'probe', payload: {} });
  await waitForStatus(s.queue, job.id, 'succeeded').catch(() => undefined); // it may be gone before we look
  await eventually(async () => ((await s.queue.get(job.id)) === null ? true : undefined), 10_000, 'the job to be pruned');
});
