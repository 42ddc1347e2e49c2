/**
 * Exit codes of the real `jobq` process (`node --import tsx src/cli.ts`), as scripts see them:
 * 0 done, 1 the API refused or a --wait job failed, 2 usage, 3 not reachable, 4 --wait gave up.
 * One line on stderr, never a stack. The tests run side by side: each child takes a second or more to start.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { createClient, type JobWire } from '../../src/client.ts';
import { EXIT } from '../../src/cli/exit.ts';
import { type CliResult, jobqProcess, lines, startJobq } from '../helpers/cli.ts';

const { url } = await startJobq();
const keyed = await startJobq({ apiKeys: ['ops:enqueue+read:k3y-for-scripts'] });
const UNKNOWN_ID = '01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f';

async function closedPortUrl(): Promise<string> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return `http://127.0.0.1:${port}`;
}

function assertOneLine(r: CliResult, what: string): void {
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${what}: one line on stderr: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: no stack`);
}

describe('exit codes', { concurrency: true }, () => {
  test('0: done, JSON lines on a pipe; help is 0 too', async () => {
    const [kinds, enqueued, help] = await Promise.all([
      jobqProcess(['kinds', '--url', url]),
      jobqProcess(['enqueue', 'noop', '-', '--wait', '--url', url], { stdin: '{"sleep_ms":5}' }),
      jobqProcess(['list', '--help']),
    ]);
    assert.equal(kinds.code, EXIT.ok, kinds.stderr);
    assert.ok(lines<{ name: string }>(kinds.stdout).some((k) => k.name === 'noop'));
    assert.equal(enqueued.code, EXIT.ok, enqueued.stderr);
    assert.equal(lines<JobWire>(enqueued.stdout)[0]!.status, 'succeeded');
    assert.equal(help.code, EXIT.ok);
    assert.match(help.stdout, /--status <status>/);
  });

  test('1: the API refused (kind and message), or the job --wait waited for failed', async () => {
    const [missing, failed, unauthorized] = await Promise.all([
      jobqProcess(['get', UNKNOWN_ID, '--url', url]),
      jobqProcess(['enqueue', 'fail', '{"message":"no such mailbox"}', '--wait', '--url', url]),
      jobqProcess(['kinds', '--url', keyed.url]),
    ]);
    assert.equal(missing.code, EXIT.failed);
    assert.match(missing.stderr, /^jobq: not_found: /);
    assertOneLine(missing, 'not found');
    assert.equal(failed.code, EXIT.failed);
    assert.match(failed.stderr, /^jobq: job [0-9a-f-]{36} ended failed_permanent: PermanentError: no such mailbox\n$/);
    assert.equal(lines<JobWire>(failed.stdout)[0]!.status, 'failed_permanent');
    assert.equal(unauthorized.code, EXIT.failed);
    assert.match(unauthorized.stderr, /^jobq: unauthorized: /);
  });

  test('2: usage: a missing argument, an unknown command or option, a bad value, a payload that is not JSON', async () => {
    const cases = [
      ['enqueue'],
      ['list', '--colour'],
      ['enqueue', 'noop', '--delay', 'soon'],
      ['enqueue', 'noop', '{"sleep_ms":'],
      ['get', UNKNOWN_ID, '--url', 'not a url'],
      ['worker', '--lease-ms', 'forever'],
      [],
    ];
    const results = await Promise.all(cases.map((args) => jobqProcess([...args, ...(args[0] === 'get' ? [] : ['--url', url])])));
    results.forEach((r, i) => {
      const what = cases[i]!.join(' ') || '(no command)';
      assert.equal(r.code, EXIT.usage, `${what}: ${r.stderr}`);
      assert.equal(r.stdout, '', what);
      if (cases[i]!.length > 0) assertOneLine(r, what);
    });
  });

  test('3: not reachable, naming the URL, from --url or JOBQ_URL', async () => {
    const nowhere = await closedPortUrl();
    const [byFlag, byEnv] = await Promise.all([
      jobqProcess(['stats', '--url', nowhere]),
      jobqProcess(['get', UNKNOWN_ID], { env: { JOBQ_URL: nowhere } }),
    ]);
    for (const r of [byFlag, byEnv]) {
      assert.equal(r.code, EXIT.unreachable, r.stderr);
      assert.ok(r.stderr.startsWith(`jobq: cannot reach the jobq API at ${nowhere}: `), r.stderr);
      assertOneLine(r, 'unreachable');
    }
  });

  test('4: --wait gave up while the job was still running', async () => {
    const r = await jobqProcess(['enqueue', 'noop', '{"sleep_ms":60000}', '--queue', 'slow', '--wait', '--timeout', '300ms', '--url', url]);
    assert.equal(r.code, EXIT.timeout, r.stderr);
    assert.match(r.stderr, /^jobq: job ([0-9a-f-]{36}) is still (queued|running) after 300 ms\n$/);
    const id = /job ([0-9a-f-]{36})/.exec(r.stderr)![1]!;
    await createClient({ baseUrl: url }).cancel(id); // not a minute of sleep at the end
  });

  test('JOBQ_API_KEY is sent as the key', async () => {
    const r = await jobqProcess(['enqueue', 'noop', '--delay', '1h'], { env: { JOBQ_URL: keyed.url, JOBQ_API_KEY: 'k3y-for-scripts' } });
    assert.equal(r.code, EXIT.ok, r.stderr);
    assert.equal(lines<JobWire>(r.stdout)[0]!.status, 'queued');
  });
});
