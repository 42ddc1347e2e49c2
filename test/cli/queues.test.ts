/**
 * jobq queue list|get|set|pause|resume against a real jobq (API and worker in this process, on a fresh
 * database): policies set flag by flag and read back as JSON lines and tables, `none`, pause and resume
 * as the API reports them, usage errors, scopes; and the real process's exit codes.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { createClient, type QueueWire } from '../../src/client.ts';
import { EXIT } from '../../src/cli/exit.ts';
import { jobq, jobqProcess, lines, startJobq } from '../helpers/cli.ts';

const { url } = await startJobq();
const client = createClient({ baseUrl: url });
const at = (args: string[]) => [...args, '--url', url];

/** Runs a command that must succeed; its JSON lines. */
async function ok(args: string[]): Promise<QueueWire[]> {
  const r = await jobq(at(args));
  assert.equal(r.code, EXIT.ok, `${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.stderr, '');
  return lines<QueueWire>(r.stdout);
}

/** A queue's table row (in a terminal), split on the column gaps. */
async function row(args: string[], name: string): Promise<string[]> {
  const r = await jobq(at(args), { tty: true });
  assert.equal(r.code, EXIT.ok, r.stderr);
  const [header, ...rows] = r.stdout.trimEnd().split('\n');
  assert.match(header!, /^NAME +PAUSED +CONCURRENCY +RATE +GROUP CONCURRENCY +DEPTH +RUNNING +OLDEST WAITING$/);
  const found = rows.find((l) => l.startsWith(`${name} `));
  assert.ok(found, `${name} in:\n${r.stdout}`);
  return found.split(/ {2,}/);
}

const policyOf = (q: QueueWire | undefined) => q && { paused: q.paused, concurrency: q.concurrency, rate: q.rate, group_concurrency: q.group_concurrency };

test('set: each flag changes its limit and nothing else; get and list show it as JSON and as a table', async () => {
  const [afterConcurrency] = await ok(['queue', 'set', 'mail', '--concurrency', '5']);
  assert.deepEqual(policyOf(afterConcurrency), { paused: false, concurrency: 5, rate: null, group_concurrency: null });
  await ok(['queue', 'set', 'mail', '--rate', '10/1s']);
  const [set] = await ok(['queue', 'set', 'mail', '--group-concurrency', '2']);
  const expected = { paused: false, concurrency: 5, rate: { limit: 10, period_ms: 1_000 }, group_concurrency: 2 };
  assert.deepEqual(policyOf(set), expected, 'the earlier flags stay');
  assert.deepEqual(policyOf(await client.getQueue('mail')), expected);
  const [got] = await ok(['queue', 'get', 'mail']);
  assert.deepEqual(got, await client.getQueue('mail'));
  assert.deepEqual(policyOf((await ok(['queue', 'list'])).find((q) => q.name === 'mail')), expected);
  assert.deepEqual(await row(['queue', 'get', 'mail'], 'mail'), ['mail', 'no', '5', '10/1s', '2', '0', '0', '-']);
  assert.deepEqual(await row(['queue', 'list'], 'mail'), ['mail', 'no', '5', '10/1s', '2', '0', '0', '-']);

  // All at once, a rate in hours and one that no unit divides; the table shows it as it was given.
  await ok(['queue', 'set', 'mail', '--concurrency', '7', '--rate', '1000/1h', '--group-concurrency', '3', '--paused']);
  assert.deepEqual(policyOf(await client.getQueue('mail')), { paused: true, concurrency: 7, rate: { limit: 1000, period_ms: 3_600_000 }, group_concurrency: 3 });
  assert.deepEqual((await row(['queue', 'list'], 'mail')).slice(0, 5), ['mail', 'yes', '7', '1000/1h', '3']);
  await ok(['queue', 'set', 'mail', '--rate', '3/1500ms', '--no-paused']);
  assert.deepEqual(policyOf(await client.getQueue('mail')), { paused: false, concurrency: 7, rate: { limit: 3, period_ms: 1_500 }, group_concurrency: 3 });
  assert.deepEqual((await row(['queue', 'get', 'mail', '--no-json'], 'mail')).slice(0, 5), ['mail', 'no', '7', '3/1500ms', '3']);
});

test('none removes a limit (null on the wire); the other limits stay', async () => {
  await client.setQueue('partner', { concurrency: 4, rate: { limit: 5, period: '1m' }, group_concurrency: 1 });
  const [noRate] = await ok(['queue', 'set', 'partner', '--rate', 'none']);
  assert.deepEqual(policyOf(noRate), { paused: false, concurrency: 4, rate: null, group_concurrency: 1 });
  await ok(['queue', 'set', 'partner', '--concurrency', 'none', '--group-concurrency', 'none']);
  assert.deepEqual(policyOf(await client.getQueue('partner')), { paused: false, concurrency: null, rate: null, group_concurrency: null });
  assert.deepEqual(await row(['queue', 'get', 'partner'], 'partner'), ['partner', 'no', '-', '-', '-', '0', '0', '-']);
});

test('pause and resume: the API reports them; a paused queue keeps its jobs waiting, and the table shows how long', async () => {
  const [paused] = await ok(['queue', 'pause', 'reports']);
  assert.equal(paused!.paused, true);
  assert.equal((await client.getQueue('reports')).paused, true);
  const jobs = await client.enqueueBatch([{ kind: 'noop', payload: {}, queue: 'reports' }, { kind: 'noop', payload: {}, queue: 'reports' }]);
  const cells = await row(['queue', 'list'], 'reports');
  assert.deepEqual(cells.slice(0, 7), ['reports', 'yes', '-', '-', '-', '2', '0']);
  assert.match(cells[7]!, /^\d+(ms|s)$/, 'the oldest waiting job, roughly');

  const [resumed] = await ok(['queue', 'resume', 'reports']);
  assert.equal(resumed!.paused, false);
  assert.equal((await client.getQueue('reports')).paused, false);
  for (const job of jobs) assert.equal((await client.waitFor(job.id, { timeoutMs: 30_000, intervalMs: 20 })).status, 'succeeded');
});

test('list --limit: at most that many, by name, walking pages past the largest one', async () => {
  const bulk = await startJobq();
  const names = Array.from({ length: 1_001 }, (_, i) => `bulk-${String(i).padStart(4, '0')}`);
  const bulkClient = createClient({ baseUrl: bulk.url });
  for (const part of [names.slice(0, 1_000), names.slice(1_000)]) {
    await bulkClient.enqueueBatch(part.map((queue) => ({ kind: 'noop', payload: {}, queue, delay_ms: 3_600_000 })));
  }
  const list = async (args: string[]) => {
    const r = await jobq(['queue', 'list', ...args, '--url', bulk.url]);
    assert.equal(r.code, EXIT.ok, r.stderr);
    return lines<QueueWire>(r.stdout).map((q) => q.name);
  };
  assert.deepEqual(await list(['--limit', '1001']), names, 'more than a page of 1,000');
  assert.deepEqual(await list(['--limit', '2']), names.slice(0, 2));
  assert.deepEqual(await list([]), names.slice(0, 100), 'the default limit');
});

test('usage errors (2): no flag to set, bad values, a missing name; one line, nothing changed', async () => {
  await client.setQueue('guarded', { concurrency: 3 });
  const cases: [string[], RegExp][] = [
    [['queue', 'set', 'guarded'], /^jobq: queue set needs at least one of --concurrency, --rate, --group-concurrency, --paused, --no-paused\n$/],
    [['queue', 'set', 'guarded', '--concurrency', '0'], /^error: option '--concurrency <n\|none>' argument '0' is invalid\. must be from 1 to 1000000, got 0\n$/],
    [['queue', 'set', 'guarded', '--concurrency', 'lots'], /argument 'lots' is invalid\. must be an integer/],
    [['queue', 'set', 'guarded', '--group-concurrency', '1000001'], /argument '1000001' is invalid\. must be from 1 to 1000000/],
    [['queue', 'set', 'guarded', '--rate', '10'], /argument '10' is invalid\. must be LIMIT\/PERIOD \(10\/1s, 1000\/1h\) or none, got "10"/],
    [['queue', 'set', 'guarded', '--rate', '10/soon'], /argument '10\/soon' is invalid\. "soon" is not a duration/],
    [['queue', 'set', 'guarded', '--rate', '10/0s'], /argument '10\/0s' is invalid\. the period must be from 1 ms/],
    [['queue', 'set', 'guarded', '--rate', '10/30d'], /argument '10\/30d' is invalid\. the period must be from 1 ms to 2147483647 ms/],
    [['queue', 'set', 'guarded', '--rate', '0/1s'], /argument '0\/1s' is invalid\. must be from 1 to 1000000, got 0/],
    [['queue', 'list', '--limit', '0'], /argument '0' is invalid\. must be at least 1/],
    [['queue', 'get'], /^error: missing required argument 'name'\n$/],
    [['queue', 'drain', 'guarded'], /^error: unknown command 'drain'/],
  ];
  for (const [args, message] of cases) {
    const r = await jobq(at(args));
    assert.equal(r.code, EXIT.usage, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '', args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${args.join(' ')}: one line`);
  }
  assert.deepEqual(policyOf(await client.getQueue('guarded')), { paused: false, concurrency: 3, rate: null, group_concurrency: null });
});

