/**
 * Schedules declared in a file (`--schedules`, JOBQ_SCHEDULES), reconciled when a process starts: added,
 * changed and removed across starts with different files, logged; schedules made over the API left
 * alone; and a bad file (unreadable, not JSON, an invalid schedule) stops the start with a message
 * naming the file and the field, in startService and in the real process (exit 1, no stack).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import pino from 'pino';
import { resolveConfig } from '../../src/config.ts';
import { isJobqError } from '../../src/errors.ts';
import { Queue } from '../../src/queue/index.ts';
import { startService } from '../../src/server.ts';
import { CLI } from '../helpers/cli.ts';
import { freshDatabase, testKinds } from '../helpers/fixtures.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'jobq-schedules-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
/** A schedules file holding `content` (an object is written as JSON); its path. */
function file(content: unknown): string {
  const name = path.join(dir, `schedules-${++files}.json`);
  writeFileSync(name, typeof content === 'string' ? content : JSON.stringify(content));
  return name;
}

const noop = { kind: 'noop', payload: {} };
const db = await freshDatabase();
const queue = new Queue({ pool: db.pool, kinds: testKinds() });

/** Starts the API (no worker: nothing fires) with this schedules file, stops it; its log lines. */
async function start(schedulesFile: string): Promise<Record<string, unknown>[]> {
  const logged: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logged.push(JSON.parse(line) as Record<string, unknown>) });
  const config = resolveConfig({ databaseUrl: db.url, host: '127.0.0.1', port: 0, migrate: false, schedulesFile }, {});
  const service = await startService(config, logger, { api: true, worker: false, kinds: testKinds() });
  await service.stop();
  return logged;
}
const reconciled = (logged: Record<string, unknown>[]) => {
  const line = logged.find((l) => l.msg === 'schedules reconciled');
  assert.ok(line, JSON.stringify(logged));
  const sorted = (names: unknown) => [...(names as string[])].sort();
  return { file: line.file, added: sorted(line.added), changed: sorted(line.changed), removed: sorted(line.removed) };
};
const stored = async () => (await queue.schedules.list()).schedules.map((s) => [s.name, s.source, s.cron ?? s.every, s.enabled]);

test('a start adds and changes what the file lists and removes what an earlier file listed; API schedules stay', async () => {
  await queue.schedules.set({ name: 'manual', every: '1h', job: noop });
  const first = file({ schedules: [{ name: 'hourly', cron: '0 * * * *', job: noop }, { name: 'daily', cron: '0 3 * * *', timezone: 'Europe/Berlin', job: noop }] });
  assert.deepEqual(reconciled(await start(first)), { file: first, added: ['daily', 'hourly'], changed: [], removed: [] });
  assert.deepEqual(await stored(), [['daily', 'file', '0 3 * * *', true], ['hourly', 'file', '0 * * * *', true], ['manual', 'api', '1h', true]]);

  assert.deepEqual(reconciled(await start(first)), { file: first, added: [], changed: [], removed: [] }, 'the same file again changes nothing');

  const second = file({
    schedules: [
      { name: 'hourly', cron: '30 * * * *', job: noop, enabled: false },
      { name: 'every-5m', every: '5m', job: { kind: 'send_email', payload: { to: 'ops@example.com', subject: 's', body: 'b' }, max_attempts: 2 }, catch_up: 'all', catch_up_limit: 3 },
    ],
  });
  assert.deepEqual(reconciled(await start(second)), { file: second, added: ['every-5m'], changed: ['hourly'], removed: ['daily'] });
  assert.deepEqual(await stored(), [['every-5m', 'file', '5m', true], ['hourly', 'file', '30 * * * *', false], ['manual', 'api', '1h', true]]);
  const fiveMinutes = (await queue.schedules.get('every-5m'))!;
  assert.deepEqual([fiveMinutes.everyMs, fiveMinutes.job.maxAttempts, fiveMinutes.catchUp, fiveMinutes.catchUpLimit], [300_000, 2, 'all', 3]);

  const empty = file({ schedules: [] });
  assert.deepEqual(reconciled(await start(empty)), { file: empty, added: [], changed: [], removed: ['every-5m', 'hourly'] });
  assert.deepEqual(await stored(), [['manual', 'api', '1h', true]]);
});

