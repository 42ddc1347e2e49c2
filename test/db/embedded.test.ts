/**
 * The embedded PostgreSQL: first start, second start on existing data, recovery after the owning
 * process was SIGKILLed, a stale postmaster.pid, and start-up errors that carry PostgreSQL's own log.
 * Real child processes, real servers, each in its own temporary folder.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jobq-emb-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client(url);
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

test('starts, keeps its data across a restart, and listens on no TCP port', async () => {
  const dir = tempDir();
  const first = await startEmbeddedPostgres({ dataDir: dir });
  await query(first.url, 'CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)');
  const { rows } = await query(first.url, `SELECT current_setting('listen_addresses') AS l`);
  assert.equal(rows[0].l, '', 'no TCP listener');
  await first.stop();
  await assert.rejects(query(first.url, 'SELECT 1'), 'stopped means stopped');

  const second = await startEmbeddedPostgres({ dataDir: dir });
  assert.equal((await query(second.url, 'SELECT x FROM kept')).rows[0].x, 42);
  await second.stop();
});

test('a server left running by a SIGKILLed process is adopted by the next start', async () => {
  const dir = tempDir();
  const script = `
    import { startEmbeddedPostgres } from ${JSON.stringify(path.resolve('src/db/embedded.ts'))};
    const pg = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dir)} });
    console.log('READY ' + pg.pid);
    setInterval(() => {}, 1000);`;
  const file = path.join(dir, 'holder.mts');
  writeFileSync(file, script);
  const child = spawn(process.execPath, ['--import', 'tsx', file], { stdio: ['ignore', 'pipe', 'inherit'] });
  const postmaster = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /READY (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`holder exited with ${code}`)));
  });
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  await exited;

  const next = await startEmbeddedPostgres({ dataDir: dir });
  assert.equal(next.pid, postmaster, 'the orphaned server is reused, not fought with');
  assert.equal(next.owned, true);
  assert.equal((await query(next.url, 'SELECT 1 AS one')).rows[0].one, 1);
  await next.stop();
  await assert.rejects(query(next.url, 'SELECT 1'), 'and stopping it stops it');
});

test('a stale postmaster.pid naming a process that is not PostgreSQL does not block the start', async () => {
  const dir = tempDir();
  const first = await startEmbeddedPostgres({ dataDir: dir });
  await first.stop();
  // A PID that exists but is not a postmaster (ours), as happens after a reboot or in a container.
  writeFileSync(path.join(first.pgData, 'postmaster.pid'), `${process.pid}\n${first.pgData}\n0\n5432\n\n\n`);
  const second = await startEmbeddedPostgres({ dataDir: dir });
  assert.equal((await query(second.url, 'SELECT 1 AS one')).rows[0].one, 1);
  await second.stop();
});

test("a start-up failure is reported with PostgreSQL's own log lines", async () => {
  const dir = tempDir();
  const first = await startEmbeddedPostgres({ dataDir: dir });
  await first.stop();
  appendFileSync(path.join(first.pgData, 'postgresql.conf'), '\nshared_buffers = banana\n');
  await assert.rejects(startEmbeddedPostgres({ dataDir: dir }), (err: Error) => {
    assert.match(err.message, /embedded PostgreSQL failed to start/);
    assert.match(err.message, /shared_buffers/, 'the log line that names the problem is included');
    return true;
  });
});
