/** execute() and JobAbort on their own: the signal made on demand, the synchronous fast path, the grace period. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HandlerContext } from '../../src/kinds/registry.ts';
import { execute, JobAbort, JobCancelledError, JobTimeoutError } from '../../src/worker/execute.ts';

const ctxOf = (abort: JobAbort) => ({ get signal() { return abort.signal; } }) as HandlerContext;

test('a signal first read after the abort starts out aborted, with the reason', () => {
  const abort = new JobAbort();
  const reason = new JobCancelledError();
  abort.abort(reason);
  abort.abort(new JobTimeoutError(5)); // the first reason stays
  assert.equal(abort.signal.aborted, true);
  assert.equal(abort.signal.reason, reason);
});

test('a signal read before the abort is aborted by it, listeners called', () => {
  const abort = new JobAbort();
  const seen: unknown[] = [];
  abort.signal.addEventListener('abort', () => seen.push(abort.signal.reason));
  const reason = new JobCancelledError();
  abort.abort(reason);
  assert.deepEqual(seen, [reason]);
});

test('a synchronous handler settles with its value or its throw; an async one that ignores its timeout is abandoned after the grace', async () => {
  const abort = new JobAbort();
  // Settled on the spot: a plain value, not a promise (nothing queued per job).
  assert.deepEqual(execute({ handler: () => 42, payload: {}, ctx: ctxOf(abort), abort, timeoutMs: 10, graceMs: 10 }), { ok: true, value: 42 });
  const boom = new Error('boom');
  const thrown = execute({ handler: () => { throw boom; }, payload: {}, ctx: ctxOf(abort), abort, timeoutMs: 10, graceMs: 10 });
  assert.deepEqual(thrown, { ok: false, error: boom, reason: undefined, abandoned: false });
  assert.ok(execute({ handler: async () => 1, payload: {}, ctx: ctxOf(abort), abort, timeoutMs: 10, graceMs: 10 }) instanceof Promise);

  const stubborn = new JobAbort();
  const t0 = Date.now();
  const s = await execute({ handler: () => new Promise(() => {}), payload: {}, ctx: ctxOf(stubborn), abort: stubborn, timeoutMs: 30, graceMs: 30 });
  assert.equal(s.ok, false);
  assert.ok(!s.ok && s.abandoned && s.reason instanceof JobTimeoutError);
  assert.ok(Date.now() - t0 >= 55, 'timeout, then the grace');

  const polite = new JobAbort();
  const settled = await execute({
    handler: (_p, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
    payload: {}, ctx: ctxOf(polite), abort: polite, timeoutMs: 20, graceMs: 60_000,
  });
  assert.ok(!settled.ok && !settled.abandoned && settled.reason instanceof JobTimeoutError, 'stopped on its signal, not abandoned');
});