test('scopes: a read-only key lists and reads but may not change a policy (1, forbidden); an admin key may', async () => {
  const keyed = await startJobq({ apiKeys: ['dashboard:read:r3ad-only-key', 'ops:admin:adm1n-key'] });
  const as = (key: string, args: string[]) => jobq([...args, '--url', keyed.url, '--api-key', key]);
  assert.equal((await as('r3ad-only-key', ['queue', 'list'])).code, EXIT.ok);
  assert.equal((await as('r3ad-only-key', ['queue', 'get', 'mail'])).code, EXIT.ok);
  for (const args of [['queue', 'set', 'mail', '--concurrency', '1'], ['queue', 'pause', 'mail'], ['queue', 'resume', 'mail']]) {
    const refused = await as('r3ad-only-key', args);
    assert.equal(refused.code, EXIT.failed, args.join(' '));
    assert.equal(refused.stdout, '');
    assert.match(refused.stderr, /^jobq: forbidden: .*"admin"/, args.join(' '));
  }
  const keyedClient = createClient({ baseUrl: keyed.url, apiKey: 'adm1n-key' });
  assert.deepEqual(policyOf(await keyedClient.getQueue('mail')), { paused: false, concurrency: null, rate: null, group_concurrency: null }, 'nothing changed');
  const allowed = await as('adm1n-key', ['queue', 'pause', 'mail']);
  assert.equal(allowed.code, EXIT.ok, allowed.stderr);
  assert.equal((await keyedClient.getQueue('mail')).paused, true);
});

