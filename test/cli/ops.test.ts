/**
 * The operator commands against a real jobq (API and worker in this process, on a fresh database),
 * run in-process: every command, as JSON lines and as tables, payloads from stdin, --wait.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { createClient, type JobWire } from '../../src/client.ts';
import { EXIT } from '../../src/cli/exit.ts';
import { jobq, lines, startJobq } from '../helpers/cli.ts';
import { eventually } from '../helpers/fixtures.ts';

const { url } = await startJobq();
const client = createClient({ baseUrl: url });
const at = (args: string[]) => [...args, '--url', url];

/** Runs a command that must succeed; its JSON lines. */
async function ok<T = JobWire>(args: string[], opts: { stdin?: string } = {}): Promise<T[]> {
  const r = await jobq(at(args), opts);
  assert.equal(r.code, EXIT.ok, `${args.join(' ')}: ${r.stderr}`);
  assert.equal(r.stderr, '');
  return lines<T>(r.stdout);
}

test('kinds: one JSON line per kind when piped; a table in a terminal', async () => {
  const kinds = await ok<{ name: string }>(['kinds']);
  assert.deepEqual(kinds, await client.kinds());
  assert.ok(kinds.some((k) => k.name === 'noop'));
  const table = await jobq(at(['kinds']), { tty: true });
  assert.equal(table.code, EXIT.ok);
  const [header, ...rows] = table.stdout.trimEnd().split('\n');
  assert.match(header!, /^NAME +MAX ATTEMPTS +TIMEOUT MS +DESCRIPTION$/);
  assert.equal(rows.length, kinds.length);
  assert.match(rows.find((r) => r.startsWith('noop'))!, /^noop +3 +86460000 +Does nothing/);
  // --json wins over a terminal, --no-json over a pipe.
  assert.deepEqual(lines((await jobq(at(['kinds', '--json']), { tty: true })).stdout), kinds);
  assert.equal((await jobq(at(['kinds', '--no-json']))).stdout, table.stdout);
});

test('enqueue: kind, payload, queue, priority, attempts, delay and idempotency key reach the API', async () => {
  const [job] = await ok(['enqueue', 'noop', '{"sleep_ms":1}', '--queue', 'later', '--priority', '-7', '--max-attempts', '9', '--delay', '1h', '--idempotency-key', 'op-1']);
  assert.ok(job);
  assert.deepEqual(
    { kind: job.kind, payload: job.payload, queue: job.queue, priority: job.priority, max_attempts: job.max_attempts, status: job.status, key: job.idempotency_key },
    { kind: 'noop', payload: { sleep_ms: 1 }, queue: 'later', priority: -7, max_attempts: 9, status: 'queued', key: 'op-1' },
  );
  assert.equal(Date.parse(job.run_at) - Date.parse(job.created_at), 3_600_000, 'run_at is an hour after it was enqueued');
  assert.deepEqual(await client.get(job.id), job);
  const [again] = await ok(['enqueue', 'noop', '{"sleep_ms":1}', '--queue', 'later', '--idempotency-key', 'op-1']);
  assert.equal(again!.id, job.id, 'the same key gives the same job');
});

test('enqueue -: the payload comes from standard input; without one it is {}', async () => {
  const [job] = await ok(['enqueue', 'send_email', '-', '--delay', '1h'], { stdin: '{\n  "to": "ada@example.com", "subject": "Hi", "body": "from stdin"\n}\n' });
  assert.deepEqual(job!.payload, { to: 'ada@example.com', subject: 'Hi', body: 'from stdin' });
  const [bare] = await ok(['enqueue', 'noop', '--delay', '1h']);
  assert.deepEqual(bare!.payload, {});
  const bad = await jobq(at(['enqueue', 'noop', '-']), { stdin: 'not json' });
  assert.equal(bad.code, EXIT.usage);
  assert.match(bad.stderr, /^jobq: the payload is not JSON \(.*\) on standard input\n$/);
});

test('enqueue --wait: prints the finished job; 0 when it succeeded, 1 when it failed', async () => {
  const [done] = await ok(['enqueue', 'noop', '{"sleep_ms":20}', '--wait', '--timeout', '30s']);
  assert.equal(done!.status, 'succeeded');
  assert.deepEqual(done!.result, { slept_ms: 20 });

  const failed = await jobq(at(['enqueue', 'fail', '{"message":"the disk is full"}', '--wait']));
  assert.equal(failed.code, EXIT.failed);
  const [job] = lines<JobWire>(failed.stdout);
  assert.equal(job!.status, 'failed_permanent');
  assert.equal(failed.stderr, `jobq: job ${job!.id} ended failed_permanent: PermanentError: the disk is full\n`);

  const early = await jobq(at(['enqueue', 'noop', '--timeout', '1s']));
  assert.equal(early.code, EXIT.usage);
  assert.equal(early.stderr, 'jobq: --timeout needs --wait\n');
});

