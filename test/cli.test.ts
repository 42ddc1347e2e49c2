/** The `jobq` command line: help with defaults and variables, checked values. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { COMMAND_SETTINGS, resolveConfig, SETTINGS } from '../src/config.ts';

const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', path.resolve('src/cli.ts'), ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });

test('`jobq <command> --help` lists every option with its environment variable and default', () => {
  for (const command of ['serve', 'api', 'worker', 'migrate'] as const) {
    const out = run([command, '--help']);
    assert.equal(out.status, 0, out.stderr);
    const help = out.stdout.replace(/\s+/g, ' ');
    for (const name of COMMAND_SETTINGS[command]) {
      const s = SETTINGS[name];
      assert.ok(help.includes(s.flag.split(' ')[0]!), `${command}: ${s.flag}`);
      assert.ok(help.includes(`env: ${s.env}`), `${command}: ${s.env}`);
    }
  }
  const worker = run(['worker', '--help']).stdout.replace(/\s+/g, ' ');
  for (const d of ['default: 10, env: JOBQ_CONCURRENCY', 'default: 30000, env: JOBQ_LEASE_MS', 'default: 1000, env: JOBQ_POLL_INTERVAL_MS', 'default: 30000, env: JOBQ_SHUTDOWN_GRACE_MS', 'default: all', 'default: hostname:pid:random']) {
    assert.ok(worker.includes(d), d);
  }
});

test('a bad value, from a flag or the environment, is refused with a message naming it', () => {
  const flag = run(['worker', '--concurrency', 'lots']);
  assert.notEqual(flag.status, 0);
  assert.match(flag.stderr, /--concurrency.*must be an integer from 1/);
  const env = run(['worker'], { JOBQ_LEASE_MS: '-5' });
  assert.notEqual(env.status, 0);
  assert.match(env.stderr, /lease-ms.*must be an integer/);
  const cross = run(['worker', '--lease-ms', '2000', '--heartbeat-ms', '5000']);
  assert.notEqual(cross.status, 0);
  assert.match(cross.stderr, /heartbeat-ms \(5000\) must be shorter than --lease-ms \(2000\)/);
});

test('refuses a public address without API keys, saying why', () => {
  const out = run(['api', '--host', '0.0.0.0', '--port', '0'], { DATABASE_URL: process.env.JOBQ_TEST_ADMIN_URL! });
  assert.notEqual(out.status, 0);
  assert.match(out.stdout + out.stderr, /refusing to listen on 0\.0\.0\.0 without API keys/);
});

test('resolveConfig reads the environment, treats empty as unset, and names a bad variable', () => {
  const c = resolveConfig({}, { JOBQ_CONCURRENCY: '7', JOBQ_QUEUES: 'a, b,,c', DATABASE_URL: '', JOBQ_DATA_DIR: '/srv/jobq' });
  assert.equal(c.concurrency, 7);
  assert.deepEqual(c.queues, ['a', 'b', 'c']);
  assert.equal(c.databaseUrl, undefined);
  assert.equal(c.outboxDir, '/srv/jobq/outbox');
  assert.throws(() => resolveConfig({}, { PORT: '99999' }), /PORT: must be an integer from 0 to 65535/);
  assert.throws(() => resolveConfig({}, { JOBQ_METRICS_AUTH: 'maybe' }), /JOBQ_METRICS_AUTH: must be true or false/);
});

test('a heartbeat not given follows the lease (a third, at most 5 s); one given explicitly must still be shorter', () => {
  assert.equal(resolveConfig({}, {}).heartbeatMs, 5_000);
  assert.equal(resolveConfig({}, { JOBQ_LEASE_MS: '3000' }).heartbeatMs, 1_000);
  assert.equal(resolveConfig({}, { JOBQ_LEASE_MS: '1000' }).heartbeatMs, 333);
  assert.equal(resolveConfig({}, { JOBQ_LEASE_MS: '600000' }).heartbeatMs, 5_000);
  assert.equal(resolveConfig({ leaseMs: 3_000 }, {}).heartbeatMs, 1_000);
  assert.equal(resolveConfig({}, { JOBQ_LEASE_MS: '3000', JOBQ_HEARTBEAT_MS: '2000' }).heartbeatMs, 2_000);
  assert.throws(() => resolveConfig({}, { JOBQ_LEASE_MS: '3000', JOBQ_HEARTBEAT_MS: '5000' }), /--heartbeat-ms \(5000\) must be shorter than --lease-ms \(3000\)/);
  assert.throws(() => resolveConfig({ leaseMs: 3_000, heartbeatMs: 3_000 }, {}), /must be shorter than --lease-ms/);
  // The command line: JOBQ_LEASE_MS=3000 alone passes the heartbeat check (and stops at the next,
  // deliberately broken, setting, so nothing starts); an explicit heartbeat is still checked.
  const alone = run(['worker', '--backoff-base-ms', '10', '--backoff-cap-ms', '5'], { JOBQ_LEASE_MS: '3000' });
  assert.notEqual(alone.status, 0);
  assert.doesNotMatch(alone.stderr.split('\n')[0]!, /heartbeat/);
  assert.match(alone.stderr, /--backoff-cap-ms must be at least --backoff-base-ms/);
  const given = run(['worker', '--heartbeat-ms', '5000'], { JOBQ_LEASE_MS: '3000' });
  assert.match(given.stderr, /--heartbeat-ms \(5000\) must be shorter than --lease-ms \(3000\)/);
  const help = run(['worker', '--help']).stdout.replace(/\s+/g, ' ');
  assert.ok(help.includes('unset: a third of --lease-ms, at most 5000'), help);
});
