/**
 * jobq schedule list|get|set|delete|trigger|enable|disable against a real jobq (API and worker in this
 * process, on a fresh database): schedules set flag by flag and read back through the API, as JSON lines
 * and tables; enable and disable change nothing else; trigger runs the job; the API's refusals name the
 * field; usage errors; scopes; and the real process's exit codes.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { createClient, type JobWire, type ScheduleSavedWire, type ScheduleWire } from '../../src/client.ts';
import { bodyOf } from '../../src/cli/schedules.ts';
import { EXIT } from '../../src/cli/exit.ts';
import { jobq, jobqProcess, lines, startJobq } from '../helpers/cli.ts';

const { url } = await startJobq();
const client = createClient({ baseUrl: url });
const at = (args: string[]) => [...args, '--url', url];
/** Midnight of February 29th, a moment no test run reaches: the worker of startJobq fires nothing of these. */
const YEARLY = '0 0 29 2 *';

/** Runs a command that must succeed; its JSON lines. */
async function ok<T = ScheduleWire>(args: string[], stdin?: string): Promise<T[]> {
  const r = await jobq(at(args), { stdin });
  assert.equal(r.code, EXIT.ok, `${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.stderr, '');
  return lines<T>(r.stdout);
}

test('set: every option lands in the schedule; the same again is unchanged; get and list show it as JSON and as a table', async () => {
  const args = [
    'schedule', 'set', 'nightly', '--cron', YEARLY, '--timezone', 'Europe/Berlin', '--kind', 'send_email',
    '--payload', '{"to":"ops@example.com","subject":"Nightly","body":"Hi"}', '--queue', 'mail', '--priority', '5', '--max-attempts', '4',
    '--timeout', '1m', '--catch-up', 'all', '--catch-up-limit', '10',
  ];
  const [saved] = await ok<ScheduleSavedWire>(args);
  assert.deepEqual([saved!.created, saved!.changed], [true, true]);
  const s = await client.getSchedule('nightly');
  assert.deepEqual(saved!.schedule, s);
  assert.deepEqual(
    [s.cron, s.every, s.timezone, s.job, s.enabled, s.catch_up, s.catch_up_limit, s.source],
    [YEARLY, null, 'Europe/Berlin', { kind: 'send_email', payload: { to: 'ops@example.com', subject: 'Nightly', body: 'Hi' }, queue: 'mail', priority: 5, max_attempts: 4, timeout_ms: 60_000 }, true, 'all', 10, 'api'],
  );
  const [again] = await ok<ScheduleSavedWire>(args);
  assert.deepEqual([again!.created, again!.changed], [false, false]);
  assert.deepEqual((await ok(['schedule', 'get', 'nightly']))[0], s);
  assert.deepEqual((await ok(['schedule', 'list'])).find((x) => x.name === 'nightly'), s);

  const table = await jobq(at(['schedule', 'get', 'nightly']), { tty: true });
  const [header, row] = table.stdout.trimEnd().split('\n');
  assert.match(header!, /^NAME +SCHEDULE +KIND +QUEUE +ENABLED +NEXT FIRE +LAST FIRE +LAST JOB +FIRES +SOURCE$/);
  assert.deepEqual(row!.split(/ {2,}/), ['nightly', `${YEARLY} (Europe/Berlin)`, 'send_email', 'mail', 'yes', s.next_fire_at!.replace('T', ' ').replace('.000Z', 'Z'), '-', '-', '0', 'api']);
  const unchanged = await jobq(at([...args, '--no-json']));
  assert.match(unchanged.stdout, /\nschedule nightly unchanged \(it was already so\)\n$/);

  // Replaced as a whole: what is left out takes its default. An interval, the payload from standard input, disabled.
  const [replaced] = await ok<ScheduleSavedWire>(['schedule', 'set', 'nightly', '--every', '90m', '--kind', 'noop', '--payload', '-', '--disabled'], '{"sleep_ms": 1}');
  const r = replaced!.schedule;
  assert.deepEqual([replaced!.changed, r.cron, r.every, r.every_ms, r.job, r.enabled, r.catch_up, r.next_fire_at], [
    true, null, '90m', 5_400_000, { kind: 'noop', payload: { sleep_ms: 1 }, queue: 'default', priority: 0, max_attempts: null, timeout_ms: null }, false, 'skip', null,
  ]);
});

test('disable and enable change only enabled; trigger enqueues the job now; delete removes the schedule, not its jobs', async () => {
  await client.setSchedule('weekly', { cron: YEARLY, timezone: 'America/New_York', job: { kind: 'noop', payload: { sleep_ms: 2 }, queue: 'ops', max_attempts: 2 }, catch_up: 'latest' });
  const before = await client.getSchedule('weekly');
  const [disabled] = await ok<ScheduleSavedWire>(['schedule', 'disable', 'weekly']);
  assert.deepEqual([disabled!.changed, disabled!.schedule.enabled, disabled!.schedule.next_fire_at], [true, false, null]);
  assert.deepEqual(bodyOf(disabled!.schedule), { ...bodyOf(before), enabled: false }, 'nothing else changed');
  const [enabled] = await ok<ScheduleSavedWire>(['schedule', 'enable', 'weekly']);
  assert.deepEqual([enabled!.schedule.enabled, enabled!.schedule.next_fire_at], [true, before.next_fire_at]);
  assert.deepEqual(bodyOf(enabled!.schedule), bodyOf(before));

  const [job] = await ok<JobWire>(['schedule', 'trigger', 'weekly']);
  assert.deepEqual([job!.kind, job!.payload, job!.queue, job!.max_attempts], ['noop', { sleep_ms: 2 }, 'ops', 2]);
  assert.equal((await client.waitFor(job!.id, { timeoutMs: 30_000, intervalMs: 20 })).status, 'succeeded', 'the worker ran it');
  assert.equal((await client.getSchedule('weekly')).next_fire_at, before.next_fire_at, 'the ticks stay');

  assert.deepEqual(await ok(['schedule', 'delete', 'weekly']), [{ name: 'weekly', deleted: true }]);
  await assert.rejects(client.getSchedule('weekly'), { kind: 'not_found' });
  assert.equal((await client.get(job!.id)).status, 'succeeded');
  for (const args of [['schedule', 'get', 'weekly'], ['schedule', 'delete', 'weekly'], ['schedule', 'trigger', 'weekly'], ['schedule', 'enable', 'weekly']]) {
    const r = await jobq(at(args));
    assert.equal(r.code, EXIT.failed, args.join(' '));
    assert.equal(r.stderr, 'jobq: not_found: no schedule named weekly\n', args.join(' '));
  }
  const table = await jobq(at(['schedule', 'delete', 'missing', '--no-json']));
  assert.equal(table.code, EXIT.failed);
  await client.setSchedule('gone', { every: '1h', job: { kind: 'noop', payload: {} } });
  assert.equal((await jobq(at(['schedule', 'delete', 'gone', '--no-json']))).stdout, 'schedule gone deleted\n');
});

test("the API's refusals (1) name the field: a bad cron, time zone or payload, an unknown kind", async () => {
  const cases: [string[], RegExp][] = [
    [['--cron', 'sometimes', '--kind', 'noop'], /^jobq: validation_failed: .*\n {2}\/cron: /],
    [['--cron', YEARLY, '--timezone', 'Mars/Base', '--kind', 'noop'], /^jobq: validation_failed: .*\n {2}\/timezone: /],
    [['--cron', YEARLY, '--kind', 'send_email', '--payload', '{"subject":"s","body":"b"}'], /\n {2}\/job\/payload\/to: /],
    [['--every', '1h', '--kind', 'no_such_kind'], /^jobq: unknown_kind: /],
    [['--every', '500ms', '--kind', 'noop'], /\n {2}\/every: /],
  ];
  for (const [flags, message] of cases) {
    const r = await jobq(at(['schedule', 'set', 'refused', ...flags]));
    assert.equal(r.code, EXIT.failed, `${flags.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, message, flags.join(' '));
  }
  await assert.rejects(client.getSchedule('refused'), { kind: 'not_found' });
});

