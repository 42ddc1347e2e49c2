/**
 * Scenario 6a, secrets and limits. `jobq api` and `jobq worker` run with API keys, an SMTP URL with a
 * password (a fake SMTP server that requires it) and a DATABASE_URL with a password. Jobs fail (SMTP 550,
 * refused logins), requests come without keys, with wrong keys and malformed; some processes are started
 * with broken settings. No secret, in any form, shows up in any process's output, any response (headers
 * and body), or /metrics. Then the request body limit (JOBQ_BODY_LIMIT) and the header limit hold.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freshDatabase } from '../helpers/db.ts';
import { rawExchange } from './helpers/hostile.ts';
import { errorKind, json, request, type Res } from './helpers/http.ts';
import { baseEnv, startApi, startWorker } from './helpers/jobq.ts';
import { eventually, ProcessGroup } from './helpers/procs.ts';
import { pick, report } from './helpers/report.ts';
import { findSecrets, SECRETS, startSmtp, withPassword } from './helpers/secrets.ts';

const [KEY_A, KEY_B] = SECRETS.apiKeys as [string, string];
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

test('secrets never appear in logs, error responses or /metrics', { timeout: pick(120_000, 180_000) }, async (t) => {
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const smtp = await startSmtp();
  t.after(() => smtp.close());
  const db = await freshDatabase();
  const env = baseEnv(withPassword(db.url, SECRETS.dbPassword), { JOBQ_API_KEYS: SECRETS.apiKeys.join(','), SMTP_URL: smtp.urlWithPassword });
  const [{ proc: api, url }, { proc: worker, metricsUrl }] = await Promise.all([startApi(group, env), startWorker(group, env, 'sec-w1')]);
  const seen: { where: string; text: string }[] = [];
  const call = async (method: string, path: string, opts: { key?: string; headers?: Record<string, string>; body?: unknown; base?: string } = {}): Promise<Res> => {
    const res = await request(opts.base ?? url, method, path, { headers: { ...(opts.key ? auth(opts.key) : {}), ...opts.headers }, body: opts.body });
    seen.push({ where: `${method} ${path}`, text: `${JSON.stringify(res.headers)}\n${res.body}` });
    return res;
  };

  // Keys: none, wrong, misplaced → 401 that says nothing; either right key → 200.
  const refused = [
    await call('GET', '/v1/stats'),
    await call('GET', '/v1/stats', { headers: { authorization: `Bearer ${KEY_A.slice(0, -1)}` } }),
    await call('GET', '/v1/stats', { headers: { authorization: `Bearer ${KEY_A}x` } }),
    await call('GET', '/v1/stats', { headers: { authorization: `Basic ${Buffer.from(`u:${KEY_A}`).toString('base64')}` } }),
    await call('GET', `/v1/stats?api_key=${KEY_A}`),
    await call('POST', '/v1/jobs', { headers: { authorization: `Bearer ${KEY_B.toUpperCase()}` }, body: { kind: 'noop', payload: {} } }),
  ];
  assert.deepEqual(refused.map((r) => [r.status, errorKind(r)]), Array(refused.length).fill([401, 'unauthorized']));
  assert.equal((await call('GET', '/v1/stats', { key: KEY_A })).status, 200);
  assert.equal((await call('GET', '/v1/kinds', { key: KEY_B })).status, 200);
  // Bad requests with a valid key.
  const bad = [
    await call('POST', '/v1/jobs', { key: KEY_A, body: '{"kind": "noop", "payload": ' }),
    await call('POST', '/v1/jobs', { key: KEY_A, body: { kind: 'nope', payload: {} } }),
    await call('POST', '/v1/jobs', { key: KEY_A, body: { kind: 'send_email', payload: { to: 'not-an-address' } } }),
    await call('GET', '/v1/jobs/not-a-uuid', { key: KEY_A }),
    await call('GET', '/v1/nowhere', { key: KEY_A }),
  ];
  assert.ok(bad.every((r) => r.status >= 400 && r.status < 500 && errorKind(r)), JSON.stringify(bad.map((r) => r.status)));

  // Jobs that fail: a recipient the server refuses (550), then logins refused (535); one that succeeds.
  const enqueue = async (to: string) => json(await call('POST', '/v1/jobs', { key: KEY_A, body: { kind: 'send_email', payload: { to, subject: 'hi', body: 'x' }, max_attempts: 3 } })).id as string;
  const finished = (id: string) =>
    eventually(async () => {
      const job = json((await call('GET', `/v1/jobs/${id}`, { key: KEY_B })) as Res);
      return ['succeeded', 'failed_permanent'].includes(job.status) ? job : undefined;
    }, 30_000, `job ${id} to finish`, 200);
  const okJob = await finished(await enqueue('ok@example.com'));
  group.sampleRss();
  const rejected = await finished(await enqueue('reject@example.com'));
  smtp.refuseLogins = true;
  const loginRefused = await finished(await enqueue('ok2@example.com'));
  assert.equal(okJob.status, 'succeeded', JSON.stringify(okJob));
  assert.deepEqual([rejected.status, rejected.attempts], ['failed_permanent', 1]);
  assert.match(rejected.last_error, /550/);
  assert.deepEqual([loginRefused.status, loginRefused.attempts], ['failed_permanent', 1]);
  assert.match(loginRefused.last_error, /535|login/i);
  assert.ok(smtp.logins.ok >= 1 && smtp.logins.refused >= 1, 'the SMTP password was really used');

  // What an operator and a scraper see.
  for (const path of ['/metrics', '/openapi.json', '/healthz', '/readyz']) await call('GET', path);
  await call('GET', '/metrics', { base: metricsUrl });
  // Processes started with broken settings, each holding a secret.
  const broken = [
    group.start('help', ['api', '--help'], env),
    group.start('migrate-refused', ['migrate'], { ...env, DATABASE_URL: `postgres://postgres:${SECRETS.dbPassword}@127.0.0.1:1/jobq` }),
    group.start('migrate-bad-url', ['migrate'], { ...env, DATABASE_URL: `postgres://postgres:${SECRETS.dbPassword}@127.0.0.1:notaport/jobq` }),
    group.start('api-no-database', ['api'], { ...env, DATABASE_URL: withPassword(db.url, SECRETS.dbPassword).replace(/\/[^/?]+(\?|$)/, '/jobq_no_such_db$1') }),
    group.start('worker-bad-smtp', ['worker'], { ...env, SMTP_URL: `smtp://${SECRETS.smtpUser}:${SECRETS.smtpPassword}@[::bad` }),
  ];
  const exits = await Promise.all(broken.map((p) => Promise.race([p.exited, new Promise((r) => setTimeout(r, 90_000, 'still running').unref())])));
  group.sampleRss();
  api.child.kill('SIGTERM');
  worker.child.kill('SIGTERM');
  await Promise.all([api.exited, worker.exited]);
  for (const p of group.all) seen.push({ where: `output of ${p.name}`, text: p.output() });

  const leaks = seen.flatMap((s) => findSecrets(s.where, s.text));
  report('security-secrets', {
    jobs_enqueued: 3,
    succeeded: okJob.status === 'succeeded' ? 1 : 0,
    duplicated_deliveries: null,
    lost: 0,
    stuck: 0,
    max_rss_mb: Math.round(group.maxRssMb()),
    p99_wait_s: null,
  }, { texts_scanned: seen.length, bytes_scanned: seen.reduce((a, s) => a + s.text.length, 0), leaks: leaks.length, leak_list: leaks });
  assert.deepEqual(exits.map((e) => (typeof e === 'string' ? e : e && (e as { code: number }).code !== 0)), [false, true, true, true, true], 'the broken configurations fail to start');
  assert.match(api.output(), /using PostgreSQL at \S*\*\*\*/, 'the database URL is logged, redacted');
  assert.deepEqual(leaks, []);
});

