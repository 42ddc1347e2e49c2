/**
 * The graphile storage candidate (bench/storage/graphile/): graphile-worker's schema applies after
 * jobq's migrations, each of its pgbench scripts runs, and its claim-and-finish script drains seeded
 * jobs with the candidate's counts right. It has no jobq Queue: graphile-worker itself is the bench's.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import pg from 'pg';
import { candidate } from '../../bench/storage/graphile/index.ts';
import { pgbench, sampleIds } from '../../bench/storage/measure.ts';
import { directDatabase } from '../helpers/db.ts';
import { withoutPgbench } from '../helpers/pgbench.ts';

async function setUp(): Promise<{ url: string; c: pg.Client }> {
  const db = await directDatabase();
  const url = db.url; // straight to the server (directDatabase): pgbench prepares its statements
  const c = new pg.Client(url);
  await c.connect();
  await c.query(readFileSync(candidate.setupSql, 'utf8'));
  return { url, c };
}

test('claim_finish drains 500 seeded jobs: none remain, 500 succeeded', { skip: withoutPgbench() }, async () => {
  const { url, c } = await setUp();
  try {
    await candidate.seed(c, 500);
    await candidate.addFailed(c, 10); // failed jobs are neither remaining nor succeeded
    assert.equal(await candidate.remaining(c), 500);
    // 2 clients × 6 transactions of up to 50 jobs: room for all 500 even if a claim comes back short.
    await pgbench(url, candidate.pgbench.claimFinish, { clients: 2, transactions: 6 });
    assert.equal(await candidate.remaining(c), 0);
    assert.equal(await candidate.succeeded(c), 500);
    await candidate.reset(c);
    assert.equal(await candidate.succeeded(c), 0);
  } finally {
    await c.end();
  }
});

test('every script runs against a seeded database, and cancel and retry act on their jobs', { skip: withoutPgbench() }, async () => {
  const { url, c } = await setUp();
  try {
    await candidate.seed(c, 200);
    await candidate.addFailed(c, 50);
    const run = async (script: string, what?: 'finished' | 'queued' | 'failed') => {
      const nids = what ? await sampleIds(c, candidate.sampleIdsSql(what), 100) : 1;
      assert.ok(nids > 0, `${what} ids to act on`);
      await pgbench(url, script, { clients: 2, transactions: 5, vars: { nids } });
    };
    await run(candidate.pgbench.enqueue);
    assert.equal(await candidate.remaining(c), 210);
    await run(candidate.pgbench.get, 'finished');
    await run(candidate.pgbench.list);
    await run(candidate.pgbench.cancel, 'queued');
    const count = async (where: string) =>
      (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE ${where}`)).rows[0]!.n;
    assert.ok((await count("last_error = 'cancelled' AND attempts = max_attempts")) > 0, 'cancel fails queued jobs for good');
    await run(candidate.pgbench.retry, 'failed');
    assert.ok((await count("last_error IS NOT NULL AND attempts = 0")) > 0, 'retry makes failed jobs runnable again');
    await run(candidate.pgbench.claimFinish);
  } finally {
    await c.end();
  }
});

test('createQueue refuses: graphile-worker runs through the main bench', () => {
  assert.throws(() => candidate.createQueue({} as never), /graphile-best system/);
});