/** Starting with this file fails: the error, checked to name the file and the field. */
async function refused(content: unknown, field: RegExp): Promise<string> {
  const name = file(content);
  const err = await start(name).then(() => assert.fail('the start should fail'), (e: unknown) => e);
  assert.ok(isJobqError(err), String(err));
  assert.ok(err.message.startsWith(`schedules file ${name}:`), err.message);
  assert.match(err.message, field);
  return err.message;
}

test('a bad file stops the start, naming the file and the field; the schedules stay as they were', async () => {
  await queue.schedules.set({ name: 'keep', every: '1h', job: noop });
  const before = await stored();
  const entry = { name: 'x', cron: '0 3 * * *', job: noop };
  await refused('{"schedules": [', /: is not valid JSON \(/);
  await refused({ schedule: [] }, / \/schedules is required/);
  await refused({ schedules: [{ ...entry, job: undefined }] }, / \/schedules\/0\/job \(schedule "x"\) is required/);
  await refused({ schedules: [entry, { ...entry, name: 'y', catch_up: 'some' }] }, / \/schedules\/1\/catch_up \(schedule "y"\) must be equal to one of the allowed values/);
  await refused({ schedules: [{ ...entry, name: 'bad name' }] }, / \/schedules\/0\/name /);
  await refused({ schedules: [entry, entry] }, / \/schedules\/1\/name \(schedule "x"\) repeats the name of \/schedules\/0/);
  // What the queue checks: the cron expression, the time zone, the kind, the payload against its kind.
  await refused({ schedules: [entry, { ...entry, name: 'y', cron: 'whenever' }] }, / \/schedules\/1\/cron \(schedule "y"\)/);
  await refused({ schedules: [{ ...entry, timezone: 'Mars/Base' }] }, / \/schedules\/0\/timezone \(schedule "x"\)/);
  await refused({ schedules: [{ ...entry, job: { kind: 'send_email', payload: { subject: 's', body: 'b' } } }] }, / \/schedules\/0\/job\/payload\/to \(schedule "x"\)/);
  await refused({ schedules: [{ ...entry, job: { kind: 'no_such_kind', payload: {} } }] }, /\/schedules\/0\/job\/kind \(schedule "x"\)/);
  const missing = path.join(dir, 'missing.json');
  const err = await start(missing).then(() => assert.fail('the start should fail'), (e: unknown) => e as Error);
  assert.match(err.message, new RegExp(`^schedules file ${missing}: cannot be read \\(ENOENT`));
  assert.deepEqual(await stored(), before);
});

/** Runs `jobq <args>` as a child process with this environment; its exit code and output. */
function jobq(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  // The timeout only ends a process that started when it should not have (the test then fails on its code).
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

test('serve, api and worker take --schedules or JOBQ_SCHEDULES; a bad file ends them with exit 1 and one line naming it, no stack', async () => {
  const badShape = file({ schedules: [{ name: 'x', every: '1h', job: { kind: 'noop', payload: {}, extra: true } }] });
  const badCron = file({ schedules: [{ name: 'x', cron: 'at noon', job: noop }] });
  const env = { DATABASE_URL: db.url, LOG_LEVEL: 'info', JOBQ_MIGRATE: 'false' };
  const runs = await Promise.all([
    jobq(['api', '--port', '0', '--schedules', badShape], env),
    jobq(['worker', '--worker-id', 'schedules-file-test'], { ...env, JOBQ_SCHEDULES: badCron }),
    jobq(['serve', '--port', '0', '--schedules', path.join(dir, 'missing.json')], env),
  ]);
  const expected = [
    new RegExp(`schedules file ${badShape}: /schedules/0/job/extra \\(schedule \\\\"x\\\\"\\) is not a known field`),
    new RegExp(`schedules file ${badCron}: /schedules/0/cron \\(schedule \\\\"x\\\\"\\)`),
    /schedules file \S+missing\.json: cannot be read \(ENOENT/,
  ];
  runs.forEach((r, i) => {
    assert.equal(r.code, 1, r.output);
    const fatal = r.output.split('\n').filter((l) => l.includes('"level":60'));
    assert.equal(fatal.length, 1, r.output);
    assert.match(fatal[0]!, /"msg":"failed to start"/);
    assert.match(fatal[0]!, expected[i]!);
    assert.doesNotMatch(r.output, /\n\s+at /, 'no stack');
  });
});
