/**
 * A worker's own /metrics server on a non-loopback address (issue 14, item 11f) is refused, as the
 * API refuses one without keys, unless `--insecure true` or `--metrics-auth true` with API keys (then
 * a key with the read scope is required). The servers that do start bind `::ffff:127.0.0.1`: not a
 * loopback name to the check, yet reachable from this machine only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProcessGroup } from '../chaos/helpers/procs.ts';
import { freshDatabase } from '../helpers/fixtures.ts';

const NOT_LOOPBACK_NAME = '::ffff:127.0.0.1';

test('a worker refuses --metrics-host on a public address without --insecure or metrics auth', { timeout: 120_000 }, async (t) => {
  const db = await freshDatabase();
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const env = { DATABASE_URL: db.url };
  for (const host of ['0.0.0.0', '::', '192.0.2.10']) {
    const proc = group.start(`refused ${host}`, ['worker', '--metrics-host', host, '--metrics-port', '0'], env);
    // Hang guard: before the fix the worker started and ran until killed.
    const exit = await Promise.race([proc.exited, new Promise<undefined>((r) => setTimeout(r, 30_000, undefined))]);
    assert.ok(exit, `a worker with --metrics-host ${host} kept running`);
    assert.equal(exit.code, 1);
    assert.match(proc.output(), new RegExp(`refusing to serve worker metrics on ${host.replace(/\./g, '\\.')} without a key`));
  }
  // metrics auth without any key is no protection: still refused.
  const noKeys = group.start('auth without keys', ['worker', '--metrics-host', '0.0.0.0', '--metrics-port', '0', '--metrics-auth', 'true'], env);
  assert.equal((await noKeys.exited).code, 1);

  // --insecure: allowed, and open.
  const insecure = group.start('insecure', ['worker', '--metrics-host', NOT_LOOPBACK_NAME, '--metrics-port', '0', '--insecure', 'true'], env);
  const open = `http://127.0.0.1:${new URL(await insecure.url('metrics')).port}/metrics`;
  assert.equal((await fetch(open)).status, 200);

  // --metrics-auth with keys: allowed; /metrics needs a key with the read scope.
  const locked = group.start('auth', ['worker', '--metrics-host', NOT_LOOPBACK_NAME, '--metrics-port', '0', '--metrics-auth', 'true'], {
    ...env,
    JOBQ_API_KEYS: 'scraper:read:scrape-key-1,producer:enqueue:enqueue-key-2',
  });
  const url = `http://127.0.0.1:${new URL(await locked.url('metrics')).port}/metrics`;
  const get = (key?: string) => fetch(url, key ? { headers: { authorization: `Bearer ${key}` } } : {});
  const anonymous = await get();
  assert.equal(anonymous.status, 401);
  assert.equal((await anonymous.json()).error.kind, 'unauthorized');
  const wrongScope = await get('enqueue-key-2');
  assert.equal(wrongScope.status, 403);
  assert.equal((await wrongScope.json()).error.kind, 'forbidden');
  const ok = await get('scrape-key-1');
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /jobq_/);
});