test('usage errors (2): neither or both of --cron and --every, no --kind, bad values; one line, nothing stored', async () => {
  const cases: [string[], RegExp][] = [
    [['schedule', 'set', 'u', '--kind', 'noop'], /^jobq: schedule set needs exactly one of --cron and --every\n$/],
    [['schedule', 'set', 'u', '--kind', 'noop', '--cron', YEARLY, '--every', '1h'], /^jobq: schedule set needs exactly one of --cron and --every\n$/],
    [['schedule', 'set', 'u', '--every', '1h'], /^error: required option '--kind <kind>' not specified\n$/],
    [['schedule', 'set', 'u', '--every', 'soon', '--kind', 'noop'], /argument 'soon' is invalid\. "soon" is not a duration/],
    [['schedule', 'set', 'u', '--every', '1h', '--kind', 'noop', '--payload', '{nope'], /^jobq: the payload is not JSON \(/],
    [['schedule', 'set', 'u', '--every', '1h', '--kind', 'noop', '--catch-up', 'some'], /argument 'some' is invalid\. Allowed choices are skip, latest, all/],
    [['schedule', 'set', 'u', '--every', '1h', '--kind', 'noop', '--catch-up-limit', '0'], /argument '0' is invalid\. must be at least 1/],
    [['schedule', 'set', 'u', '--every', '1h', '--kind', 'noop', '--priority', 'high'], /argument 'high' is invalid\. must be an integer/],
    [['schedule', 'set', 'u', '--every', '1h', '--kind', 'noop', '--timeout', 'long'], /argument 'long' is invalid\. "long" is not a duration/],
    [['schedule', 'list', '--limit', '0'], /argument '0' is invalid\. must be at least 1/],
    [['schedule', 'get'], /^error: missing required argument 'name'\n$/],
    [['schedule', 'pause', 'u'], /^error: unknown command 'pause'/],
  ];
  for (const [args, message] of cases) {
    const r = await jobq(at(args));
    assert.equal(r.code, EXIT.usage, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '', args.join(' '));
    assert.match(r.stderr, message, args.join(' '));
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${args.join(' ')}: one line`);
  }
  await assert.rejects(client.getSchedule('u'), { kind: 'not_found' });
});

test('list --limit: at most that many, by name, walking pages', async () => {
  const bulk = await startJobq();
  const bulkClient = createClient({ baseUrl: bulk.url });
  const names = Array.from({ length: 5 }, (_, i) => `s-${i}`);
  for (const name of names) await bulkClient.setSchedule(name, { cron: YEARLY, job: { kind: 'noop', payload: {} } });
  const list = async (args: string[]) => lines<ScheduleWire>((await jobq(['schedule', 'list', ...args, '--url', bulk.url])).stdout).map((s) => s.name);
  assert.deepEqual(await list([]), names);
  assert.deepEqual(await list(['--limit', '2']), names.slice(0, 2));
});

test('scopes: a read-only key lists and reads but may not set, delete, trigger or disable (1, forbidden)', async () => {
  const keyed = await startJobq({ apiKeys: ['dashboard:read:r3ad-only-key', 'ops:admin:adm1n-key'] });
  const as = (key: string, args: string[]) => jobq([...args, '--url', keyed.url, '--api-key', key]);
  assert.equal((await as('adm1n-key', ['schedule', 'set', 'h', '--every', '1h', '--kind', 'noop'])).code, EXIT.ok);
  assert.equal((await as('r3ad-only-key', ['schedule', 'list'])).code, EXIT.ok);
  assert.equal((await as('r3ad-only-key', ['schedule', 'get', 'h'])).code, EXIT.ok);
  for (const args of [['schedule', 'set', 'h', '--every', '2h', '--kind', 'noop'], ['schedule', 'delete', 'h'], ['schedule', 'trigger', 'h'], ['schedule', 'disable', 'h']]) {
    const refused = await as('r3ad-only-key', args);
    assert.equal(refused.code, EXIT.failed, args.join(' '));
    assert.match(refused.stderr, /^jobq: forbidden: .*"admin"/, args.join(' '));
  }
  const s = await createClient({ baseUrl: keyed.url, apiKey: 'adm1n-key' }).getSchedule('h');
  assert.deepEqual([s.every, s.enabled], ['1h', true], 'nothing changed');
});

test('the real process: 0 and JSON lines on a pipe, 1 refused by the API, 2 usage, 3 unreachable', async () => {
  const closed = createServer().listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const nowhere = `http://127.0.0.1:${(closed.address() as { port: number }).port}`;
  closed.close();
  await once(closed, 'close');
  const [set, refused, usage, unreachable] = await Promise.all([
    jobqProcess(['schedule', 'set', 'proc', '--cron', YEARLY, '--kind', 'noop'], { env: { JOBQ_URL: url } }),
    jobqProcess(['schedule', 'get', 'no-such-schedule', '--url', url]),
    jobqProcess(['schedule', 'set', 'proc', '--kind', 'noop', '--url', url]),
    jobqProcess(['schedule', 'list', '--url', nowhere]),
  ]);
  assert.equal(set.code, EXIT.ok, set.stderr);
  assert.equal(lines<ScheduleSavedWire>(set.stdout)[0]!.schedule.cron, YEARLY);
  assert.equal(refused.code, EXIT.failed);
  assert.match(refused.stderr, /^jobq: not_found: /);
  assert.equal(usage.code, EXIT.usage);
  assert.equal(usage.stderr, 'jobq: schedule set needs exactly one of --cron and --every\n');
  assert.equal(unreachable.code, EXIT.unreachable);
  assert.ok(unreachable.stderr.startsWith(`jobq: cannot reach the jobq API at ${nowhere}: GET /v1/schedules?limit=100 failed: `), unreachable.stderr);
});
