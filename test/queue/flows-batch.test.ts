/**
 * Flows made in one batch (docs/flows.md): an entry names earlier entries as `#i`, so a whole flow is
 * created atomically; and every refusal of depends_on, with the field and the entry named.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isJobqError, JobqError } from '../../src/errors.ts';
import { MAX_DEPENDS_ON } from '../../src/limits.ts';
import { inTransaction } from '../../src/queue/db.ts';
import { insertFlows, type RowOutcome } from '../../src/queue/flows.ts';
import { insertWithParents } from '../../src/queue/statements/flows.ts';
import { newJobId } from '../../src/queue/ids.ts';
import type { EnqueueResult, NewJob } from '../../src/queue/types.ts';
import { prepareInsert } from '../../src/queue/validate.ts';
import { Type } from '@sinclair/typebox';
import { freshQueue, jobCount, testKinds } from '../helpers/fixtures.ts';
import { edges, finish, own, states } from '../helpers/flows.ts';
import { statementName } from '../helpers/statement-names.ts';

test('a fan-out and fan-in in one batch: #i names the entries, resolved to their ids, and the flow runs in order', async () => {
  const { queue, db } = await freshQueue();
  const batch: NewJob[] = [own(), own({ dependsOn: ['#0'] }), own({ dependsOn: ['#0'] }), own({ dependsOn: ['#0'], onParentFailure: 'run' }), own({ dependsOn: ['#1', '#2', '#3'] })];
  const jobs = (await queue.enqueueMany(batch)).map((r) => r.job);
  const [root, c1, c2, c3, summary] = jobs.map((j) => j.id) as [string, string, string, string, string];
  assert.deepEqual(jobs.map((j) => j.dependsOn), [null, [root], [root], [root], [c1, c2, c3]]);
  assert.deepEqual(jobs.map((j) => j.onParentFailure), [null, 'cancel', 'cancel', 'run', 'cancel']);
  assert.deepEqual(await states(db.pool, jobs.map((j) => j.id)), ['queued', 'waiting/1', 'waiting/1', 'waiting/1', 'waiting/3']);
  for (const j of jobs) assert.deepEqual(j, await queue.get(j.id), 'each job returned is the row stored');
  assert.equal(await edges(db.pool), 6);

  await finish(queue, root, 'succeed');
  assert.deepEqual(await states(db.pool, [c1, c2, c3, summary]), ['queued/0', 'queued/0', 'queued/0', 'waiting/3']);
  for (const c of [c3, c1]) await finish(queue, c, 'succeed');
  assert.deepEqual(await states(db.pool, [summary]), ['waiting/1']);
  await finish(queue, c2, 'succeed');
  assert.deepEqual(await states(db.pool, [summary]), ['queued/0']);
  assert.deepEqual((await queue.parents(summary)).map((p) => p.result), [{ from: c1 }, { from: c2 }, { from: c3 }]);
});

test('an entry may name an entry cancelled at once, a job given by id, and an entry answered by its idempotency key', async () => {
  const { queue, db } = await freshQueue();
  const failed = (await finish(queue, (await queue.enqueue(own())).job.id, 'fail')).id;
  const existing = (await queue.enqueue(own({ idempotencyKey: 'root' }))).job;
  const batch: NewJob[] = [
    own({ idempotencyKey: 'root' }), // answered by `existing`
    own({ dependsOn: [failed] }), // cancelled at once
    own({ dependsOn: ['#1'] }), // so is this, by its parent's policy
    own({ dependsOn: ['#1'], onParentFailure: 'run' }), // runnable at once
    own({ dependsOn: ['#0', failed], onParentFailure: 'run' }), // waits for `existing` alone
  ];
  const results = await queue.enqueueMany(batch);
  assert.deepEqual(results.map((r) => r.outcome), ['idempotent_replay', 'created', 'created', 'created', 'created']);
  assert.equal(results[0]!.job.id, existing.id);
  assert.deepEqual(results[4]!.job.dependsOn, [existing.id, failed]);
  assert.deepEqual(await states(db.pool, results.slice(1).map((r) => r.job.id)), ['cancelled/0', 'cancelled/0', 'queued/0', 'waiting/1']);
  assert.equal(results[2]!.job.lastError, `cancelled: parent ${results[1]!.job.id} ended cancelled`);
  await finish(queue, existing.id, 'succeed');
  assert.deepEqual(await states(db.pool, [results[4]!.job.id]), ['queued/0']);

  // The whole batch again with keys: the same jobs, no new edges.
  const keyed = batch.map((j, i) => ({ ...j, idempotencyKey: `k${i}` }));
  const first = await queue.enqueueMany(keyed);
  const edgesBefore = await edges(db.pool);
  const again = await queue.enqueueMany(keyed);
  assert.deepEqual(again.map((r) => [r.outcome, r.job.id]), first.map((r) => ['idempotent_replay', r.job.id]));
  assert.equal(await edges(db.pool), edgesBefore);
});

test('a job may wait for 1,000 parents (MAX_DEPENDS_ON), given by id or as every other entry of a batch', async () => {
  assert.ok(MAX_DEPENDS_ON >= 1000);
  const { queue, db } = await freshQueue();
  const parents = (await queue.enqueueMany(Array.from({ length: 1000 }, () => ({ kind: 'noop', payload: {} })))).map((r) => r.job.id);
  const child = (await queue.enqueue(own({ dependsOn: parents }))).job;
  assert.deepEqual(await states(db.pool, [child.id]), ['waiting/1000']);
  const batch: NewJob[] = [...Array.from({ length: 999 }, () => ({ kind: 'noop', payload: {} })), own({ dependsOn: Array.from({ length: 999 }, (_, i) => `#${i}`) })];
  const last = (await queue.enqueueMany(batch)).at(-1)!.job;
  assert.deepEqual(await states(db.pool, [last.id]), ['waiting/999']);
  assert.equal(await edges(db.pool), 1999);
});

/** The validation_failed error an enqueue fails with (asserting it is one), and its first detail. */
async function refusal(p: Promise<unknown>): Promise<{ message: string; path: string; index: number | undefined }> {
  const err = await p.then(() => assert.fail('accepted'), (e: unknown) => e);
  assert.ok(isJobqError(err, 'validation_failed'), String(err));
  const d = (err as JobqError).details![0]!;
  return { message: err.message, path: d.path, index: d.index as number | undefined };
}

