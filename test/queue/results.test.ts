/**
 * Issue #14, item 3: results and error texts PostgreSQL would refuse (U+0000, lone surrogates), huge or
 * not JSON at all, are stored altered and marked; one such row never fails the rest of its batch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALTERED, ERROR_TEXT_NOTE, MAX_RESULT_CHARS, RESULT_EXCERPT_CHARS, resultJson, storableText } from '../../src/queue/results.ts';
import { freshQueue, succeed } from '../helpers/fixtures.ts';

const parse = (v: unknown): any => JSON.parse(resultJson(v)!);

test('storable results: untouched when clean, marked and cleaned when not', () => {
  assert.equal(resultJson(undefined), undefined);
  assert.equal(resultJson(() => 1), undefined, 'a function is no result, as JSON.stringify says');
  const clean = { status: 200, text: 'tab\tand \u001b[1m escape', nested: ['\\u0000 is only text here'] };
  assert.equal(resultJson(clean), JSON.stringify(clean), 'control characters and a literal backslash-u stay as they are');
  assert.equal(resultJson('plain'), '"plain"');

  assert.deepEqual(parse({ status: 200, body: 'a\0b', ['k\0']: 1 }), {
    [ALTERED]: { reasons: ['nul_replaced'] },
    status: 200,
    body: 'a\uFFFDb',
    'k\uFFFD': 1,
  });
  assert.deepEqual(parse(['\ud800x', 'fine \ud83d\ude00']), { [ALTERED]: { reasons: ['unpaired_surrogate_replaced'] }, value: ['\uFFFDx', 'fine \ud83d\ude00'] });
  assert.deepEqual(parse('\0'), { [ALTERED]: { reasons: ['nul_replaced'] }, value: '\uFFFD' });
  assert.deepEqual(parse({ [ALTERED]: 'mine', x: '\0' }), { [ALTERED]: { reasons: ['nul_replaced'] }, value: { [ALTERED]: 'mine', x: '\uFFFD' } });

  const big = parse({ text: 'x'.repeat(MAX_RESULT_CHARS) });
  assert.deepEqual(big[ALTERED], { reasons: ['too_large'], original_chars: MAX_RESULT_CHARS + 11 });
  assert.equal(big.excerpt.length, RESULT_EXCERPT_CHARS);
  assert.ok(big.excerpt.startsWith('{"text":"xxx'));

  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  for (const v of [cyclic, { n: 1n }]) {
    const r = parse(v);
    assert.deepEqual(r[ALTERED].reasons, ['not_json']);
    assert.match(r[ALTERED].error, /TypeError/);
  }
});

test('storable error texts: NUL replaced and noted, length bounded', () => {
  assert.equal(storableText('boom', 100), 'boom');
  assert.equal(storableText('a\0b', 100), `a\uFFFDb${ERROR_TEXT_NOTE}`);
  const long = storableText(`${'y'.repeat(200)}\0`, 100);
  assert.equal(long.length, 100);
  assert.ok(long.endsWith(`…${ERROR_TEXT_NOTE}`));
});

test('one unstorable result does not fail its batch: every job is completed, each result stored', async () => {
  const { queue } = await freshQueue();
  await queue.enqueueMany(Array.from({ length: 101 }, () => ({ kind: 'noop', payload: {} })));
  const claimed = await queue.claim('w', { limit: 101 });
  assert.equal(claimed.length, 101);
  const png = { status: 200, body_excerpt: '\uFFFDPNG\r\n\u001a\n\0\0\0\rIHDR' };
  const items = claimed.map((j, i) => ({ id: j.id, claimSeq: j.claimSeq, result: i === 50 ? png : { slept_ms: 0, i } }));
  const done = await queue.complete('w', items);
  assert.equal(done.length, 101, 'the whole batch is completed');
  for (const [i, j] of claimed.entries()) {
    const stored = (await queue.get(j.id))!;
    assert.equal(stored.status, 'succeeded');
    if (i === 50) assert.deepEqual(stored.result, { [ALTERED]: { reasons: ['nul_replaced'] }, status: 200, body_excerpt: '\uFFFDPNG\r\n\u001a\n\uFFFD\uFFFD\uFFFD\rIHDR' });
    else assert.deepEqual(stored.result, { slept_ms: 0, i });
  }
});

test('a row the database still refuses is stored as a placeholder; the rest of the batch as it was', async () => {
  const { queue, db } = await freshQueue({ logStore: false }); // the row store's completion (the log store's: the next test)
  // A rule of this database's own that cleaning cannot know about: it refuses one result.
  await db.pool.query(`ALTER TABLE jobq.jobs ADD CONSTRAINT test_no_poison CHECK (result IS NULL OR NOT result ? 'poison')`);
  await queue.enqueueMany(Array.from({ length: 20 }, () => ({ kind: 'noop', payload: {} })));
  const claimed = await queue.claim('w', { limit: 20 });
  const done = await queue.complete('w', claimed.map((j, i) => ({ id: j.id, claimSeq: j.claimSeq, result: i === 7 ? { poison: true } : i % 2 === 0 ? { i } : undefined })));
  assert.equal(done.length, 20);
  const { rows } = await db.pool.query<{ id: string; status: string; result: any }>('SELECT id, status, result FROM jobq.jobs');
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const [i, j] of claimed.entries()) {
    const r = byId.get(j.id)!;
    assert.equal(r.status, 'succeeded');
    if (i === 7) {
      assert.deepEqual(r.result[ALTERED].reasons, ['rejected_by_database']);
      assert.match(r.result[ALTERED].error, /test_no_poison/);
    } else assert.deepEqual(r.result, i % 2 === 0 ? { i } : null);
  }
});

test('with the log store: a result the database refuses is stored as a placeholder; the rest of the batch as it was, each completed once', async () => {
  const { queue, db } = await freshQueue({ logStore: true });
  await db.pool.query(`ALTER TABLE jobq.log_done ADD CONSTRAINT test_no_poison CHECK (results IS NULL OR NOT results @> '[{"poison": true}]')`);
  await queue.enqueueMany(Array.from({ length: 20 }, () => ({ kind: 'noop', payload: {} })));
  const claimed = await queue.claim('w', { limit: 20 });
  assert.equal(claimed.length, 20);
  assert.ok(claimed.every((j) => j.claimSeq < 0), 'all of the log');
  const done = await queue.complete('w', claimed.map((j, i) => ({ id: j.id, claimSeq: j.claimSeq, result: i === 7 ? { poison: true } : i % 2 === 0 ? { i } : undefined })));
  assert.deepEqual(done.sort(), claimed.map((j) => j.claimSeq).sort(), 'every claim completed once');
  for (const [i, j] of claimed.entries()) {
    const job = (await queue.get(j.id))!;
    assert.equal(job.status, 'succeeded');
    if (i === 7) {
      assert.deepEqual((job.result as Record<string, any>)[ALTERED].reasons, ['rejected_by_database']);
      assert.match((job.result as Record<string, any>)[ALTERED].error, /test_no_poison/);
    } else assert.deepEqual(job.result, i % 2 === 0 ? { i } : null);
  }
});

test('a failure whose error text holds NUL is recorded, not refused', async () => {
  const { queue } = await freshQueue();
  const [failing, succeeding] = await queue.enqueueMany([{ kind: 'noop', payload: {}, maxAttempts: 2 }, { kind: 'noop', payload: {} }]);
  const claimed = await queue.claim('w', { limit: 2 });
  assert.equal(claimed.length, 2);
  const after = await queue.markFailedOrRetry(failing!.job.id, new Error('bad byte \0 here'), { workerId: 'w' });
  assert.equal(after.status, 'retrying');
  assert.ok(after.lastError!.includes(`bad byte \uFFFD here`));
  assert.ok(after.lastError!.endsWith(ERROR_TEXT_NOTE));
  assert.equal(after.errors.length, 1);
  const done = await succeed(queue, 'w', claimed.find((j) => j.id === succeeding!.job.id)!, 'ok\0');
  assert.deepEqual(done.result, { [ALTERED]: { reasons: ['nul_replaced'] }, value: 'ok\uFFFD' });
});
