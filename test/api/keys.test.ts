/**
 * Named, scoped API keys (issue 14, item 14): the entry forms, each scope on every /v1 route through a
 * real socket, the hashed form, the access log naming the key (never the key), and SIGHUP reloading a
 * keys file in a real `jobq api` process.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { KeyRing, loadApiKeys, parseKeyEntry } from '../../src/api/keys.ts';
import { resolveConfig } from '../../src/config.ts';
import { ProcessGroup } from '../chaos/helpers/procs.ts';
import { freshDatabase, assertErrorBody, buildTestApp, email, listen, eventually } from '../helpers/fixtures.ts';

const hex = (key: string) => createHash('sha256').update(key).digest('hex');
const READ = 'reader-key-6d1f0c';
const ENQ = 'writer-key-93ab7e';
const ADMIN = 'ops-key-5e2c11';
const LEGACY = 'legacy-key-0a9b8c';
const KEYS = [`dashboard:read:${READ}`, `producer:enqueue:${ENQ}`, `ops:admin:sha256:${hex(ADMIN)}`, LEGACY];

test('key entries: legacy, named plain and hashed; a bad entry is refused without echoing the key', () => {
  const legacy = parseKeyEntry('abc123', 2);
  assert.equal(legacy.name, 'anonymous-2');
  assert.deepEqual([...legacy.scopes].sort(), ['admin', 'enqueue', 'read']);
  const plain = parseKeyEntry('ci:enqueue+read:s3cr:et', 1);
  assert.equal(plain.name, 'ci');
  assert.deepEqual([...plain.scopes].sort(), ['enqueue', 'read']);
  assert.equal(new KeyRing([plain]).authenticate('s3cr:et')?.name, 'ci', 'a key may hold colons after name:scopes:');
  const hashed = parseKeyEntry(`ops:admin:sha256:${hex('k').toUpperCase()}`, 1);
  assert.equal(new KeyRing([hashed]).authenticate('k')?.name, 'ops');
  assert.equal(new KeyRing([hashed]).authenticate(hex('k')), undefined, 'the hash itself is not a key');
  for (const [entry, message] of [
    ['ci:enqeue:hunter2-secret', /unknown scope "enqeue"/],
    ['ci::hunter2-secret', /unknown scope ""/],
    ['c i:read:hunter2-secret', /name before the first/],
    ['ci:read', /the form is name:scopes:key/],
    ['ci:read:sha256:abcd-hunter2-secret', /64 hex digits/],
    ['ci:read:', /printable ASCII/],
  ] as const) {
    assert.throws(() => parseKeyEntry(entry, 3), (err: Error) => message.test(err.message) && !err.message.includes('hunter2'), entry);
  }
  assert.throws(() => resolveConfig({}, { JOBQ_API_KEYS: 'good,ci:raed:hunter2-secret' }), (err: Error) => /JOBQ_API_KEYS: API key 2 \("ci"\): unknown scope/.test(err.message) && !err.message.includes('hunter2'));
  assert.deepEqual(resolveConfig({}, { JOBQ_API_KEYS: 'a, ci:read:b' }).apiKeys, ['a', 'ci:read:b'], 'today\'s comma-separated keys still parse');
  assert.throws(() => new KeyRing([plain]).replace([]), /with none/);
});

test('each scope reaches exactly its routes; admin and legacy keys reach all; a missing scope is 403 forbidden', async () => {
  const metrics = { contentType: 'text/plain', render: async () => 'up 1\n' };
  const { app, queue } = await buildTestApp({ config: { apiKeys: KEYS, metricsAuth: true }, metrics });
  const base = await listen(app);
  const { job } = await queue.enqueue(email());
  const call = (key: string, method: string, url: string, body?: unknown) =>
    fetch(`${base}${url}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const routes: [string, string, () => unknown, 'enqueue' | 'read' | 'admin'][] = [
    ['POST', '/v1/jobs', () => email(), 'enqueue'],
    ['POST', '/v1/jobs/batch', () => ({ jobs: [email()] }), 'enqueue'],
    ['GET', `/v1/jobs/${job.id}`, () => undefined, 'read'],
    ['GET', '/v1/jobs', () => undefined, 'read'],
    ['GET', '/v1/stats', () => undefined, 'read'],
    ['GET', '/v1/kinds', () => undefined, 'read'],
    ['GET', '/metrics', () => undefined, 'read'],
    ['POST', `/v1/jobs/${job.id}/retry`, () => undefined, 'admin'],
    ['POST', `/v1/jobs/${job.id}/cancel`, () => undefined, 'admin'],
  ];
  const keyScope: [string, string, string][] = [[READ, 'read', 'dashboard'], [ENQ, 'enqueue', 'producer'], [ADMIN, 'admin', 'ops'], [LEGACY, 'admin', 'anonymous-4']];
  for (const [key, scope, name] of keyScope) {
    for (const [method, url, body, needed] of routes) {
      const res = await call(key, method, url, body());
      const text = await res.text();
      const what = `${name} ${method} ${url}: ${res.status} ${text.slice(0, 200)}`;
      if (scope === 'admin' || scope === needed) {
        // retry of a queued job is a 409 invalid_transition: the scope check let it through.
        assert.ok(res.status < 400 || (url.endsWith('/retry') && res.status === 409), what);
      } else {
        const e = assertErrorBody(res.status, text, 'forbidden');
        assert.equal(res.status, 403, what);
        assert.match(e.error.message, new RegExp(`"${name}" lacks the scope "${needed}"`));
      }
    }
  }
  // Any valid key learns that an unknown /v1 path does not exist; no key learns nothing.
  assert.equal((await call(READ, 'GET', '/v1/nowhere')).status, 404);
  assert.equal((await call(ENQ, 'GET', '/v1/nowhere')).status, 404);
  assert.equal((await call('nope', 'GET', '/v1/nowhere')).status, 401);
  // The hash is not a key.
  assert.equal((await call(hex(ADMIN), 'GET', '/v1/stats')).status, 401);
});

test('the access-log line names the key that acted, never the key; a refused key is named on its 403 too', async () => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const { app } = await buildTestApp({ logger: pino({ level: 'info' }, sink), config: { apiKeys: KEYS } });
  const base = await listen(app);
  const send = (key: string | undefined, url: string, id: string, method = 'GET') =>
    fetch(`${base}${url}`, { method, headers: { 'x-request-id': id, ...(key ? { authorization: `Bearer ${key}` } : {}) } });
  await send(READ, '/v1/stats', 'r-read');
  await send(ADMIN, '/v1/kinds', 'r-admin');
  await send(LEGACY, '/v1/kinds', 'r-legacy');
  await send(READ, '/v1/jobs/01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f/cancel', 'r-forbidden', 'POST');
  await send(undefined, '/v1/stats', 'r-anon');
  await send(undefined, '/healthz', 'r-open');
  await eventually(() => lines.filter((l) => l.msg === 'request completed').length === 6 || undefined, 5_000, 'six access-log lines', 5);
  const access = Object.fromEntries(lines.filter((l) => l.msg === 'request completed').map((l) => [l.reqId, [l.status, l.keyName]]));
  assert.deepEqual(access, {
    'r-read': [200, 'dashboard'],
    'r-admin': [200, 'ops'],
    'r-legacy': [200, 'anonymous-4'],
    'r-forbidden': [403, 'dashboard'],
    'r-anon': [401, undefined],
    'r-open': [200, undefined],
  });
  const all = JSON.stringify(lines);
  for (const secret of [READ, ENQ, ADMIN, LEGACY]) assert.ok(!all.includes(secret), 'no key in the log');
});

test('loadApiKeys: the flag entries plus the file; an unreadable or empty file is an error, never an open API', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jobq-keys-'));
  const file = path.join(dir, 'keys');
  writeFileSync(file, `# keys\n\nci:enqueue:${ENQ}\n  ops:admin:sha256:${hex(ADMIN)}  \n`);
  assert.deepEqual(loadApiKeys({ apiKeys: [LEGACY], apiKeysFile: file }).map((k) => k.name), ['anonymous-1', 'ci', 'ops']);
  writeFileSync(file, '# nothing here\n');
  assert.throws(() => loadApiKeys({ apiKeys: [], apiKeysFile: file }), /holds no key/);
  assert.throws(() => loadApiKeys({ apiKeys: [], apiKeysFile: path.join(dir, 'missing') }), /cannot read the API keys file .*ENOENT/);
});

test('SIGHUP makes a running `jobq api` re-read its keys file: new keys work, removed ones stop, a broken file changes nothing', { timeout: 120_000 }, async (t) => {
  const db = await freshDatabase();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jobq-keys-'));
  const file = path.join(dir, 'keys');
  writeFileSync(file, `old:read:${READ}\n`);
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const proc = group.start('api', ['api'], { DATABASE_URL: db.url, HOST: '127.0.0.1', PORT: '0', JOBQ_API_KEYS_FILE: file, JOBQ_API_KEYS: `boot:admin:${ADMIN}` });
  const url = await proc.url('api');
  const status = async (key: string) => (await fetch(`${url}/v1/stats`, { headers: { authorization: `Bearer ${key}` } })).status;
  assert.deepEqual([await status(READ), await status(ENQ), await status(ADMIN)], [200, 401, 200]);

  writeFileSync(file, `new:read:sha256:${hex(ENQ)}\n`);
  proc.child.kill('SIGHUP');
  const reloaded = await proc.waitForLine((l) => l.msg === 'API keys reloaded', 30_000, '"API keys reloaded"');
  assert.deepEqual(reloaded.keys, ['boot', 'new']);
  assert.deepEqual([await status(READ), await status(ENQ), await status(ADMIN)], [401, 200, 200], 'the --api-keys entry stays; the file is new');

  writeFileSync(file, `new:reed:${ENQ}\n`);
  proc.child.kill('SIGHUP');
  const refused = await proc.waitForLine((l) => l.msg === 'API keys not reloaded; the previous keys stay in force', 30_000, 'the refusal');
  assert.match(String(refused.err), /unknown scope "reed"/);
  assert.deepEqual([await status(READ), await status(ENQ)], [401, 200], 'a broken file leaves the keys in force');
  assert.ok(proc.alive(), 'SIGHUP does not end the process');
  assert.ok(!proc.output().includes(ENQ) && !proc.output().includes(READ) && !proc.output().includes(ADMIN), 'no key in the output');
});