test('enqueue --wait on a job cancelled while it runs: 1; cancel says what it did, retry queues it again', async () => {
  const waiting = jobq(at(['enqueue', 'noop', '{"sleep_ms":60000}', '--queue', 'slow', '--wait']));
  const running = await eventually(async () => {
    for await (const j of client.list({ queue: 'slow', status: 'running' })) return j;
    return undefined;
  }, 10_000, 'the slow job to run');
  const [cancel] = await ok<{ outcome: string; job: JobWire }>(['cancel', running.id]);
  assert.equal(cancel!.outcome, 'cancel_requested');
  const waited = await waiting;
  assert.equal(waited.code, EXIT.failed);
  assert.equal(lines<JobWire>(waited.stdout)[0]!.status, 'cancelled');
  assert.match(waited.stderr, new RegExp(`^jobq: job ${running.id} ended cancelled`));

  const again = await jobq(at(['cancel', running.id]), { tty: true });
  assert.equal(again.stdout, `job ${running.id}: already finished (cancelled)\n`);
  const [retried] = await ok(['retry', running.id]);
  assert.equal(retried!.status, 'queued');
  assert.equal(retried!.id, running.id);
  await client.cancel(running.id); // not another minute of sleep
});

test('cancel of a waiting job, retry of one that cannot be retried (1, the API error kind and message)', async () => {
  const [job] = await ok(['enqueue', 'noop', '--delay', '1h']);
  const table = await jobq(at(['cancel', job!.id]), { tty: true });
  assert.equal(table.stdout, `job ${job!.id}: cancelled (cancelled)\n`);
  const [done] = await ok(['enqueue', 'noop', '--wait']);
  const refused = await jobq(at(['retry', done!.id]));
  assert.equal(refused.code, EXIT.failed);
  assert.equal(refused.stdout, '');
  assert.match(refused.stderr, /^jobq: invalid_transition: .+\n/);
  const missing = await jobq(at(['get', '01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f']));
  assert.equal(missing.code, EXIT.failed);
  assert.match(missing.stderr, /^jobq: not_found: /);
  const invalid = await jobq(at(['get', 'nope']));
  assert.equal(invalid.code, EXIT.failed);
  assert.match(invalid.stderr, /^jobq: validation_failed: .*\n  \/id: /, 'details follow, one per line');
});

