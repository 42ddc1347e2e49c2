/**
 * Issue #14, item 11: concurrent single enqueues coalesce into one INSERT. At 1 MiB each, 600 of them
 * serialised into one string passed Node's string limit (about 512 Mi characters): JSON.stringify threw,
 * and every caller got a permanent 400 payload_invalid for a limit of the server's own.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '@sinclair/typebox';
import { isJobqError } from '../../src/errors.ts';
import { Queue } from '../../src/queue/queue.ts';
import { freshDatabase, jobCount, testKinds } from '../helpers/fixtures.ts';

const blobKinds = () =>
  testKinds().register({ name: 'blob', payloadSchema: Type.Object({ data: Type.String() }), timeoutMs: 1_000, handler: () => undefined });

// A hang-guard far above the few seconds this takes: 600 MiB go through PostgreSQL.
test('600 concurrent 1 MiB enqueues are all accepted: coalesced statements are split by size', { timeout: 300_000 }, async () => {
  const db = await freshDatabase();
  const queue = new Queue({ pool: db.pool, kinds: blobKinds() });
  const data = 'x'.repeat(1_048_576); // one string shared by every payload: the test's own memory stays small
  // Each outcome is reduced at once (to its id), so that the jobs (each with its own copy of the payload) can go.
  const ids: string[] = [];
  const outcomes = await Promise.all(
    Array.from({ length: 600 }, () =>
      queue.enqueue({ kind: 'blob', payload: { data } }).then(
        (r) => (r.isNew && r.job.status === 'queued' ? (ids.push(r.job.id), 'ok') : 'not new'),
        (err: unknown) => (isJobqError(err) ? `${err.kind}: ${err.message}` : String(err)),
      ),
    ),
  );
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
  assert.deepEqual(counts, { ok: 600 });
  assert.equal(await jobCount(db.pool), 600);
  // Each job read back whole from whichever store holds it (as many at once as the pool has connections), reduced to its length.
  const lengths = await Promise.all(ids.map(async (id) => ((await queue.get(id))!.payload as { data: string }).data.length));
  assert.deepEqual([...new Set(lengths)], [1_048_576]);
});

test('a payload JSON cannot express fails its own enqueue only, never the ones coalesced with it', async () => {
  const db = await freshDatabase();
  const kinds = testKinds().register({ name: 'any', payloadSchema: Type.Any(), timeoutMs: 1_000, handler: () => undefined });
  const queue = new Queue({ pool: db.pool, kinds });
  const outcomes = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      queue.enqueue({ kind: 'any', payload: i === 10 ? { n: 10n } : { n: i } }).then(
        () => 'ok',
        (err: unknown) => (isJobqError(err) ? err.kind : String(err)),
      ),
    ),
  );
  assert.deepEqual(outcomes, outcomes.map((_, i) => (i === 10 ? 'payload_invalid' : 'ok')));
  await assert.rejects(queue.enqueueMany([{ kind: 'any', payload: {} }, { kind: 'any', payload: { n: 1n } }]), (e) => isJobqError(e, 'payload_invalid') && e.details?.[0]?.index === 1);
  assert.equal(await jobCount(db.pool), 19);
});
