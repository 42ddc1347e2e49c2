/**
 * The embedded PostgreSQL refuses folders at predictable paths under the temporary folder that someone
 * else could have made first (the cluster trusts whoever reaches its socket): the socket folder used
 * when the data path is too long, and the copy of the binaries. Also: a good folder is used, and a
 * symbolic link never makes jobq change the owner of what it points to.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

function tempDir(mode = 0o700): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jobq-embp-'));
  chmodSync(dir, mode);
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A data folder the postgres user can reach whose `pg` path is too long for a socket; and the socket folder jobq predicts for it. */
function longDataDir(): { dataDir: string; predicted: string } {
  const dataDir = path.join(tempDir(0o755), 'd'.repeat(90));
  mkdirSync(dataDir, { mode: 0o755 });
  const pgData = path.join(realpathSync(dataDir), 'pg');
  const predicted = path.join(os.tmpdir(), `jobq-${createHash('sha256').update(pgData).digest('hex').slice(0, 12)}`);
  after(() => rmSync(predicted, { recursive: true, force: true }));
  return { dataDir, predicted };
}

const refusal = (dir: string, why: RegExp) => (err: Error) => {
  assert.match(err.message, /refusing to use/);
  assert.ok(err.message.includes(dir), err.message);
  assert.match(err.message, why);
  return true;
};

/** Asserts that start-up is refused; a server that starts all the same is stopped again. */
async function assertStartRefused(dataDir: string, dir: string, why: RegExp): Promise<void> {
  let db: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined;
  try {
    await assert.rejects(async () => void (db = await startEmbeddedPostgres({ dataDir })), refusal(dir, why));
  } finally {
    await db?.stop();
  }
}

describe('the socket folder under the temporary folder', () => {
  test('is made private and used when nothing is there', async () => {
    const { dataDir, predicted } = longDataDir();
    const db = await startEmbeddedPostgres({ dataDir });
    try {
      const st = statSync(predicted);
      assert.equal(st.mode & 0o777, 0o700);
      assert.ok(db.url.includes(encodeURIComponent(predicted)), db.url);
      const c = new pg.Client(db.url);
      await c.connect();
      await c.end();
    } finally {
      await db.stop();
    }
  });

  test('made first by another user is refused, and left as it was', { skip: !isRoot && 'needs root to play another user' }, async () => {
    const { dataDir, predicted } = longDataDir();
    mkdirSync(predicted, { mode: 0o700 });
    chownSync(predicted, NOBODY, NOBODY);
    await assertStartRefused(dataDir, predicted, /owned by uid 65534/);
    assert.equal(statSync(predicted).uid, NOBODY);
  });

  test('writable by others is refused', async () => {
    const { dataDir, predicted } = longDataDir();
    mkdirSync(predicted);
    chmodSync(predicted, 0o777);
    await assertStartRefused(dataDir, predicted, /mode is 0777/);
  });

  test('a symbolic link is refused, and the owner of its target is not changed', async () => {
    const { dataDir, predicted } = longDataDir();
    const victim = tempDir(0o700);
    symlinkSync(victim, predicted);
    await assertStartRefused(dataDir, predicted, /symbolic link/);
    assert.equal(statSync(victim).uid, process.getuid?.());
  });
});

describe('the copy of the binaries', () => {
  /** A stand-in for the PostgreSQL installation, and a fresh predictable target next to it. */
  function installation(): { native: string; target: string } {
    const native = path.join(tempDir(0o755), 'native');
    mkdirSync(path.join(native, 'bin'), { recursive: true });
    writeFileSync(path.join(native, 'bin', 'postgres'), '#!/bin/sh\n', { mode: 0o755 });
    const target = path.join(os.tmpdir(), `jobq-postgres-test-${process.pid}-${Math.random().toString(36).slice(2)}`);
    after(() => rmSync(target, { recursive: true, force: true }));
    return { native, target };
  }
  const copyOfBinaries = async (native: string, target: string): Promise<string> =>
    (await import('../../src/db/embedded.ts')).copyOfBinaries(native, target);

  test('is made readable by all, writable by us only, and reused', async () => {
    const { native, target } = installation();
    assert.equal(await copyOfBinaries(native, target), target);
    assert.equal(statSync(target).mode & 0o777, 0o755);
    assert.ok(existsSync(path.join(target, 'bin', 'postgres')));
    assert.equal(await copyOfBinaries(native, target), target);
  });

  test('made first by another user, or writable by others, or a link, is refused', async () => {
    const { native, target } = installation();
    mkdirSync(path.join(target, 'bin'), { recursive: true });
    writeFileSync(path.join(target, 'bin', 'postgres'), '#!/bin/sh\necho planted\n', { mode: 0o755 });
    chmodSync(target, 0o777);
    await assert.rejects(copyOfBinaries(native, target), refusal(target, /mode is 0777/));
    if (isRoot) {
      chmodSync(target, 0o755);
      chownSync(target, NOBODY, NOBODY);
      await assert.rejects(copyOfBinaries(native, target), refusal(target, /owned by uid 65534/));
    }
    rmSync(target, { recursive: true });
    symlinkSync(native, target);
    await assert.rejects(copyOfBinaries(native, target), refusal(target, /symbolic link/));
  });
});
