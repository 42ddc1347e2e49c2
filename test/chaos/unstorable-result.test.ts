/**
 * Scenario for issue #14, item 3: results PostgreSQL cannot store as they are. `jobq api` and two
 * `jobq worker` processes run batches of `noop` jobs mixed with `http` jobs whose target answers 200 with
 * a PNG (NUL bytes in the body excerpt the job returns). A result holding U+0000 used to fail its whole
 * completion batch: every job in it ran again after its lease expired. Every job must succeed after
 * exactly one attempt, every PNG be fetched exactly once, and each http result carry its excerpt and the
 * `jobq_altered` mark.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { EVERY_JOB, freshDatabase } from '../helpers/db.ts';
import { keepAlive, request } from './helpers/http.ts';
import { baseEnv, startApi, startWorker } from './helpers/jobq.ts';
import { every, eventually, ProcessGroup } from './helpers/procs.ts';
import { pick, report } from './helpers/report.ts';

const BATCHES = pick(30, 150);
const NOOPS_PER_BATCH = 20;
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000a49444154789c6300010000050001', 'hex');

test('unstorable results: http jobs returning NUL bytes beside noop jobs, each job runs exactly once', { timeout: pick(120_000, 300_000) }, async (t) => {
  const fetched = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const key = String(req.headers['idempotency-key']);
    fetched.set(key, (fetched.get(key) ?? 0) + 1);
    req.resume();
    res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const target = `http://127.0.0.1:${(server.address() as AddressInfo).port}/logo.png`;

  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const db = await freshDatabase();
  const env = baseEnv(db.url);
  const [{ url }, w1, w2] = await Promise.all([startApi(group, env), startWorker(group, env, 'unstorable-w1'), startWorker(group, env, 'unstorable-w2')]);
  const rss = every(1_000, () => group.sampleRss());

  const agent = keepAlive(8);
  const answers: number[] = [];
  const httpIds: string[] = [];
  for (let b = 0; b < BATCHES; b++) {
    const jobs = [
      ...Array.from({ length: NOOPS_PER_BATCH / 2 }, () => ({ kind: 'noop', payload: {} })),
      { kind: 'http', payload: { url: target, method: 'GET' } },
      ...Array.from({ length: NOOPS_PER_BATCH / 2 }, () => ({ kind: 'noop', payload: {} })),
    ];
    const res = await request(url, 'POST', '/v1/jobs/batch', { agent, body: { jobs } });
    answers.push(res.status);
    if (res.status === 201) httpIds.push((JSON.parse(res.body) as { jobs: { id: string; kind: string }[] }).jobs.find((j) => j.kind === 'http')!.id);
  }
  agent.destroy();
  const total = BATCHES * (NOOPS_PER_BATCH + 1);
  await eventually(async () => {
    const { rows } = await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${EVERY_JOB} j WHERE status IN ('succeeded', 'failed_permanent', 'cancelled')`);
    return rows[0]!.n === total ? true : undefined;
  }, pick(60_000, 180_000), 'every job to finish', 200).catch(() => undefined);
  group.sampleRss();
  await rss.stop();

  const { rows } = await db.pool.query<{ id: string; kind: string; status: string; attempts: number; result: any }>(`SELECT id::text, kind, status, attempts, result FROM ${EVERY_JOB} j`);
  const notOnce = rows.filter((r) => r.status !== 'succeeded' || r.attempts !== 1);
  const httpRows = rows.filter((r) => r.kind === 'http');
  const unmarked = httpRows.filter((r) => !(r.result?.jobq_altered?.reasons?.includes('nul_replaced') && r.result.status === 200 && String(r.result.body_excerpt).startsWith('\uFFFDPNG')));
  const refetched = httpIds.filter((id) => fetched.get(id) !== 1);

  report('unstorable-result', {
    jobs_enqueued: rows.length,
    succeeded: rows.filter((r) => r.status === 'succeeded').length,
    duplicated_deliveries: refetched.length,
    lost: rows.filter((r) => r.status !== 'succeeded').length,
    stuck: rows.filter((r) => !['succeeded', 'failed_permanent', 'cancelled'].includes(r.status)).length,
    max_rss_mb: Math.round(group.maxRssMb()),
    p99_wait_s: null,
  }, {
    batches: BATCHES,
    http_jobs: httpRows.length,
    jobs_not_run_exactly_once: notOnce.length,
    http_results_without_mark: unmarked.length,
  });

  for (const p of group.all) assert.ok(p.alive(), `${p.name} died:\n${p.output().slice(-2000)}`);
  assert.ok(answers.every((s) => s === 201), `every batch accepted: ${[...new Set(answers)].join(', ')}`);
  assert.equal(rows.length, total);
  assert.deepEqual(notOnce.slice(0, 5).map((r) => `${r.kind} ${r.status} after ${r.attempts} attempts`), [], `${notOnce.length} jobs did not succeed at their first attempt`);
  assert.deepEqual(refetched, [], 'every PNG fetched exactly once');
  assert.deepEqual(unmarked.map((r) => JSON.stringify(r.result).slice(0, 200)), [], 'every http result stored with its excerpt and the jobq_altered mark');
  for (const w of [w1, w2]) assert.equal(w.proc.problems().filter((l) => /could not record/.test(String(l.msg))).length, 0, `${w.proc.name} lost no outcome`);
});
