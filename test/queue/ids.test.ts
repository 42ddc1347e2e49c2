/** Job ids (no database): UUIDv7 whose order is the order they were made in, from a pooled random source. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validate, version } from 'uuid';
import { newJobId } from '../../src/queue/ids.ts';

test('ids are valid UUIDv7 and strictly increase across many calls, pool refills and milliseconds', () => {
  const ids: string[] = [];
  const until = Date.now() + 5; // spans at least a few milliseconds, and many 256-id pool refills
  while (Date.now() < until || ids.length < 5_000) ids.push(newJobId());
  for (const id of ids) {
    assert.ok(validate(id), id);
    assert.equal(version(id), 7);
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  }
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i - 1]! < ids[i]!, `id ${i} does not follow id ${i - 1}: ${ids[i - 1]} ${ids[i]}`);
});

test("an id carries the time it was made in its first 48 bits, and fresh randomness in its last 62", () => {
  const before = Date.now();
  const a = newJobId();
  const after = Date.now();
  const ms = parseInt(a.replace(/-/g, '').slice(0, 12), 16);
  // The counter may have borrowed a millisecond ahead; never more than a few in a test.
  assert.ok(ms >= before && ms <= after + 5, `${ms} not within [${before}, ${after}]`);
  const tails = new Set(Array.from({ length: 1_000 }, () => newJobId().slice(-12)));
  assert.equal(tails.size, 1_000, 'the random tail repeated: the pool handed out the same bytes twice');
});