test('refused with validation_failed naming the field and the entry: forward, self and out-of-range #i, unknown ids, and the rest', async () => {
  const { queue, db } = await freshQueue();
  const parent = (await queue.enqueue(own())).job.id;
  const unknown = '01948f6e-5b2a-7c3d-9e4f-0a1b2c3d4e5f';
  const batch = (...deps: (string[] | undefined)[]) => queue.enqueueMany(deps.map((d) => own(d ? { dependsOn: d } : {})));
  // [the enqueue, the path refused, the batch entry named (undefined: a single job), the message]
  const cases: [() => Promise<unknown>, string, number | undefined, RegExp][] = [
    [() => batch(undefined, ['#2'], undefined), '/depends_on/0', 1, /earlier entry of the batch \(#0 to #0\)/],
    [() => batch(undefined, [parent, '#1']), '/depends_on/1', 1, /earlier entry/],
    [() => batch(undefined, ['#7']), '/depends_on/0', 1, /earlier entry/],
    [() => queue.enqueue(own({ dependsOn: ['#0'] })), '/depends_on/0', undefined, /only earlier entries/],
    [() => batch(['#0']), '/depends_on/0', 0, /only earlier entries/],
    [() => batch(undefined, ['#01']), '/depends_on/0', 1, /job id, or #i/],
    [() => queue.enqueue(own({ dependsOn: ['not-a-job'] })), '/depends_on/0', undefined, /job id, or #i/],
    [() => queue.enqueue(own({ dependsOn: [parent, unknown] })), '/depends_on/1', undefined, new RegExp(`no job with id ${unknown}`)],
    [() => batch(undefined, ['#0', unknown]), '/depends_on/1', 1, /does not exist/],
    [() => queue.enqueue(own({ dependsOn: [parent, parent.toUpperCase()] })), '/depends_on/1', undefined, /twice/],
    [() => queue.enqueue(own({ dependsOn: [] })), '/depends_on', undefined, /1 to 1000/],
    [() => queue.enqueue(own({ dependsOn: Array.from({ length: MAX_DEPENDS_ON + 1 }, () => parent) })), '/depends_on', undefined, /1 to 1000/],
    [() => queue.enqueue(own({ dependsOn: [parent], singletonKey: 's' })), '/depends_on', undefined, /singleton_key/],
    [() => queue.enqueue(own({ dependsOn: [parent], debounceKey: 'd', debounceMs: 10 })), '/depends_on', undefined, /debounce_key/],
    [() => queue.enqueue(own({ onParentFailure: 'run' })), '/on_parent_failure', undefined, /needs depends_on/],
    [() => queue.enqueue(own({ dependsOn: [parent], onParentFailure: 'ignore' as 'run' })), '/on_parent_failure', undefined, /cancel, run/],
  ];
  for (const [enqueue, path, index, message] of cases) {
    const r = await refusal(enqueue());
    assert.equal(r.path, path, r.message);
    if (index !== undefined) assert.equal(r.index, index, `${r.message}: the entry is named`);
    assert.match(r.message, message);
  }
  assert.equal(await jobCount(db.pool), 1, 'nothing of a refused batch was inserted');
  assert.equal(await edges(db.pool), 0);
});

test('inside the caller\'s transaction: the flow is the caller\'s, rolled back with it', async () => {
  const { queue, db } = await freshQueue();
  const parent = (await queue.enqueue(own())).job.id;
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN');
    const [, child] = await queue.enqueueMany([own(), own({ dependsOn: [parent, '#0'] })], { db: client });
    assert.equal(child!.job.status, 'waiting');
    await client.query('ROLLBACK');
  } finally {
    client.release();
  }
  assert.equal(await jobCount(db.pool), 1);
  assert.equal(await edges(db.pool), 0);
  await finish(queue, parent, 'succeed'); // has_children went with the rollback; nothing to settle either way
  assert.equal((await queue.get(parent))!.status, 'succeeded');
});

test('rows go in statements of bounded size; an entry whose payload is not JSON fails the batch, named', async () => {
  const kinds = testKinds().register({ name: 'any', payloadSchema: Type.Unknown(), handler: () => undefined });
  // Rows: insertFlows takes the batch's parents (#i) as rows, which the enqueue routes them to; entry 0 enqueued alone here must be one.
  const { queue, db } = await freshQueue({ kinds, logStore: false });
  const parent = (await queue.enqueue(own())).job.id;
  // Statements of at most ~300 characters: each row goes alone, and the flow is the same.
  const rows = [0, 1, 2].map((i) => prepareInsert(own({ payload: { sleep_ms: i } }), i, newJobId(), queue.kinds));
  const refs = [null, { refs: [parent, 0], policy: 'cancel' as const }, { refs: [0], policy: 'run' as const }];
  let inserts = 0;
  const out = await inTransaction(db.pool, async (tx) => {
    const counted = { query: ((config: { name?: string }, ...rest: unknown[]) => {
      if (statementName(config) === insertWithParents.name) inserts++;
      return (tx.query as (...a: unknown[]) => unknown)(config, ...rest);
    }) as typeof tx.query };
    const done: RowOutcome[] = [];
    done[0] = { job: (await queue.enqueue(own(), { db: tx })).job, isNew: true, outcome: 'created' };
    rows[0]!.id = (done[0] as EnqueueResult).job.id;
    await insertFlows(counted, rows, refs, done, { maxChars: 300, notify: false, wake: new Set(), now: null });
    return done as EnqueueResult[];
  });
  assert.equal(inserts, 2, 'two statements for two rows that could have gone in one');
  assert.deepEqual(out.map((r) => r.job.dependsOn), [null, [parent, out[0]!.job.id], [out[0]!.job.id]]);
  assert.deepEqual(await states(db.pool, out.map((r) => r.job.id)), ['queued', 'waiting/2', 'waiting/1']);

  const bad = await queue.enqueueMany([own(), own({ kind: 'any', dependsOn: ['#0'], payload: { n: 10n } })]).then(() => assert.fail('accepted'), (e: unknown) => e);
  assert.ok(isJobqError(bad, 'payload_invalid'), String(bad));
  assert.equal(bad.details?.[0]?.index, 1);
  assert.equal(await jobCount(db.pool), 4);
});