test('the real process: 0 and JSON lines on a pipe, 1 refused by the API, 2 usage, 3 unreachable', async () => {
  const closed = createServer().listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const nowhere = `http://127.0.0.1:${(closed.address() as { port: number }).port}`;
  closed.close();
  await once(closed, 'close');
  const [paused, refused, usage, unreachable] = await Promise.all([
    jobqProcess(['queue', 'pause', 'nightly'], { env: { JOBQ_URL: url } }),
    jobqProcess(['queue', 'get', 'not a queue name', '--url', url]),
    jobqProcess(['queue', 'set', 'nightly', '--url', url]),
    jobqProcess(['queue', 'list', '--url', nowhere]),
  ]);
  assert.equal(paused.code, EXIT.ok, paused.stderr);
  assert.equal(lines<QueueWire>(paused.stdout)[0]!.paused, true);
  assert.equal((await client.getQueue('nightly')).paused, true);
  assert.equal(refused.code, EXIT.failed);
  assert.match(refused.stderr, /^jobq: validation_failed: .*\n  \/name: /);
  assert.equal(usage.code, EXIT.usage);
  assert.equal(usage.stderr, 'jobq: queue set needs at least one of --concurrency, --rate, --group-concurrency, --paused, --no-paused\n');
  assert.equal(unreachable.code, EXIT.unreachable);
  assert.ok(unreachable.stderr.startsWith(`jobq: cannot reach the jobq API at ${nowhere}: GET /v1/queues?limit=100 failed: `), unreachable.stderr);
});
