/**
 * `jobq serve` traced as the README says to deploy it: a setup file that registers the OpenTelemetry
 * SDK (and pg instrumentation) given to node with `--import`, before jobq is loaded. A real process,
 * real HTTP: the caller's traceparent goes through the API, the stored job and the worker's run.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { CLI } from '../helpers/cli.ts';
import { eventually, freshDatabase } from '../helpers/fixtures.ts';
import { newSpanId, newTraceId, traceparent } from './sdk.ts';

const SETUP = path.resolve('test/tracing/fixtures/setup.mjs');

interface SpanLine {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parent: string | null;
  links: string[];
  attributes: Record<string, unknown>;
}

test('jobq serve with --import of an SDK setup file: the enqueue continues the caller\'s trace and the run joins it', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jobq-trace-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const spansFile = path.join(dir, 'spans.jsonl');
  writeFileSync(spansFile, '');
  const db = await freshDatabase();
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', SETUP, CLI, 'serve'], {
    env: { ...process.env, DATABASE_URL: db.url, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', JOBQ_SPANS_FILE: spansFile, JOBQ_DATA_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const line = await eventually(() => {
    if (child.exitCode !== null) throw new Error(`jobq serve exited ${child.exitCode}:\n${output}`);
    return output.split('\n').find((l) => l.includes('"API listening"'));
  }, 60_000, 'API listening');
  const { url } = JSON.parse(line) as { url: string };

  const callerTrace = newTraceId();
  const callerSpan = newSpanId();
  const res = await fetch(`${url}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: traceparent(callerTrace, callerSpan) },
    body: JSON.stringify({ kind: 'noop', payload: {} }),
  });
  assert.equal(res.status, 201);
  const { id } = (await res.json()) as { id: string };
  const spans = () => readFileSync(spansFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as SpanLine);
  const run = await eventually(() => spans().find((s) => s.name === 'process default' && s.attributes['jobq.job.id'] === id), 30_000, 'the run span');
  const producer = spans().find((s) => s.name === 'enqueue default' && s.attributes['jobq.job.id'] === id);
  assert.ok(producer, output);
  assert.deepEqual([producer.traceId, producer.parent], [callerTrace, callerSpan]);
  assert.deepEqual([run.traceId, run.parent, run.links], [callerTrace, producer.spanId, [producer.spanId]]);
  assert.deepEqual([run.attributes['jobq.job.attempt'], run.attributes['jobq.job.outcome']], [1, 'succeeded']);
  // pg spans (requireParentSpan) only in a job's trace: the worker's claims and heartbeats made none.
  const pg = spans().filter((s) => s.attributes['db.system'] === 'postgresql' || s.attributes['db.system.name'] === 'postgresql');
  for (const s of pg) assert.equal(s.traceId, callerTrace, `${s.name} outside the job's trace`);
  // An enqueue at rest sends its INSERT at once, in the request's context: a span under the enqueue's.
  // (Named after the statement when it is prepared by name; through PgBouncer it goes unnamed, and its text says what it is.)
  const inserts = (s: SpanLine) => /insert/.test(s.name) || /INSERT INTO/.test(String(s.attributes['db.statement'] ?? s.attributes['db.query.text'] ?? ''));
  assert.ok(pg.some((s) => s.parent === producer.spanId && inserts(s)), JSON.stringify(pg.map((s) => s.name)));

  child.kill('SIGTERM');
  assert.equal(await exited, 0, output);
});
