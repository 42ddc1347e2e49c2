/**
 * `jobq serve|api|worker|migrate` on the command line: help with defaults and variables, checked
 * values (exit 2), durations and yes/no options in all their forms.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { Command } from 'commander';
import { cliOptions, COMMAND_SETTINGS, resolveConfig, SETTINGS } from '../../src/config.ts';
import { EXIT } from '../../src/cli/exit.ts';
import { CLI, startJobq } from '../helpers/cli.ts';

// Synchronous is fine here: no service runs in this process.
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });

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

test('a bad value, from a flag or the environment, is a usage error (exit 2) with a message naming it', () => {
  const flag = run(['worker', '--concurrency', 'lots']);
  assert.equal(flag.status, EXIT.usage, flag.stderr);
  assert.match(flag.stderr, /--concurrency.*must be an integer from 1/);
  const env = run(['worker'], { JOBQ_LEASE_MS: '-5' });
  assert.equal(env.status, EXIT.usage, env.stderr);
  assert.match(env.stderr, /--lease-ms.*from env 'JOBQ_LEASE_MS'.*"-5" is not a duration/);
  const cross = run(['worker', '--lease-ms', '2s', '--heartbeat-ms', '5s']);
  assert.equal(cross.status, EXIT.usage, cross.stderr);
  assert.match(cross.stderr, /heartbeat-ms \(5000\) must be shorter than --lease-ms \(2000\)/);
  for (const r of [flag, env, cross]) {
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack');
  }
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

test('the log store setting takes true, false or busy', () => {
  assert.equal(resolveConfig({}, { JOBQ_LOG_STORE: 'busy' }).logStore, 'busy');
  assert.equal(resolveConfig({}, { JOBQ_LOG_STORE: 'true' }).logStore, true);
  assert.equal(resolveConfig({}, { JOBQ_LOG_STORE: 'off' }).logStore, false);
  assert.throws(() => resolveConfig({}, { JOBQ_LOG_STORE: 'rows' }), /JOBQ_LOG_STORE: must be true, false or busy, got "rows"/);
  const parse = (argv: string[]) => {
    const cmd = new Command('x').exitOverride().configureOutput({ writeErr: () => {} });
    for (const opt of cliOptions(['logStore'])) cmd.addOption(opt);
    return cmd.parse(argv, { from: 'user' }).opts().logStore as unknown;
  };
  assert.equal(parse(['--log-store']), true);
  assert.equal(parse(['--log-store', 'busy']), 'busy');
  assert.equal(parse(['--no-log-store']), false);
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

test('every *_MS setting takes a duration (250ms, 30s, 7d) or plain milliseconds, from the environment or a flag', () => {
  const msSettings = Object.values(SETTINGS).filter((s) => s.env.endsWith('_MS'));
  assert.ok(msSettings.length >= 15, 'the *_MS settings were found');
  for (const s of msSettings) {
    assert.match(s.flag, /<duration>$/, s.flag);
    assert.equal(s.parse('2500'), 2_500, s.env);
    assert.equal(s.parse('2.5s'), 2_500, s.env);
    assert.throws(() => s.parse('soon'), /"soon" is not a duration/, s.env);
  }
  const c = resolveConfig({}, { JOBQ_LEASE_MS: '1m', JOBQ_SHUTDOWN_GRACE_MS: '30s', JOBQ_POLL_INTERVAL_MS: '250ms', JOBQ_BACKOFF_CAP_MS: '2h', JOBQ_QUERY_TIMEOUT_MS: '7000' });
  assert.equal(c.leaseMs, 60_000);
  assert.equal(c.heartbeatMs, 5_000);
  assert.equal(c.shutdownGraceMs, 30_000);
  assert.equal(c.pollIntervalMs, 250);
  assert.equal(c.backoffCapMs, 7_200_000);
  assert.equal(c.queryTimeoutMs, 7_000);
  // Retention durations come from the same parser.
  assert.equal(resolveConfig({}, { JOBQ_RETENTION: 'succeeded=2 days' }).retention.succeeded, 172_800_000);
  // Bounds still hold, named by the variable: below a minimum, and past the longest timer Node keeps.
  assert.throws(() => resolveConfig({}, { JOBQ_LEASE_MS: '500ms' }), /^Error: JOBQ_LEASE_MS: must be from 1000 ms to 2147483647 ms, got "500ms" \(500 ms\)$/);
  assert.throws(() => resolveConfig({}, { JOBQ_SHUTDOWN_GRACE_MS: '30d' }), /JOBQ_SHUTDOWN_GRACE_MS: must be from 0 ms to 2147483647 ms/);
  assert.throws(() => resolveConfig({}, { JOBQ_REQUEST_TIMEOUT_MS: '2h' }), /JOBQ_REQUEST_TIMEOUT_MS: must be from 100 ms to 3600000 ms/);
  assert.throws(() => resolveConfig({}, { JOBQ_HEARTBEAT_MS: 'often' }), /JOBQ_HEARTBEAT_MS: "often" is not a duration/);
});

test('yes/no options: --x, --no-x, and --x true|false as before; the environment as before', () => {
  const names = ['migrate', 'insecure', 'metricsAuth'] as const;
  // Commander reads the variables from process.env: set exactly these for each parse, then put them back.
  const vars = ['JOBQ_MIGRATE', 'JOBQ_INSECURE', 'JOBQ_METRICS_AUTH'];
  const parse = (argv: string[], env: Record<string, string> = {}) => {
    const saved = vars.map((v) => process.env[v]);
    const put = (v: string, value: string | undefined) => (value === undefined ? delete process.env[v] : (process.env[v] = value));
    vars.forEach((v) => put(v, env[v]));
    try {
      const cmd = new Command('x').exitOverride().configureOutput({ writeErr: () => {} });
      for (const opt of cliOptions([...names])) cmd.addOption(opt);
      return cmd.parse(argv, { from: 'user' }).opts();
    } finally {
      vars.forEach((v, i) => put(v, saved[i]));
    }
  };
  assert.deepEqual(parse([]), { migrate: true, insecure: false, metricsAuth: false });
  assert.deepEqual(parse(['--insecure', '--metrics-auth', '--no-migrate']), { migrate: false, insecure: true, metricsAuth: true });
  assert.deepEqual(parse(['--insecure', 'true', '--migrate', 'false', '--metrics-auth', 'yes']), { migrate: false, insecure: true, metricsAuth: true });
  assert.deepEqual(parse(['--insecure=0', '--migrate=on']), { migrate: true, insecure: false, metricsAuth: false });
  assert.deepEqual(parse([], { JOBQ_INSECURE: 'true', JOBQ_MIGRATE: 'false' }), { migrate: false, insecure: true, metricsAuth: false });
  assert.deepEqual(parse(['--no-insecure', '--migrate'], { JOBQ_INSECURE: 'true', JOBQ_MIGRATE: 'false' }), { migrate: true, insecure: false, metricsAuth: false }, 'a flag beats the environment');
  assert.throws(() => parse(['--insecure', 'maybe']), /--insecure \[bool\].*must be true or false, got "maybe"/);

  // The real command: --no-insecure and --insecure false both keep the refusal of a public address without keys.
  for (const form of [['--no-insecure'], ['--insecure', 'false']]) {
    const out = run(['api', '--host', '0.0.0.0', '--port', '0', ...form], { DATABASE_URL: process.env.JOBQ_TEST_ADMIN_URL! });
    assert.notEqual(out.status, 0);
    assert.match(out.stdout + out.stderr, /refusing to listen on 0\.0\.0\.0 without API keys/, form.join(' '));
  }
  const help = run(['serve', '--help']).stdout.replace(/\s+/g, ' ');
  for (const flag of ['--migrate [bool]', '--no-migrate', '--insecure [bool]', '--no-insecure', '--metrics-auth [bool]', '--no-metrics-auth', '--lease-ms <duration>', 'Durations (every --*-ms option']) {
    assert.ok(help.includes(flag), flag);
  }
});

test('the dashboard is on by default and off with --ui false (JOBQ_UI=false): /ui is then no route at all', async () => {
  assert.equal(resolveConfig({}, {}).ui, true);
  assert.equal(resolveConfig({}, { JOBQ_UI: 'false' }).ui, false);
  const on = await startJobq();
  const page = await fetch(`${on.url}/ui/`);
  // The page, or (a checkout run before `npm run build`) the 503 that says to build it: either way, served.
  assert.ok(page.status === 200 || (page.status === 503 && /npm run build/.test(await page.clone().text())), `${page.status}`);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
  const off = await startJobq({ ui: false });
  assert.equal((await fetch(`${off.url}/ui/`)).status, 404);
  assert.equal((await fetch(`${off.url}/healthz`)).status, 200);
});
