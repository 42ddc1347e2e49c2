/**
 * The API over a Queue with the log store on (QueueOptions.logStore): a job it takes is created, read,
 * listed, cancelled, waited for (GET ?wait= ends when the log says it finished) and retried through
 * the same routes and answers as a row.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventHub } from '../../src/events/index.ts';
import { body, buildTestApp, eventually, freshQueue, listen, silent } from '../helpers/fixtures.ts';

test('a log job through the API: created, read, listed, waited for until its worker finishes it, cancelled and retried', { timeout: 30_000 }, async () => {
  const { queue, db } = await freshQueue({ logStore: true });
  const hub = new EventHub({ url: db.url, db: db.pool, logger: silent, reconcileMs: 100 });
  const { app } = await buildTestApp({ queue, hub });
  const base = await listen(app);
  const created = body(await app.inject({ method: 'POST', url: '/v1/jobs', payload: { kind: 'noop', payload: {}, queue: 'api' } }));
  assert.equal(created.status, 'queued');
  assert.equal((await db.pool.query('SELECT count(*)::int AS n FROM jobq.log WHERE id = $1', [created.id])).rows[0].n, 1, 'the log holds it');
  assert.deepEqual(body(await app.inject({ method: 'GET', url: `/v1/jobs/${created.id}` })), created);
  assert.deepEqual(body(await app.inject({ method: 'GET', url: '/v1/jobs?status=queued' })).jobs.map((j: { id: string }) => j.id), [created.id]);

  const answer = fetch(`${base}/v1/jobs/${created.id}?wait=110s`);
  await eventually(() => (hub.stats().knownStates >= 1 ? true : undefined), 10_000, 'the wait to begin');
  const [claim] = await queue.claim('w', { limit: 1 });
  assert.deepEqual(await queue.complete('w', [{ ...claim!, result: { ok: true } }]), [claim!.claimSeq]);
  const waited = await (await answer).json();
  assert.deepEqual([waited.status, waited.result, waited.attempts], ['succeeded', { ok: true }, 1]);

  const other = body(await app.inject({ method: 'POST', url: '/v1/jobs', payload: { kind: 'noop', payload: {} } }));
  assert.equal(body(await app.inject({ method: 'POST', url: `/v1/jobs/${other.id}/cancel` })).outcome, 'cancelled');
  const retried = body(await app.inject({ method: 'POST', url: `/v1/jobs/${other.id}/retry` }));
  assert.deepEqual([retried.status, retried.attempts], ['queued', 0]);
  assert.equal((await app.inject({ method: 'POST', url: `/v1/jobs/${other.id}/retry` })).statusCode, 409);
  await hub.close();
});