test('request body and header limits hold, and the server survives them', { timeout: 60_000 }, async (t) => {
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const db = await freshDatabase();
  const { proc: api, url } = await startApi(group, baseEnv(db.url, { JOBQ_BODY_LIMIT: '4096' }));
  const port = Number(new URL(url).port);
  const job = (bytes: number) => ({ kind: 'send_email', payload: { to: 'ada@example.com', subject: 's', body: 'b'.repeat(bytes) } });
  const under = await request(url, 'POST', '/v1/jobs', { body: job(3_500) });
  const over = await request(url, 'POST', '/v1/jobs', { body: job(5_000) });
  const batch = await request(url, 'POST', '/v1/jobs/batch', { body: { jobs: Array(200).fill({ kind: 'noop', payload: {} }) } });
  const text = JSON.stringify(job(5_000));
  const chunked = await rawExchange(port, [`POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`, ...[0, 1, 2, 3, 4].map((i) => { const c = text.slice(i * 1100, (i + 1) * 1100); return `${c.length.toString(16)}\r\n${c}\r\n`; }), '0\r\n\r\n'], false, 3_000);
  const bigHeader = await rawExchange(port, [`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'h'.repeat(20_000)}\r\n\r\n`], false);
  const manyHeaders = await rawExchange(port, [`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n${Array.from({ length: 2500 }, (_, i) => `X-H${i}: v\r\n`).join('')}\r\n`], false);
  const fairHeader = await request(url, 'GET', '/healthz', { headers: { 'x-fair': 'f'.repeat(8_000) } });
  const health = await request(url, 'GET', '/healthz');

  assert.equal(under.status, 201, under.body);
  assert.deepEqual([over.status, errorKind(over)], [413, 'payload_too_large']);
  assert.deepEqual([batch.status, errorKind(batch)], [413, 'payload_too_large']);
  assert.deepEqual(chunked.statuses, [413], chunked.text.slice(0, 300));
  assert.match(chunked.text, /payload_too_large/);
  assert.deepEqual(bigHeader.statuses, [431]);
  assert.deepEqual(manyHeaders.statuses, [431]);
  assert.equal(fairHeader.status, 200, 'a header block within the limit is fine');
  assert.equal(health.status, 200);
  assert.ok(api.alive());
});
