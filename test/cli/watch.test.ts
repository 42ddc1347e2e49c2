/**
 * `jobq watch` and `jobq enqueue --wait` against a real jobq (API and worker in this process): events
 * as JSON lines with their event_id, a watch of ids that ends when they have finished, a watch of a
 * queue as a child process until it is stopped, resuming with --last-event-id, and the refusals.
 * Events are published as the publisher does (a real NOTIFY).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { EXIT } from '../../src/cli/exit.ts';
import { createClient } from '../../src/client.ts';
import { CLI, jobq, lines, startJobq } from '../helpers/cli.ts';
import { jobEvent, publish } from '../helpers/events.ts';
import { eventually } from '../helpers/fixtures.ts';

const { url, service } = await startJobq({ concurrency: 1 });
const pool = service.db.pool;
const at = (args: string[]) => [...args, '--url', url];
const client = createClient({ baseUrl: url });
const job = (n: number, queue = 'watched') => ({ id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, queue, kind: 'noop' });

test('watch --id prints each job\'s state, then its events with their event_id, and ends once all have finished', { timeout: 60_000 }, async () => {
  // Two jobs no worker picks up (run an hour from now): only the published events move them on.
  const a = await client.enqueue({ kind: 'noop', payload: {}, delay_ms: 3_600_000 });
  const b = await client.enqueue({ kind: 'noop', payload: {}, delay_ms: 3_600_000 });
  const watching = jobq(at(['watch', '--id', `${a.id},${b.id}`]));
  await eventually(() => (service.hub!.stats().knownStates === 2 ? true : undefined), 10_000, 'the watch to have read both');
  await pool.query(`UPDATE jobq.jobs SET status = 'cancelled', finished_at = now() WHERE id = ANY($1::uuid[])`, [[a.id, b.id]]);
  await publish(pool, jobEvent(a, 'cancelled'), jobEvent(b, 'cancelled'));
  const r = await watching;
  assert.equal(r.code, EXIT.ok, r.stderr);
  const printed = lines(r.stdout);
  assert.deepEqual(printed.map((l) => [l.type, l.id, l.status]), [
    ['state', a.id, 'queued'], ['state', b.id, 'queued'], ['cancelled', a.id, 'cancelled'], ['cancelled', b.id, 'cancelled'],
  ]);
  assert.equal(printed[0].event_id, undefined, 'a state is no published event');
  assert.match(printed[2].event_id, /^\d+-0$/);
  assert.deepEqual(Object.keys(printed[2]).sort(), ['at', 'attempt', 'event_id', 'group', 'id', 'kind', 'queue', 'status', 'type']);
});

test('watch --queue runs until stopped, printing the matching events; --last-event-id resumes after a printed line', { timeout: 60_000 }, async () => {
  await eventually(() => (service.hub!.stats().subscriptions === 0 ? true : undefined), 10_000, 'no stream open');
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'watch', '--queue', 'watched', '--kind', 'noop', '--url', url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await eventually(() => (service.hub!.stats().subscriptions === 1 ? true : undefined), 30_000, 'the child\'s stream');
  await publish(pool, jobEvent(job(1), 'enqueued'), jobEvent(job(2, 'other'), 'enqueued'), jobEvent(job(1), 'started'));
  await eventually(() => (lines(stdout).length === 2 ? true : undefined), 10_000, 'two lines');
  child.kill('SIGTERM');
  await exited;
  const printed = lines(stdout);
  assert.deepEqual(printed.map((l) => [l.type, l.id]), [['enqueued', job(1).id], ['started', job(1).id]]);

  // Resumed after the first line: the replay (which the child never printed the end of), then the end.
  await publish(pool, jobEvent(job(1), 'succeeded'));
  const resumed = await jobq(at(['watch', '--id', job(1).id, '--last-event-id', printed[0].event_id]));
  assert.equal(resumed.code, EXIT.ok, resumed.stderr);
  assert.deepEqual(lines(resumed.stdout).map((l) => l.type), ['started', 'succeeded']);
});

test('watch refusals: a bad filter is the API\'s (1), no server is unreachable (3), --no-json is a usage error (2)', async () => {
  const bad = await jobq(at(['watch', '--id', 'nope']));
  assert.equal(bad.code, EXIT.failed);
  assert.match(bad.stderr, /^jobq: validation_failed: query parameter id: "nope" is not a job id/);
  const none = await jobq(['watch', '--queue', 'q', '--url', 'http://127.0.0.1:9']);
  assert.equal(none.code, EXIT.unreachable, none.stderr);
  assert.match(none.stderr, /^jobq: cannot reach the jobq API at http:\/\/127.0.0.1:9/);
  const table = await jobq(at(['watch', '--queue', 'q', '--no-json']));
  assert.deepEqual([table.code, table.stderr], [EXIT.usage, 'jobq: watch prints JSON lines only\n']);
});

test('enqueue --wait waits through long-polls and prints the finished job', { timeout: 60_000 }, async () => {
  const r = await jobq(at(['enqueue', 'noop', '{"sleep_ms":10}', '--wait', '--timeout', '50s']));
  assert.equal(r.code, EXIT.ok, r.stderr);
  assert.equal(lines(r.stdout)[0].status, 'succeeded');
});
