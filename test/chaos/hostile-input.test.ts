/**
 * Scenario 4, hostile input at scale: a `jobq api` child takes generated and malformed requests from
 * several concurrent clients (fast-check requests over keep-alive and fresh connections, raw malformed
 * HTTP over sockets, slowloris connections held open meanwhile). It never answers 5xx, never dies, its
 * RSS stays under a fixed bound, and the valid requests interleaved with the garbage all succeed. Then
 * SQL injection in every string field and query parameter is stored or refused as plain data.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { ERROR_KINDS } from '../../src/errors.ts';
import { EVERY_JOB, freshDatabase } from '../helpers/db.ts';
import { type GenRequest, generatedRequest, junk, rawAttacks, rawExchange, slowloris } from './helpers/hostile.ts';
import { errorKind, json, keepAlive, request, type Res } from './helpers/http.ts';
import { baseEnv, startApi } from './helpers/jobq.ts';
import { runConcurrent } from './helpers/load.ts';
import { every, ProcessGroup } from './helpers/procs.ts';
import { checkInjections } from './helpers/injection.ts';
import { pick, report } from './helpers/report.ts';

const TOTAL = pick(10_000, 100_000);
const LANES = 8;
const SLOWLORIS = pick(50, 200);
const SLOWLORIS_MS = pick(10_000, 30_000);
const RSS_LIMIT_MB = 400;
const STACK = /\n\s+at |node:internal|\.ts:\d+:\d+|\.js:\d+:\d+/;

test(`hostile input: ${TOTAL} generated and malformed requests, never a 5xx, bounded memory, valid requests served`, { timeout: pick(240_000, 900_000) }, async (t) => {
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const db = await freshDatabase();
  const { proc: api, url } = await startApi(group, baseEnv(db.url), 'api', { keepBytes: 2 * 1024 * 1024 });
  const port = Number(new URL(url).port);
  const rss = every(250, () => api.sampleRss());
  const seed = Number(process.env.JOBQ_CHAOS_SEED ?? Date.now() % 2 ** 31);
  console.log(`hostile-input seed ${seed} (rerun with JOBQ_CHAOS_SEED=${seed})`);

  const failures: string[] = [];
  const fail = (what: string) => failures.length < 50 && failures.push(what);
  const statusCounts = new Map<number, number>();
  const count = (s: number) => statusCounts.set(s, (statusCounts.get(s) ?? 0) + 1);
  let valid = 0;
  let raw = 0;
  const attacks = rawAttacks(port);
  const loris = slowloris(port, SLOWLORIS, Date.now() + SLOWLORIS_MS);
  const lanes = Array.from({ length: LANES }, (_, lane) => ({ agent: lane < LANES - 2 ? keepAlive(2) : undefined, queue: [] as GenRequest[], chunk: 0 }));

  const check = (what: string, res: Res, method: string) => {
    count(res.status);
    if (res.status === 0 || res.status >= 500) return fail(`${what} → ${res.status} ${res.error ?? ''} ${res.body.slice(0, 300)}`);
    if (res.status >= 400 && method !== 'HEAD' && errorKind(res) === undefined) fail(`${what} → ${res.status} without an error body: ${res.body.slice(0, 200)}`);
    if (STACK.test(res.body)) fail(`${what} → a stack trace: ${res.body.slice(0, 300)}`);
  };

  const sent = await runConcurrent(TOTAL, LANES, async (i) => {
    const lane = lanes[i % LANES]!;
    if (i % 25 === 0) {
      // A valid request among the garbage: enqueue, then read it back.
      valid++;
      const job = { kind: 'send_email', payload: { to: 'ada@example.com', subject: `n${i}`, body: 'x' }, idempotency_key: `valid-${seed}-${i}` };
      const created = await request(url, 'POST', '/v1/jobs', { agent: lane.agent, body: job });
      if (created.status !== 201) return void fail(`valid enqueue ${i} → ${created.status} ${created.error ?? created.body.slice(0, 200)}`);
      const got = await request(url, 'GET', `/v1/jobs/${json(created).id}`, { agent: lane.agent });
      if (got.status !== 200 || !isDeepStrictEqual(json(got).payload, job.payload)) fail(`valid read ${i} → ${got.status} ${got.body.slice(0, 200)}`);
      return;
    }
    if (i % 10 === 0) {
      raw++;
      const k = i / 10;
      const attack = k % 2 === 0 ? attacks[(k / 2) % attacks.length]! : { name: 'junk', chunks: fc.sample(junk, { numRuns: 1, seed: seed + i }), end: k % 4 === 1 };
      const res = await rawExchange(port, attack.chunks, attack.end, 2_000);
      for (const s of res.statuses) count(s);
      if (res.statuses.some((s) => s >= 500)) fail(`raw ${attack.name} → ${res.statuses.join(',')}: ${res.text.slice(0, 300)}`);
      return;
    }
    if (i % 500 === 7) {
      const big = `{"kind":"noop","payload":{},"x":"${'y'.repeat(1_100_000)}"}`;
      const res = await request(url, 'POST', '/v1/jobs', { agent: lane.agent, body: big });
      // The server answers 413 as soon as it sees the Content-Length and closes the connection; a client
      // still writing the megabyte may see the close (EPIPE, reset) before the answer.
      if (res.status === 0 && /EPIPE|ECONNRESET|socket hang up/.test(res.error ?? '')) return void count(0);
      check('body over the limit', res, 'POST');
      if (res.status !== 413) fail(`body over the limit → ${res.status} ${res.error ?? ''}`);
      return;
    }
    if (lane.queue.length === 0) lane.queue = fc.sample(generatedRequest, { numRuns: 200, seed: seed + (i % LANES) * 1_000_003 + lane.chunk++ });
    const r = lane.queue.pop()!;
    const res = await request(url, r.method, r.path, { agent: lane.agent, headers: r.headers, body: r.body, timeoutMs: 10_000 });
    check(`${r.method} ${r.path.slice(0, 120)} ${JSON.stringify(r.headers).slice(0, 200)} ${r.body?.subarray(0, 120).toString() ?? ''}`, res, r.method);
  });
  // While slowloris connections still hang on: valid requests are served.
  const during = await Promise.all(Array.from({ length: 20 }, () => request(url, 'GET', '/v1/stats', { timeoutMs: 5_000 })));
  const lorisResult = await loris;
  const health = await request(url, 'GET', '/healthz');
  const ready = await request(url, 'GET', '/readyz');
  await rss.stop();
  api.sampleRss();
  const errorsLogged = api.problems().filter((l) => (l.level ?? 0) >= 50);
  for (const l of lanes) l.agent?.destroy();

  report('hostile-input', {
    jobs_enqueued: valid,
    succeeded: 0,
    duplicated_deliveries: null,
    lost: 0,
    stuck: 0,
    max_rss_mb: Math.round(api.maxRssMb),
    p99_wait_s: null,
  }, {
    seed,
    requests: sent,
    raw_exchanges: raw,
    valid_requests: valid,
    slowloris_opened: lorisResult.opened,
    slowloris_closed_by_server: lorisResult.closedByServer,
    failures: failures.length,
    api_error_lines: errorsLogged.length,
    statuses: Object.fromEntries([...statusCounts].sort(([a], [b]) => a - b)),
  });

  assert.ok(api.alive(), `the API died:\n${api.output().slice(-3000)}`);
  assert.equal(sent, TOTAL);
  assert.deepEqual(failures, [], `seed ${seed}`);
  assert.equal(health.status, 200);
  assert.equal(ready.status, 200);
  assert.deepEqual(during.map((r) => r.status), Array(20).fill(200), 'served while slowloris connections hang on');
  assert.equal(lorisResult.opened, SLOWLORIS);
  assert.deepEqual(errorsLogged.slice(0, 5), [], 'no request failed on the server side');
  assert.ok(api.maxRssMb < RSS_LIMIT_MB, `max RSS ${api.maxRssMb.toFixed(0)} MB`);
});

test('SQL injection in every string field and query parameter is stored or refused as plain data', { timeout: 120_000 }, async (t) => {
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const db = await freshDatabase();
  const { proc: api, url } = await startApi(group, baseEnv(db.url));
  const result = await checkInjections(url, db.pool);
  report('sql-injection', {
    jobs_enqueued: result.stored,
    succeeded: 0,
    duplicated_deliveries: null,
    lost: result.mismatches.length,
    stuck: 0,
    max_rss_mb: Math.round(api.sampleRss()),
    p99_wait_s: null,
  }, { requests: result.requests, stored: result.stored, refused: result.refused, server_errors: result.serverErrors.length });
  assert.deepEqual(result.serverErrors, [], 'no 5xx');
  assert.deepEqual(result.mismatches, [], 'every stored string reads back identical');
  assert.ok(result.stored >= 20 && result.refused >= 20, `both paths exercised: ${result.stored} stored, ${result.refused} refused`);
  const { rows } = await db.pool.query(`SELECT to_regclass('jobq.jobs') IS NOT NULL AS present, (SELECT count(*)::int FROM ${EVERY_JOB} j) AS n`);
  assert.equal(rows[0].present, true, 'the jobs table still exists');
  assert.equal(rows[0].n, result.stored, 'exactly the accepted jobs are in the table: nothing deleted, nothing extra');
  assert.ok(api.alive());
});

test('malformed HTTP is answered in the API error format, like every other error', { timeout: 60_000 }, async (t) => {
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const db = await freshDatabase();
  const { url } = await startApi(group, baseEnv(db.url));
  const port = Number(new URL(url).port);
  const wrong: string[] = [];
  let answered = 0;
  for (const attack of rawAttacks(port)) {
    const res = await rawExchange(port, attack.chunks, attack.end, 2_000);
    // The body of each error response: after the blank line that ends its header block.
    for (const m of res.text.matchAll(/HTTP\/1\.[01] ([45]\d\d) [^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n(\{[^\r\n]*\})?/g)) {
      answered++;
      if (m[2] === undefined) continue; // no body at all (Node's own bare answer)
      let kind: unknown;
      try {
        kind = (JSON.parse(m[2]) as { error?: { kind?: unknown } }).error?.kind;
      } catch {
        kind = undefined;
      }
      if (typeof kind !== 'string' || !(ERROR_KINDS as readonly string[]).includes(kind)) wrong.push(`${attack.name} → ${m[1]} ${m[2].slice(0, 120)}`);
    }
  }
  assert.ok(answered >= 20, `only ${answered} error answers`);
  assert.deepEqual(wrong, [], 'every error body is {"error": {"kind", "message"}}');
});
