/**
 * Issue #14, item 3, end to end: an `http` job whose 2xx body is a PNG (a NUL byte in its excerpt) runs
 * beside 100 noop jobs. PostgreSQL refuses U+0000 in jsonb; the completion batch holding that result
 * used to fail as a whole, and every job in it stayed running until its lease expired and ran again.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { builtinKinds } from '../../src/kinds/index.ts';
import { KindRegistry } from '../../src/kinds/registry.ts';
import { ALTERED } from '../../src/queue/results.ts';
import { eventually, setup } from '../helpers/fixtures.ts';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1]);

test('an http result holding NUL is stored as an excerpt; the 100 jobs beside it each run exactly once', { timeout: 60_000 }, async (t) => {
  const server = http.createServer((_req, res) => void setTimeout(() => res.writeHead(200, { 'content-type': 'image/png' }).end(PNG), 300));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/logo.png`;

  const { queue, worker, db } = await setup(new KindRegistry(builtinKinds({ outboxDir: '/nonexistent-outbox', httpAllowHosts: ['127.0.0.1'] })));
  const noops = await queue.enqueueMany(Array.from({ length: 100 }, () => ({ kind: 'noop', payload: { sleep_ms: 300 } })));
  const [png] = await queue.enqueueMany([{ kind: 'http', payload: { url, method: 'GET' } }]);
  const ids = [...noops.map((r) => r.job.id), png!.job.id];

  // A short lease: a job whose completion was lost would be recovered and run again within seconds.
  const w = await worker({ concurrency: 101, leaseMs: 2_000, heartbeatMs: 500 });
  const starts = new Map<string, number>();
  w.events.on('job:start', ({ job }) => starts.set(job.id, (starts.get(job.id) ?? 0) + 1));
  // Once all 101 run, hold the table's writes until every handler settled: the first completion
  // written waits, and all the others (the http result among them) gather into one batch behind it.
  // (Released here, not in an after hook: the database's drop ends the pool, which waits for it.)
  const holder = await db.pool.connect();
  try {
    await eventually(async () => ((await queue.stats()).byStatus.running === 101 ? true : undefined), 10_000, 'all jobs running');
    await holder.query('BEGIN');
    // Where either store writes a completion: the rows, and the log's done rows.
    await holder.query('LOCK TABLE jobq.jobs, jobq.log_done IN SHARE MODE');
    // Every handler started (not only claimed: the rows are running before the worker reads the claim's
    // reply, and busy is 0 then too), then settled, while the lock holds their completions.
    await eventually(() => (starts.size === 101 && w.busy === 0 ? true : undefined), 10_000, 'every handler to start and settle');
    await holder.query('COMMIT');
  } finally {
    holder.release(true);
  }
  const finished = await eventually(async () => {
    const jobs = await Promise.all(ids.map((id) => queue.get(id)));
    return jobs.every((j) => j && ['succeeded', 'failed_permanent'].includes(j.status)) ? jobs : undefined;
  }, 30_000, 'every job to finish');

  const again = ids.filter((id) => starts.get(id) !== 1);
  assert.equal(again.length, 0, `${again.length} jobs ran more than once (or never)`);
  const http200 = (await queue.get(png!.job.id))!;
  assert.equal(http200.status, 'succeeded', http200.lastError ?? '');
  assert.equal(http200.attempts, 1);
  const result = http200.result as Record<string, any>;
  assert.deepEqual(result[ALTERED], { reasons: ['nul_replaced'] });
  assert.equal(result.status, 200);
  assert.equal(result.body_bytes, PNG.length);
  assert.equal(result.body_excerpt, '\uFFFDPNG\r\n\u001a\n\uFFFD\uFFFD\uFFFD\rIHDR\uFFFD\uFFFD\uFFFD\u0001');
  for (const j of finished.slice(0, 100)) {
    const now = (await queue.get(j!.id))!;
    assert.equal(now.status, 'succeeded');
    assert.equal(now.attempts, 1);
    assert.deepEqual(now.result, { slept_ms: 300 });
  }
});
