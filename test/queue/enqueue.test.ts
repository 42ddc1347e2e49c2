/** Enqueue beyond the seed: conflicts, races, batches, caller transactions, envelope checks. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Type } from '@sinclair/typebox';
import pg from 'pg';
import { isJobqError, type JobqError } from '../../src/errors.ts';
import { KindRegistry } from '../../src/kinds/registry.ts';
import { insertRouted } from '../../src/queue/log/statements.ts';
import { Queue } from '../../src/queue/queue.ts';
import type { EnqueueResult, NewJob } from '../../src/queue/types.ts';
import { freshQueue, jobCount as count, testKinds, emailJob as email } from '../helpers/fixtures.ts';
import { statementName } from '../helpers/statement-names.ts';

test('the same key with another payload or kind is an idempotency_conflict and changes nothing', async () => {
  const { queue, db } = await freshQueue();
  const first = await queue.enqueue(email({ idempotencyKey: 'k1' }));
  await assert.rejects(queue.enqueue(email({ idempotencyKey: 'k1', payload: { to: 'x@y.z', subject: 'hi', body: 'hello' } })), (err) => {
    assert.ok(isJobqError(err, 'idempotency_conflict'));
    assert.equal(err.details?.[0]?.job_id, first.job.id);
    return true;
  });
  await assert.rejects(queue.enqueue({ kind: 'summarize_text', payload: { text: 'x' }, idempotencyKey: 'k1' }), (err) =>
    isJobqError(err, 'idempotency_conflict'),
  );
  assert.equal(await count(db.pool), 1);
});

test('payload key order does not make a conflict (jsonb equality)', async () => {
  const { queue } = await freshQueue();
  const a = await queue.enqueue({ kind: 'send_email', payload: { to: 'a@b.c', subject: 's', body: 'b' }, idempotencyKey: 'order' });
  const b = await queue.enqueue({ kind: 'send_email', payload: { body: 'b', subject: 's', to: 'a@b.c' }, idempotencyKey: 'order' });
  assert.equal(b.isNew, false);
  assert.equal(b.job.id, a.job.id);
});

test('the same key from 20 connections at the same instant: one job, 19 replays, no error', async () => {
  const { queue, db } = await freshQueue();
  // 20 separate pools, so the 20 inserts really travel over 20 connections at once.
  const pools = Array.from({ length: 20 }, () => new pg.Pool({ connectionString: db.url, max: 1 }).on('error', () => {}));
  try {
    const queues = pools.map((pool) => new Queue({ pool, kinds: testKinds() }));
    await Promise.all(pools.map((p) => p.query('SELECT 1'))); // connect first, so the inserts start together
    const results = await Promise.all(queues.map((q) => q.enqueue(email({ idempotencyKey: 'race' }))));
    assert.equal(results.filter((r) => r.isNew).length, 1);
    assert.equal(new Set(results.map((r) => r.job.id)).size, 1);
    assert.equal(await count(db.pool), 1);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
  }
  assert.ok(queue);
});

test('unknown kind is unknown_kind; a bad envelope is validation_failed naming the field', async () => {
  const { queue, db } = await freshQueue();
  await assert.rejects(queue.enqueue({ kind: 'nope', payload: {} }), (err) => isJobqError(err, 'unknown_kind'));
  const cases: [Partial<NewJob>, string][] = [
    [{ maxAttempts: 0 }, '/max_attempts'],
    [{ maxAttempts: 1.5 }, '/max_attempts'],
    [{ priority: 2 ** 40 }, '/priority'],
    [{ queue: '' }, '/queue'],
    [{ queue: 'a b' }, '/queue'],
    [{ runAt: new Date(), delayMs: 5 }, '/run_at'],
    [{ runAt: new Date('nonsense') }, '/run_at'],
    [{ delayMs: -1 }, '/delay_ms'],
    [{ timeoutMs: 0 }, '/timeout_ms'],
    [{ idempotencyKey: '' }, '/idempotency_key'],
    [{ idempotencyKey: 'x'.repeat(256) }, '/idempotency_key'],
  ];
  for (const [extra, path] of cases) {
    await assert.rejects(queue.enqueue(email(extra)), (err: JobqError) => {
      assert.equal(err.kind, 'validation_failed', JSON.stringify(extra));
      assert.equal(err.details?.[0]?.path, path);
      return true;
    });
  }
  assert.equal(await count(db.pool), 0);
});

test('payload_invalid details name the offending fields', async () => {
  const { queue } = await freshQueue();
  await assert.rejects(queue.enqueue({ kind: 'send_email', payload: { to: 'not-an-email', subject: 'x' } }), (err: JobqError) => {
    assert.equal(err.kind, 'payload_invalid');
    const paths = err.details!.map((d) => d.path).sort();
    assert.deepEqual(paths, ['/payload/body', '/payload/to']);
    return true;
  });
});

test('delay_ms and run_at set when the job becomes runnable; priority and queue are kept', async () => {
  const now = new Date('2030-06-01T12:00:00Z');
  const { queue } = await freshQueue({ clock: () => now });
  const delayed = await queue.enqueue(email({ delayMs: 1500, priority: 7, queue: 'mail' }));
  assert.equal(delayed.job.runAt.getTime(), now.getTime() + 1500);
  assert.equal(delayed.job.priority, 7);
  assert.equal(delayed.job.queue, 'mail');
  const at = new Date('2030-06-02T00:00:00Z');
  assert.equal((await queue.enqueue(email({ runAt: at }))).job.runAt.getTime(), at.getTime());
  assert.equal((await queue.enqueue(email())).job.runAt.getTime(), now.getTime());
});

test('the job an enqueue returns is the row it stored, column for column, whatever the envelope', async () => {
  const kinds = new KindRegistry([{ name: 'anything', payloadSchema: Type.Any(), handler: () => {} }]);
  const { queue } = await freshQueue({ kinds });
  const at = new Date('2031-02-03T04:05:06.789Z');
  const payloads: unknown[] = [{ b: 1, a: [1, 'x', null] }, 'text', 42.5, null, [], { nested: { deep: true }, when: new Date(0), gone: undefined }];
  const cases: NewJob[] = [
    ...payloads.map((payload) => ({ kind: 'anything', payload })),
    { kind: 'anything', payload: {}, queue: 'q1', priority: -3, maxAttempts: 9, timeoutMs: 1234, idempotencyKey: 'k1' },
    { kind: 'anything', payload: {}, runAt: at },
    { kind: 'anything', payload: {}, delayMs: 86_400_000 },
  ];
  const check = async (results: EnqueueResult[]) => {
    for (const r of results) {
      assert.equal(r.isNew, true);
      assert.deepEqual(r.job, await queue.get(r.job.id), JSON.stringify(r.job));
    }
  };
  await check(await Promise.all(cases.map((c) => queue.enqueue({ ...c, idempotencyKey: c.idempotencyKey && `${c.idempotencyKey}-single` }))));
  await check(await queue.enqueueMany(cases));
  const replayed = await queue.enqueue(cases[payloads.length]!);
  assert.equal(replayed.isNew, false);
  assert.deepEqual(replayed.job, await queue.get(replayed.job.id));
  assert.equal((await queue.get((await queue.enqueue({ kind: 'anything', payload: {}, runAt: at })).job.id))?.runAt.getTime(), at.getTime());
});

test('ids are UUID v7 and sort by creation', async () => {
  const { queue } = await freshQueue();
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await queue.enqueue(email())).job.id);
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.deepEqual([...ids].sort(), ids);
});

test('enqueueMany inserts in input order, all or nothing', async () => {
  const { queue, db } = await freshQueue();
  const jobs = Array.from({ length: 1000 }, (_, i) => ({ kind: 'noop', payload: { sleep_ms: i } }));
  const out = await queue.enqueueMany(jobs);
  assert.equal(out.length, 1000);
  out.forEach((r, i) => assert.deepEqual(r.job.payload, { sleep_ms: i }));
  assert.equal(await count(db.pool), 1000);

  const bad = [email(), email(), { kind: 'send_email', payload: { to: 'a@b.c' } }];
  await assert.rejects(queue.enqueueMany(bad), (err: JobqError) => {
    assert.equal(err.kind, 'payload_invalid');
    assert.equal(err.details?.[0]?.index, 2);
    return true;
  });
  await assert.rejects(queue.enqueueMany([]), (err) => isJobqError(err, 'validation_failed'));
  await assert.rejects(queue.enqueueMany(Array.from({ length: 1001 }, () => email())), (err) => isJobqError(err, 'validation_failed'));
  assert.equal(await count(db.pool), 1000);
});

test('enqueueMany with keys: replays resolve to the existing job; a conflict rolls the whole batch back', async () => {
  const { queue, db } = await freshQueue();
  const existing = await queue.enqueue(email({ idempotencyKey: 'a' }));
  const out = await queue.enqueueMany([email(), email({ idempotencyKey: 'a' }), email({ idempotencyKey: 'b' }), email({ idempotencyKey: 'b' })]);
  assert.deepEqual(out.map((r) => r.isNew), [true, false, true, false]);
  assert.equal(out[1]!.job.id, existing.job.id);
  assert.equal(out[3]!.job.id, out[2]!.job.id);
  assert.equal(await count(db.pool), 3);

  const conflicting = [email({ idempotencyKey: 'c' }), email(), { kind: 'summarize_text', payload: { text: 't' }, idempotencyKey: 'a' }];
  await assert.rejects(queue.enqueueMany(conflicting), (err: JobqError) => {
    assert.equal(err.kind, 'idempotency_conflict');
    assert.equal(err.details?.[0]?.index, 2);
    return true;
  });
  assert.equal(await count(db.pool), 3, 'nothing of the failed batch stays');
});

test("enqueue inside the caller's transaction commits and rolls back with it", async () => {
  const { queue, db } = await freshQueue();
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const { job } = await queue.enqueue(email(), { db: client });
    assert.equal(await queue.get(job.id), null, 'not visible outside the transaction yet');
    await client.query('ROLLBACK');
    assert.equal(await queue.get(job.id), null);

    await client.query('BEGIN');
    const kept = await queue.enqueue(email(), { db: client });
    await client.query('COMMIT');
    assert.equal((await queue.get(kept.job.id))?.status, 'queued');
  } finally {
    client.release();
  }
});

test('enqueue emits an enqueued event per job with isNew', async () => {
  const { queue } = await freshQueue();
  const seen: boolean[] = [];
  queue.events.on('enqueued', (e) => seen.push(e.isNew));
  await queue.enqueue(email({ idempotencyKey: 'e' }));
  await queue.enqueue(email({ idempotencyKey: 'e' }));
  await queue.enqueueMany([email(), email()]);
  assert.deepEqual(seen, [true, false, true, true]);
});

test('several entries of one batch with the same key must all match the existing job', async () => {
  const { queue, db } = await freshQueue();
  await queue.enqueue(email({ idempotencyKey: 'dup' }));
  const other = email({ idempotencyKey: 'dup', payload: { to: 'x@y.z', subject: 'other', body: 'b' } });
  for (const batch of [[email({ idempotencyKey: 'dup' }), other], [other, email({ idempotencyKey: 'dup' })]]) {
    await assert.rejects(queue.enqueueMany(batch), (err) => isJobqError(err, 'idempotency_conflict'));
  }
  await assert.rejects(queue.enqueueMany([email(), other, email({ idempotencyKey: 'fresh' }), { ...other, idempotencyKey: 'fresh' }]), (err) =>
    isJobqError(err, 'idempotency_conflict'),
  );
  assert.equal(await count(db.pool), 1);
});

test('concurrent single enqueues share statements, and each caller gets its own outcome', async () => {
  const { db } = await freshQueue();
  let inserts = 0;
  const query = db.pool.query.bind(db.pool) as (...a: unknown[]) => Promise<unknown>;
  (db.pool as unknown as { query: unknown }).query = (...a: unknown[]) => {
    // The row store's insert, or the log store's routed one (its text: statementName knows src/queue/statements/ only).
    if (statementName(a[0]) === 'jobq_insert' || (a[0] as { text?: string } | undefined)?.text === insertRouted.text) inserts++;
    return query(...a);
  };
  const queue = new Queue({ pool: db.pool, kinds: testKinds() });
  await queue.enqueue(email({ idempotencyKey: 'taken' }));
  inserts = 0;
  const calls = Array.from({ length: 200 }, (_, i) =>
    i === 50
      ? queue.enqueue(email({ idempotencyKey: 'taken', payload: { to: 'x@y.z', subject: 'other', body: 'b' } }))
      : i === 60
        ? queue.enqueue(email({ idempotencyKey: 'taken' }))
        : queue.enqueue(email()),
  );
  const settled = await Promise.allSettled(calls);
  const rejected = settled.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
  assert.deepEqual(rejected, [50], 'only the conflicting call fails');
  const conflict = (settled[50] as PromiseRejectedResult).reason as JobqError;
  assert.equal(conflict.kind, 'idempotency_conflict');
  assert.equal(conflict.details?.[0]?.index, undefined, 'a single enqueue has no batch index');
  const replay = (settled[60] as PromiseFulfilledResult<{ isNew: boolean }>).value;
  assert.equal(replay.isNew, false);
  const ids = settled.flatMap((r, i) => (r.status === 'fulfilled' && i !== 60 ? [r.value.job.id] : []));
  assert.equal(new Set(ids).size, 198);
  assert.equal(await count(db.pool), 199);
  assert.ok(inserts < 100, `200 calls went in ${inserts} statements`);
});
