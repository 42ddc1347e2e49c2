/**
 * Tests of the `noop` kind: payload validation, the zero-sleep fast path, sleeping, and prompt
 * rejection with the abort reason (no lingering timer).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { builtinKinds, noopKind } from '../../src/kinds/index.ts';
import { KindRegistry } from '../../src/kinds/registry.ts';
import { isJobqError } from '../../src/errors.ts';
import { fakeCtx } from '../helpers/fixtures.ts';

describe('noop kind', () => {
  const registry = new KindRegistry(builtinKinds({ outboxDir: '/nonexistent', httpAllowHosts: [] }));

  it('validates its payload', () => {
    registry.validate('noop', {});
    registry.validate('noop', { sleep_ms: 0 });
    registry.validate('noop', { sleep_ms: 86_400_000 });
    for (const bad of [{ sleep_ms: -1 }, { sleep_ms: 1.5 }, { sleep_ms: 86_400_001 }, { sleep_ms: '5' }, { nap: 1 }, null, []]) {
      assert.throws(
        () => registry.validate('noop', bad),
        (e) => isJobqError(e, 'payload_invalid'),
        JSON.stringify(bad),
      );
    }
    assert.throws(
      () => registry.validate('noop', { extra: true }),
      (e) => isJobqError(e, 'payload_invalid') && e.details?.some((d) => d.path === '/payload/extra') === true,
    );
  });

  it('has defaults that let the longest sleep finish', () => {
    const kind = registry.get('noop');
    assert.ok(kind);
    assert.ok(kind.timeoutMs > 86_400_000);
    assert.equal(kind.defaultMaxAttempts, 3);
  });

  it('returns at once with sleep_ms 0 or absent', async () => {
    assert.deepEqual(await noopKind.handler({}, fakeCtx()), { slept_ms: 0 });
    assert.deepEqual(await noopKind.handler({ sleep_ms: 0 }, fakeCtx()), { slept_ms: 0 });
  });

  it('sleeps for sleep_ms', async () => {
    const started = performance.now();
    assert.deepEqual(await noopKind.handler({ sleep_ms: 40 }, fakeCtx()), { slept_ms: 40 });
    assert.ok(performance.now() - started >= 35, 'returned too early');
  });

  it('rejects promptly with the abort reason', async () => {
    const controller = new AbortController();
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const pending = Promise.resolve(noopKind.handler({ sleep_ms: 60_000 }, fakeCtx({ controller })));
    let settled = false;
    pending.catch(() => (settled = true));
    const reason = new Error('cancelled by test');
    setImmediate(() => controller.abort(reason));
    await new Promise((r) => setImmediate(r)); // runs right after the abort
    assert.ok(settled, 'rejected at the abort, not at some later turn of the event loop');
    await assert.rejects(pending, (e) => e === reason);
    assert.equal(timers(), before, 'the sleep timer was left running');
  });

  it('rejects with the reason when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort('shutdown');
    await assert.rejects(async () => noopKind.handler({ sleep_ms: 0 }, fakeCtx({ controller })), (e) => e === 'shutdown');
    await assert.rejects(async () => noopKind.handler({ sleep_ms: 10 }, fakeCtx({ controller })), (e) => e === 'shutdown');
  });
});