test('get: the job as one JSON line, or one field per line in a terminal', async () => {
  const [job] = await ok(['enqueue', 'noop', '{"sleep_ms":3}', '--wait']);
  assert.deepEqual(await ok(['get', job!.id]), [await client.get(job!.id)]);
  const shown = await jobq(at(['get', job!.id]), { tty: true });
  const fields = Object.fromEntries(shown.stdout.trimEnd().split('\n').map((l) => /^(\S+) +(.*)$/.exec(l)!.slice(1)));
  assert.deepEqual(Object.keys(fields), Object.keys(job!));
  assert.equal(fields.status, 'succeeded');
  assert.equal(fields.payload, '{"sleep_ms":3}');
  assert.equal(fields.result, '{"slept_ms":3}');
  assert.equal(fields.locked_by, '-');
  assert.match(fields.finished_at!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
});

test('list: filters, a limit that walks pages, newest first; a table whose cells cannot drive the terminal', async () => {
  const batch = await client.enqueueBatch(Array.from({ length: 505 }, (_, i) => ({ kind: 'noop', payload: { sleep_ms: i }, queue: 'bulk', delay_ms: 3_600_000 })));
  const listed = await ok(['list', '--queue', 'bulk', '--limit', '503']);
  assert.equal(listed.length, 503, 'more than one page of 500');
  assert.deepEqual(listed.map((j) => j.id), batch.slice(2).reverse().map((j) => j.id));
  assert.deepEqual((await ok(['list', '--queue', 'bulk', '--limit', '2'])).map((j) => j.id), [batch[504]!.id, batch[503]!.id]);
  assert.equal((await ok(['list', '--queue', 'bulk'])).length, 50, 'the default limit');
  assert.deepEqual(await ok(['list', '--queue', 'bulk', '--status', 'running']), []);

  const hostile = await jobq(at(['enqueue', 'fail', JSON.stringify({ message: 'line one\nline two \u001b[2J\u001b[31mred' }), '--queue', 'hostile', '--wait']));
  assert.equal(hostile.code, EXIT.failed);
  const [failed] = await ok(['list', '--queue', 'hostile', '--kind', 'fail', '--status', 'failed_permanent']);
  assert.match(failed!.last_error!, /^PermanentError: line one\nline two \u001b\[2J\u001b\[31mred\n +at /);
  const table = await jobq(at(['list', '--queue', 'hostile']), { tty: true });
  const [header, row, ...rest] = table.stdout.trimEnd().split('\n');
  assert.deepEqual(rest, []);
  assert.match(header!, /^ID +KIND +QUEUE +STATUS +PRIORITY +ATTEMPTS +RUN AT +LAST ERROR$/);
  assert.match(row!, new RegExp(`^${failed!.id} +fail +hostile +failed_permanent +0 +1/3 +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ +PermanentError: line one line two  \\[2J \\[31mred +at .*…$`));
  assert.doesNotMatch(table.stdout, /\u001b/);
  for (const bad of [['--limit', '0'], ['--limit', 'all'], ['--status', 'done']]) {
    const r = await jobq(at(['list', ...bad]));
    assert.equal(r.code, EXIT.usage, bad.join(' '));
    assert.match(r.stderr, /^error: option '--(limit|status) <\w+>' argument '\w+' is invalid/);
  }
});

test('stats: the API answer as one JSON line, or counts per queue and kind in a terminal', async () => {
  await ok(['enqueue', 'noop', '--queue', 'counted', '--wait']);
  const [stats] = await ok<any>(['stats']);
  assert.equal(stats.by_queue.counted.succeeded, 1);
  assert.deepEqual(Object.keys(stats), ['by_status', 'by_kind', 'by_queue', 'oldest_runnable_age_seconds']);
  const table = await jobq(at(['stats']), { tty: true });
  const rows = table.stdout.split('\n');
  assert.match(rows[0]!, /^QUEUE +WAITING +QUEUED +RUNNING +RETRYING +SUCCEEDED +FAILED_PERMANENT +CANCELLED$/);
  assert.ok(rows.some((r) => /^counted +0 +0 +0 +0 +1 +0 +0$/.test(r)), table.stdout);
  assert.ok(rows.some((r) => /^KIND +WAITING +QUEUED/.test(r)));
  assert.ok(rows.some((r) => /^\(all\) +\d+/.test(r)));
  assert.match(table.stdout, /\noldest runnable job: [\d.]+ s\n$/);
});

test('--api-key: sent as a bearer key; without it a keyed API refuses (1, unauthorized)', async () => {
  const keyed = await startJobq({ apiKeys: ['ops:read:s3cret-read-key'] });
  const without = await jobq(['kinds', '--url', keyed.url]);
  assert.equal(without.code, EXIT.failed);
  assert.match(without.stderr, /^jobq: unauthorized: /);
  const withKey = await jobq(['kinds', '--url', keyed.url, '--api-key', 's3cret-read-key']);
  assert.equal(withKey.code, EXIT.ok, withKey.stderr);
  const forbidden = await jobq(['enqueue', 'noop', '--url', keyed.url, '--api-key', 's3cret-read-key']);
  assert.equal(forbidden.code, EXIT.failed);
  assert.match(forbidden.stderr, /^jobq: forbidden: .*"enqueue"/);
});

test('not reachable (3): a closed port, or a server that never answers within --request-timeout', async () => {
  const closed = createServer();
  closed.listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const port = (closed.address() as { port: number }).port;
  closed.close();
  await once(closed, 'close');
  const refused = await jobq(['stats', '--url', `http://127.0.0.1:${port}`]);
  assert.equal(refused.code, EXIT.unreachable);
  assert.match(refused.stderr, new RegExp(`^jobq: cannot reach the jobq API at http://127\\.0\\.0\\.1:${port}: GET /v1/stats failed: .*ECONNREFUSED.*\\n$`));

  const silentServer = createServer(() => {}); // accepts, never answers
  silentServer.listen(0, '127.0.0.1');
  await once(silentServer, 'listening');
  const silentUrl = `http://127.0.0.1:${(silentServer.address() as { port: number }).port}`;
  try {
    const late = await jobq(['kinds', '--url', silentUrl, '--request-timeout', '200ms']);
    assert.equal(late.code, EXIT.unreachable);
    assert.equal(late.stderr, `jobq: cannot reach the jobq API at ${silentUrl}: GET /v1/kinds failed: no answer within 200 ms\n`);
  } finally {
    silentServer.close();
    silentServer.unref();
  }
});

test('enqueue --depends-on, --on-parent-failure and --group reach the API: the child waits for its parents', async () => {
  const [p1] = await ok(['enqueue', 'noop', '--queue', 'flow-cli', '--delay', '1h']);
  const [p2] = await ok(['enqueue', 'noop', '--queue', 'flow-cli', '--delay', '1h']);
  const [child] = await ok(['enqueue', 'noop', '--queue', 'flow-cli', '--depends-on', `${p1!.id},${p2!.id}`, '--on-parent-failure', 'run', '--group', 'acme']);
  assert.deepEqual([child!.status, child!.depends_on, child!.on_parent_failure, child!.group], ['waiting', [p1!.id, p2!.id], 'run', 'acme']);
  const [repeated] = await ok(['enqueue', 'noop', '--queue', 'flow-cli', '--depends-on', p1!.id, '--depends-on', p2!.id]);
  assert.deepEqual([repeated!.depends_on, repeated!.on_parent_failure], [[p1!.id, p2!.id], 'cancel']);
  const bad = await jobq(at(['enqueue', 'noop', '--depends-on', p1!.id, '--on-parent-failure', 'ignore']));
  assert.notEqual(bad.code, EXIT.ok);
  assert.match(bad.stderr, /on_parent_failure/);
  assert.deepEqual((await client.listPage({ queue: 'flow-cli' })).jobs.length, 4, 'the refused one made no job');
});
