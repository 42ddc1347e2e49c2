/**
 * JOBQ_SCHEMA for real (issue #21, item 4): `jobq migrate --schema`, then `jobq api` and `jobq worker`
 * on schema tenant_x beside a `jobq serve` on the default schema, all child processes on one database,
 * each processing only its own jobs end to end over HTTP.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { createClient, JobqClientError } from '../../src/client.ts';
import { EXIT } from '../../src/cli/exit.ts';
import { ProcessGroup } from '../chaos/helpers/procs.ts';
import { jobqProcess } from '../helpers/cli.ts';
import { eventually, freshDatabase } from '../helpers/fixtures.ts';

/** A free port below the ephemeral range (32768-60999), asked of the kernel by binding it. */
async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

test('a bad --schema or JOBQ_SCHEMA is a usage error naming the setting', async () => {
  const flag = await jobqProcess(['migrate', '--schema', 'Tenant-X'], { env: { DATABASE_URL: 'postgres://127.0.0.1:1/none' } });
  assert.equal(flag.code, EXIT.usage, flag.stderr);
  assert.match(flag.stderr, /--schema.*must be lowercase letters, digits and _/);
  const env = await jobqProcess(['worker'], { env: { DATABASE_URL: 'postgres://127.0.0.1:1/none', JOBQ_SCHEMA: 'pg_toast' } });
  assert.equal(env.code, EXIT.usage, env.stderr);
  assert.match(env.stderr, /JOBQ_SCHEMA.*must not start with pg_/);
});

test('jobq api + worker on schema tenant_x and jobq serve on the default schema share a database, each running only its own jobs', { timeout: 180_000 }, async (t) => {
  const db = await freshDatabase(); // the default schema migrated (the template)
  const group = new ProcessGroup();
  t.after(() => group.killAll());
  const base = {
    DATABASE_URL: db.url,
    ...(db.listenUrl ? { JOBQ_LISTEN_URL: db.listenUrl } : {}),
    HOST: '127.0.0.1',
    // Long: a prompt run proves the worker hears its own schema's notifications.
    JOBQ_POLL_INTERVAL_MS: '60000',
    JOBQ_SHUTDOWN_GRACE_MS: '1000',
  };
  const migrated = await jobqProcess(['migrate', '--schema', 'tenant_x'], { env: { DATABASE_URL: db.url, LOG_LEVEL: 'info' } });
  assert.equal(migrated.code, 0, migrated.stderr + migrated.stdout);
  assert.match(migrated.stdout, /"schema":"tenant_x".*migrations applied/);

  const tenantApi = group.start('tenant-api', ['api', '--no-migrate'], { ...base, JOBQ_SCHEMA: 'tenant_x', PORT: String(await freePort()) });
  const plain = group.start('default-serve', ['serve'], { ...base, PORT: String(await freePort()) });
  const tenant = createClient({ baseUrl: await tenantApi.url('api', 60_000) });
  const other = createClient({ baseUrl: await plain.url('api', 60_000) });
  await plain.waitForLine((l) => l.msg === 'worker started', 60_000, '"worker started"');

  const a = await tenant.enqueue({ kind: 'noop', payload: {} });
  const b = await other.enqueue({ kind: 'noop', payload: {} });
  await eventually(async () => ((await other.get(b.id)).status === 'succeeded' ? true : undefined), 30_000, "the default schema's job to succeed");
  // Each API sees only its schema's jobs.
  for (const [client, id] of [[other, a.id], [tenant, b.id]] as const) {
    await assert.rejects(client.get(id), (e) => e instanceof JobqClientError && e.status === 404 && e.kind === 'not_found');
  }
  assert.equal((await tenant.get(a.id)).status, 'queued', "the default schema's worker never takes tenant_x's job");

  const tenantWorker = group.start('tenant-worker', ['worker', '--schema', 'tenant_x', '--no-migrate', '--worker-id', 'tenant-w'], base);
  await tenantWorker.waitForLine((l) => l.msg === 'worker started', 60_000, '"worker started"');
  await eventually(async () => ((await tenant.get(a.id)).status === 'succeeded' ? true : undefined), 30_000, "tenant_x's job to succeed");
  // A second job after both workers run: woken by tenant_x's own channel, run by tenant_x's worker.
  const c = await tenant.enqueue({ kind: 'noop', payload: {} });
  await eventually(async () => ((await tenant.get(c.id)).status === 'succeeded' ? true : undefined), 30_000, "tenant_x's second job");
  assert.equal((await other.stats()).by_status.succeeded, 1, "the default schema holds its one job only");
  for (const p of [tenantApi, plain, tenantWorker]) {
    assert.deepEqual(p.problems(), [], `${p.name} logged no warning`);
  }
});
